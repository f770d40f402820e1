"""relay's specialized agents (image, code, file) and their tools."""

from loguru import logger as _logger

# -- agents --
# isort: split
from ._base import AgentStepError, ArtifactLog, AssistantAgent, step_prompt
from .code._agent import CodeAgent
from .file._agent import FileAgent
from .image._agent import ImageAgent, default_image_backend

# -- sandbox --
from .sandbox._sandbox import Sandbox
from .sandbox._types import ExecutionResult, ProducedFile, SandboxError, SandboxLimits

# isort: split
# -- workspace, downloads, images --
from ._download import Downloader, DownloadError, DownloadResult
from ._workspace import AtomicFile, FileInfo, Workspace, WorkspaceError
from .image import (
    GeneratedImage,
    ImageBackend,
    ImageGenerationError,
    OfflineImageBackend,
    OpenAIImageBackend,
    ReplicateImageBackend,
    image_backend_from_config,
)

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

# A library stays quiet unless the application that hosts it asks for its logs, as loguru
# recommends: ``logger.enable("agent_relay.agents")``. The ``relay`` command line enables them.
_logger.disable("agent_relay.agents")
