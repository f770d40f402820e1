"""Image-generation backends: OpenAI's image API, Replicate, and an offline placeholder."""

from ._backend import GeneratedImage, ImageBackend, ImageGenerationError
from ._config import IMAGE_BACKENDS, image_backend_from_config
from ._offline import PLACEHOLDER_NOTE, OfflineImageBackend
from ._openai import OpenAIImageBackend
from ._replicate import ReplicateImageBackend

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
