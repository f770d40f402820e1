"""Where a run's model calls and images go, decided once from the settings and the models, and
said in a line or two before the first step.

The image agent follows the model endpoint: with no ``image_backend`` set, it draws through the
images API of the endpoint the chat model calls (its base URL and key), when that endpoint is
OpenAI-compatible, and offline otherwise. So a run pointed at a local server never sends its
images, and a key from the environment, to api.openai.com. ``image_backend = "openai"`` means
the endpoint ``openai:`` models use (``--base-url``/``--api-key`` when the model is an
``openai:`` one, else ``OPENAI_BASE_URL``/``OPENAI_API_KEY``); ``replicate`` needs
``REPLICATE_API_TOKEN``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import openai

from ..models._chat_model import ChatModel
from ..models._model_string import parse_model_string
from ..models._openai_model import OpenAIChatModel
from ._config import ConfigError, RelaySettings

_OPENAI_API = "https://api.openai.com/v1"
#: The model the OpenAI image backend asks for (its default).
_IMAGE_MODEL = "gpt-image-1"


@dataclass(frozen=True)
class ImageSetup:
    """The image agent's backend, the options it is built with (``Runtime(agent_options=
    {"image": ...})``) and, for people, where it sends its requests and why."""

    backend: str
    options: dict[str, Any] = field(repr=False)
    host: str | None = None
    why: str = ""

    def describe(self) -> str:
        if self.backend == "offline":
            return f"images: offline placeholders ({self.why})"
        where = f" at {self.host}" if self.host else ""
        model = f" ({_IMAGE_MODEL})" if self.backend == "openai" else ""
        return f"images: {self.backend}{model}{where} ({self.why})"


def _chat_endpoint(model: ChatModel) -> tuple[str, str] | None:
    """The base URL and key of an OpenAI-compatible chat model; None for any other (Azure's
    images live under deployments, other providers speak other protocols)."""
    if not isinstance(model, OpenAIChatModel) or isinstance(model.client, openai.AsyncAzureOpenAI):
        return None
    return str(model.client.base_url), model.client.api_key


def host_of(url: str) -> str:
    """``host`` or ``host:port`` of a URL, never its credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return host if parts.port is None else f"{host}:{parts.port}"


def _openai_setup(url: str | None, key: str | None, why: str) -> ImageSetup:
    options = {"backend": "openai", "openai_base_url": url or _OPENAI_API}
    if key is not None:
        options["openai_api_key"] = key
    return ImageSetup("openai", options, host_of(url or _OPENAI_API), why)


def image_setup(settings: RelaySettings, model: ChatModel) -> ImageSetup:
    """The image backend for ``settings``, when the image agent talks to ``model``.

    Raises:
        ConfigError: ``image_backend`` is openai but no OpenAI endpoint is configured.
    """
    chosen = settings.image_backend
    endpoint = _chat_endpoint(model)
    if chosen is None:
        if endpoint is None:
            return ImageSetup(
                "offline",
                {"backend": "offline"},
                why="the model endpoint has no OpenAI images API; "
                "--image-backend openai or replicate for real images",
            )
        return _openai_setup(*endpoint, why="the model endpoint's images API")
    if chosen == "openai":
        spec = settings.model
        if endpoint is not None and (spec is None or parse_model_string(spec).provider == "openai"):
            return _openai_setup(*endpoint, why="the model endpoint's images API, as chosen")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if key is None and settings.openai_base_url is None:
            raise ConfigError(
                "--image-backend openai needs an OpenAI endpoint: set OPENAI_API_KEY (or "
                "OPENAI_BASE_URL for a compatible server), or choose --image-backend offline"
            )
        return _openai_setup(settings.openai_base_url, key, why="OPENAI_BASE_URL/OPENAI_API_KEY")
    if chosen == "replicate":
        token = settings.replicate_api_token
        options: dict[str, Any] = {"backend": "replicate"}
        if token is not None:
            options["replicate_api_token"] = token.get_secret_value()
        return ImageSetup("replicate", options, "api.replicate.com", "as chosen")
    return ImageSetup("offline", {"backend": "offline"}, why="as chosen")


def describe_model(model: ChatModel) -> str:
    """``openai:gpt-4.1-mini at 127.0.0.1:8000``: the model and the host its calls go to."""
    if isinstance(model, OpenAIChatModel):
        return f"{model.name} at {model.host}"
    return model.name
