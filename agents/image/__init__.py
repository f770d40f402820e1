"""Image-generation backends: OpenAI's image API, Replicate, and an offline placeholder.

The names are imported on first use (see ``agent_relay.agents``), so naming the image agent
does not import the openai SDK or aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from ._backend import (
        GeneratedImage as GeneratedImage,
    )
    from ._backend import (
        ImageBackend as ImageBackend,
    )
    from ._backend import (
        ImageGenerationError as ImageGenerationError,
    )
    from ._config import (
        IMAGE_BACKENDS as IMAGE_BACKENDS,
    )
    from ._config import (
        image_backend_from_config as image_backend_from_config,
    )
    from ._offline import (
        PLACEHOLDER_NOTE as PLACEHOLDER_NOTE,
    )
    from ._offline import (
        OfflineImageBackend as OfflineImageBackend,
    )
    from ._openai import OpenAIImageBackend as OpenAIImageBackend
    from ._replicate import ReplicateImageBackend as ReplicateImageBackend

# The public names, by the module (relative to this package) that defines each; each is
# imported on first use (lazy_loader, SPEC 1).
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_backend": ["GeneratedImage", "ImageBackend", "ImageGenerationError"],
        "_config": ["IMAGE_BACKENDS", "image_backend_from_config"],
        "_offline": ["OfflineImageBackend", "PLACEHOLDER_NOTE"],
        "_openai": ["OpenAIImageBackend"],
        "_replicate": ["ReplicateImageBackend"],
    },
)
