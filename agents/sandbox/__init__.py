"""The sandbox in which the code agent runs untrusted, model-written code."""

from ._probe import isolation_unavailable
from ._sandbox import Sandbox
from ._types import ExecutionResult, ProducedFile, SandboxError, SandboxLimits

__all__ = [
    "ExecutionResult",
    "ProducedFile",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "isolation_unavailable",
]
