"""Choosing an image backend by name, as configuration files and the command line do."""

from __future__ import annotations

import inspect
from typing import Any

from agent_relay.runtime import ModelConfigError

from ._backend import ImageBackend
from ._offline import OfflineImageBackend
from ._openai import OpenAIImageBackend
from ._replicate import ReplicateImageBackend

IMAGE_BACKENDS: dict[str, type[ImageBackend]] = {
    "openai": OpenAIImageBackend,
    "replicate": ReplicateImageBackend,
    "offline": OfflineImageBackend,
}


def image_backend_from_config(name: str, **options: Any) -> ImageBackend:
    """The backend called ``name`` ("openai", "replicate", "offline"), built with ``options``.

    Raises:
        ModelConfigError: an unknown name or option, or missing credentials.
    """
    backend = IMAGE_BACKENDS.get(name.strip().lower())
    if backend is None:
        choices = ", ".join(sorted(IMAGE_BACKENDS))
        raise ModelConfigError(f"unknown image backend {name[:40]!r}; choose one of {choices}")
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
