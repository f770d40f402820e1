"""relay's specialized agents (image, code, file) and their tools."""

from loguru import logger as _logger

# -- agents --
# isort: split
from ._base import AgentStepError, ArtifactLog, AssistantAgent, step_prompt
from ._code_agent import CodeAgent
from ._file_agent import FileAgent
from ._image_agent import ImageAgent, default_image_backend

# -- sandbox --
from ._sandbox import Sandbox
from ._sandbox_types import ExecutionResult, ProducedFile, SandboxError, SandboxLimits

# isort: split
# -- workspace, downloads, images --
from ._download import Downloader, DownloadError, DownloadResult
from ._images import (
    GeneratedImage,
    ImageBackend,
    ImageGenerationError,
    OfflineImageBackend,
    OpenAIImageBackend,
    ReplicateImageBackend,
    image_backend_from_config,
)
from ._workspace import AtomicFile, FileInfo, Workspace, WorkspaceError

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
# recommends: ``logger.enable("agents")``. The ``relay`` command line enables them.
_logger.disable("agents")
