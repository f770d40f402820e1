"""Image-generation backends: OpenAI's image API, Replicate, and an offline placeholder.

The names are imported on first use (see ``agent_relay.agents``), so naming the image agent
does not import the openai SDK or aiohttp.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._backend import GeneratedImage, ImageBackend, ImageGenerationError
    from ._config import IMAGE_BACKENDS, image_backend_from_config
    from ._offline import PLACEHOLDER_NOTE, OfflineImageBackend
    from ._openai import OpenAIImageBackend
    from ._replicate import ReplicateImageBackend

# name -> the module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    "GeneratedImage": "._backend",
    "ImageBackend": "._backend",
    "ImageGenerationError": "._backend",
    "IMAGE_BACKENDS": "._config",
    "image_backend_from_config": "._config",
    "PLACEHOLDER_NOTE": "._offline",
    "OfflineImageBackend": "._offline",
    "OpenAIImageBackend": "._openai",
    "ReplicateImageBackend": "._replicate",
}

__all__ = [
    "IMAGE_BACKENDS",
    "PLACEHOLDER_NOTE",
    "GeneratedImage",
    "ImageBackend",
    "ImageGenerationError",
    "OfflineImageBackend",
    "OpenAIImageBackend",
    "ReplicateImageBackend",
    "image_backend_from_config",
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
