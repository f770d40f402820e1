"""relay's specialized agents (image, code, file) and their tools."""

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
    "AtomicFile",
    "DownloadError",
    "DownloadResult",
    "Downloader",
    "ExecutionResult",
    "FileInfo",
    "GeneratedImage",
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
    "image_backend_from_config",
]
