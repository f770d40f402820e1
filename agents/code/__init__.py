"""The code agent: writes code files and runs them in the sandbox."""

from ._agent import CodeAgent

__all__ = ["CodeAgent"]
