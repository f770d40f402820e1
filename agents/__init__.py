"""relay's specialized agents (image, code, file) and their tools.

The names below are imported on first use (PEP 562 ``__getattr__``): the ``relay.agents``
entry points name ``agent_relay.agents:ImageAgent`` and the like, and ``relay agents`` lists
them without importing the openai SDK or aiohttp (the image backends and the downloader are
imported where they are built). Type checkers read the names from the ``TYPE_CHECKING``
block; ``tests/cli/test_startup.py`` keeps it and the table in step.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from loguru import logger as _logger

if TYPE_CHECKING:
    from ._base import AgentStepError, ArtifactLog, AssistantAgent, step_prompt
    from ._download import Downloader, DownloadError, DownloadResult
    from ._workspace import AtomicFile, FileInfo, Workspace, WorkspaceError
    from .code._agent import CodeAgent
    from .file._agent import FileAgent
    from .image import (
        GeneratedImage,
        ImageBackend,
        ImageGenerationError,
        OfflineImageBackend,
        OpenAIImageBackend,
        ReplicateImageBackend,
        image_backend_from_config,
    )
    from .image._agent import ImageAgent, default_image_backend
    from .sandbox._sandbox import Sandbox
    from .sandbox._types import ExecutionResult, ProducedFile, SandboxError, SandboxLimits

# name -> the module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(["AgentStepError", "ArtifactLog", "AssistantAgent", "step_prompt"], "._base"),
    **dict.fromkeys(["Downloader", "DownloadError", "DownloadResult"], "._download"),
    **dict.fromkeys(["AtomicFile", "FileInfo", "Workspace", "WorkspaceError"], "._workspace"),
    "CodeAgent": ".code._agent",
    "FileAgent": ".file._agent",
    **dict.fromkeys(
        [
            "GeneratedImage",
            "ImageBackend",
            "ImageGenerationError",
            "OfflineImageBackend",
            "OpenAIImageBackend",
            "ReplicateImageBackend",
            "image_backend_from_config",
        ],
        ".image",
    ),
    **dict.fromkeys(["ImageAgent", "default_image_backend"], ".image._agent"),
    "Sandbox": ".sandbox._sandbox",
    **dict.fromkeys(
        ["ExecutionResult", "ProducedFile", "SandboxError", "SandboxLimits"], ".sandbox._types"
    ),
}

__all__ = [
    "AgentStepError",
    "ArtifactLog",
    "AssistantAgent",
    "AtomicFile",
    "CodeAgent",
    "DownloadError",
    "DownloadResult",
    "Downloader",
    "ExecutionResult",
    "FileAgent",
    "FileInfo",
    "GeneratedImage",
    "ImageAgent",
    "ImageBackend",
    "ImageGenerationError",
    "OfflineImageBackend",
    "OpenAIImageBackend",
    "ProducedFile",
    "ReplicateImageBackend",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "Workspace",
    "WorkspaceError",
    "default_image_backend",
    "image_backend_from_config",
    "step_prompt",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# A library stays quiet unless the application that hosts it asks for its logs, as loguru
# recommends: ``logger.enable("agent_relay.agents")``. The ``relay`` command line enables them.
_logger.disable("agent_relay.agents")
