"""Choosing an image backend by name, as configuration files and the command line do.

Each backend's module is imported when that backend is chosen: the OpenAI one brings the
openai SDK, the Replicate one aiohttp, and ``relay agents`` or an offline run needs neither.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from agent_relay.runtime import ModelConfigError

from ._backend import ImageBackend

#: The backends by name, each as ``"module:class"`` (imported on first use).
IMAGE_BACKENDS: dict[str, str] = {
    "openai": f"{__package__}._openai:OpenAIImageBackend",
    "replicate": f"{__package__}._replicate:ReplicateImageBackend",
    "offline": f"{__package__}._offline:OfflineImageBackend",
}


def image_backend_class(name: str) -> type[ImageBackend]:
    """The class of the backend called ``name`` (any case); ModelConfigError if unknown."""
    where = IMAGE_BACKENDS.get(name.strip().lower())
    if where is None:
        choices = ", ".join(sorted(IMAGE_BACKENDS))
        raise ModelConfigError(f"unknown image backend {name[:40]!r}; choose one of {choices}")
    module, _, attribute = where.partition(":")
    backend: type[ImageBackend] = getattr(import_module(module), attribute)
    return backend


def image_backend_from_config(name: str, **options: Any) -> ImageBackend:
    """The backend called ``name`` ("openai", "replicate", "offline"), built with ``options``.

    Unknown names and options are ModelConfigError, as are missing credentials.
    """
    backend = image_backend_class(name)
    try:
        inspect.signature(backend).bind(**options)
    except TypeError:
        accepted = [
            parameter.name
            for parameter in inspect.signature(backend).parameters.values()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            or parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        unknown = sorted(set(options) - set(accepted))
        raise ModelConfigError(
            f"image backend {name!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(accepted) or 'none'}"
        ) from None
    return backend(**options)
