"""relay's specialized agents (image, code, file) and their tools.

The names below are imported on first use (PEP 562 ``__getattr__``): the ``relay.agents``
entry points name ``agent_relay.agents:ImageAgent`` and the like, and ``relay agents`` lists
them without importing the openai SDK or aiohttp (the image backends and the downloader are
imported where they are built). Type checkers read the names from the ``TYPE_CHECKING``
block; ``tests/cli/test_startup.py`` keeps it and the table in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader
from loguru import logger as _logger

if TYPE_CHECKING:
    from ._base import (
        AgentStepError as AgentStepError,
    )
    from ._base import (
        ArtifactLog as ArtifactLog,
    )
    from ._base import (
        AssistantAgent as AssistantAgent,
    )
    from ._base import (
        AssistantOptions as AssistantOptions,
    )
    from ._base import (
        Shortfall as Shortfall,
    )
    from ._base import (
        ToolCallRecord as ToolCallRecord,
    )
    from ._base import (
        step_prompt as step_prompt,
    )
    from ._download import (
        Downloader as Downloader,
    )
    from ._download import (
        DownloadError as DownloadError,
    )
    from ._download import (
        DownloadResult as DownloadResult,
    )
    from ._workspace import (
        AtomicFile as AtomicFile,
    )
    from ._workspace import (
        FileInfo as FileInfo,
    )
    from ._workspace import (
        Workspace as Workspace,
    )
    from ._workspace import (
        WorkspaceError as WorkspaceError,
    )
    from .code._agent import CodeAgent as CodeAgent
    from .file._agent import FileAgent as FileAgent
    from .image import (
        GeneratedImage as GeneratedImage,
    )
    from .image import (
        ImageBackend as ImageBackend,
    )
    from .image import (
        ImageGenerationError as ImageGenerationError,
    )
    from .image import (
        OfflineImageBackend as OfflineImageBackend,
    )
    from .image import (
        OpenAIImageBackend as OpenAIImageBackend,
    )
    from .image import (
        ReplicateImageBackend as ReplicateImageBackend,
    )
    from .image import (
        image_backend_from_config as image_backend_from_config,
    )
    from .image._agent import (
        ImageAgent as ImageAgent,
    )
    from .image._agent import (
        default_image_backend as default_image_backend,
    )
    from .mcp._agent import McpAgent as McpAgent
    from .sandbox._sandbox import Sandbox as Sandbox
    from .sandbox._types import (
        ExecutionResult as ExecutionResult,
    )
    from .sandbox._types import (
        ProducedFile as ProducedFile,
    )
    from .sandbox._types import (
        SandboxError as SandboxError,
    )
    from .sandbox._types import (
        SandboxLimits as SandboxLimits,
    )

# The public names, by the module (relative to this package) that defines each; each is
# imported on first use (lazy_loader, SPEC 1).
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_base": [
            "AgentStepError",
            "ArtifactLog",
            "AssistantAgent",
            "AssistantOptions",
            "Shortfall",
            "ToolCallRecord",
            "step_prompt",
        ],
        "_download": ["DownloadError", "DownloadResult", "Downloader"],
        "_workspace": ["AtomicFile", "FileInfo", "Workspace", "WorkspaceError"],
        "code._agent": ["CodeAgent"],
        "file._agent": ["FileAgent"],
        "image": [
            "GeneratedImage",
            "ImageBackend",
            "ImageGenerationError",
            "OfflineImageBackend",
            "OpenAIImageBackend",
            "ReplicateImageBackend",
            "image_backend_from_config",
        ],
        "image._agent": ["ImageAgent", "default_image_backend"],
        "mcp._agent": ["McpAgent"],
        "sandbox._sandbox": ["Sandbox"],
        "sandbox._types": ["ExecutionResult", "ProducedFile", "SandboxError", "SandboxLimits"],
    },
)


# A library stays quiet unless the application that hosts it asks for its logs, as loguru
# recommends: ``logger.enable("agent_relay.agents")``. The ``relay`` command line enables them.
_logger.disable("agent_relay.agents")

if __name__ != "agent_relay.agents":
    # The repository's folder imported by its own name (``from agents import FileAgent`` with
    # the project's root on the path, as scripts run from there do) stands for the installed
    # package: a second copy would hold agents whose classes are not relay's own. (The engine
    # refuses that import instead: nothing outside relay has a use for it.)
    import sys

    from agent_relay import agents as _installed

    sys.modules[__name__] = _installed
