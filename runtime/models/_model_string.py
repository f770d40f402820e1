"""Model strings: ``"provider:model"`` names a model and the endpoint that serves it.

``openai:gpt-4.1-mini``, ``azure:<deployment>``, ``ollama:llama3.1:8b``, ``vllm:<model>``,
``openrouter:anthropic/claude-sonnet-4``... A string without a provider means ``openai``.

Providers live in a small registry, so another module adds one (say ``scripted``) with
``register_provider(name, factory)`` and it works everywhere a model string is accepted.
"""

from __future__ import annotations

import os
import re
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from .._errors import ModelConfigError
from ._chat_model import ChatModel
from ._openai_clients import PLACEHOLDER_API_KEY
from ._openai_model import OpenAIChatModel

_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_SHOWN_SPEC_CHARS = 80


class ProviderFactory(Protocol):
    """Builds the model for ``model`` from the base URL, key and options the caller gave."""

    def __call__(
        self, model: str, *, base_url: str | None, api_key: str | None, **options: Any
    ) -> ChatModel: ...


#: Options a model string may carry after ``?``, and the model option each one sets.
STRING_OPTIONS = {
    "structured_output": "supports_structured_output",
    "stream_usage": "stream_usage",
    "max_tokens_param": "max_tokens_param",
}
_OPTIONS = re.compile(r"^[a-z_]+=[^&\s=]*(?:&[a-z_]+=[^&\s=]*)*$")
_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class ModelSpec(BaseModel):
    """A parsed model string. ``options`` are the model options the string named after ``?``
    (``openai:my-model?structured_output=false``), by the name the model takes them."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    options: dict[str, Any] = {}

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def _openai(model: str, *, base_url: str | None, api_key: str | None, **options: Any) -> ChatModel:
    options.setdefault("name", f"openai:{model}")
    return OpenAIChatModel(model, base_url=base_url, api_key=api_key, **options)


def _azure(model: str, *, base_url: str | None, api_key: str | None, **options: Any) -> ChatModel:
    return OpenAIChatModel.azure(model, endpoint=base_url, api_key=api_key, **options)


def _openrouter(
    model: str, *, base_url: str | None, api_key: str | None, **options: Any
) -> ChatModel:
    key = api_key or os.environ.get("OPENROUTER_API_KEY")
    if not key:
        raise ModelConfigError("no OpenRouter key: set OPENROUTER_API_KEY or pass an API key")
    options.setdefault("name", f"openrouter:{model}")
    options.setdefault("max_tokens_param", "max_tokens")
    url = base_url or "https://openrouter.ai/api/v1"
    return OpenAIChatModel(model, base_url=url, api_key=key, **options)


def _local_server(provider: str, default_url: str, key_env: str | None = None) -> ProviderFactory:
    """A factory for a server on the user's machine: a default base URL and no key needed.

    The key is never taken from OPENAI_API_KEY: that key is for OpenAI, not for this server.
    """

    def factory(
        model: str, *, base_url: str | None, api_key: str | None, **options: Any
    ) -> ChatModel:
        key = api_key or (os.environ.get(key_env) if key_env else None) or PLACEHOLDER_API_KEY
        options.setdefault("name", f"{provider}:{model}")
        options.setdefault("max_tokens_param", "max_tokens")
        return OpenAIChatModel(model, base_url=base_url or default_url, api_key=key, **options)

    return factory


#: provider name → factory. Add to it with ``register_provider``.
PROVIDERS: dict[str, ProviderFactory] = {
    "openai": _openai,
    "azure": _azure,
    "ollama": _local_server("ollama", "http://localhost:11434/v1"),
    "lmstudio": _local_server("lmstudio", "http://localhost:1234/v1"),
    "llamacpp": _local_server("llamacpp", "http://localhost:8080/v1"),
    "vllm": _local_server("vllm", "http://localhost:8000/v1", key_env="VLLM_API_KEY"),
    "openrouter": _openrouter,
}


def register_provider(name: str, factory: ProviderFactory, *, replace: bool = False) -> None:
    """Make ``name:<model>`` strings build models with ``factory``.

    Raises:
        ValueError: ``name`` is not lower-case letters, digits, ``-`` and ``_``, or is
            registered already and ``replace`` is false.
    """
    if not _PROVIDER_NAME.match(name):
        raise ValueError(f"a provider name is lower-case letters, digits, - and _, not {name!r}")
    if name in PROVIDERS and not replace:
        raise ValueError(f"the model provider {name!r} is already registered")
    PROVIDERS[name] = factory


def _known() -> str:
    return ", ".join(sorted(PROVIDERS))


def _shown(spec: str) -> str:
    return repr(spec if len(spec) <= _SHOWN_SPEC_CHARS else spec[:_SHOWN_SPEC_CHARS] + "…")


def parse_model_string(spec: str) -> ModelSpec:
    """``"ollama:llama3.1:8b"`` → ``ModelSpec(provider="ollama", model="llama3.1:8b")``.

    Only the first colon separates the provider, so model names may hold colons; fine-tuned
    OpenAI models (``ft:gpt-4o-mini:org::id``) need no prefix. Options may follow a ``?``
    (``vllm:qwen3?structured_output=false&stream_usage=false``; see ``STRING_OPTIONS``).

    Raises:
        ModelConfigError: the provider or an option is unknown, an option's value is wrong,
            or the model name is empty or holds whitespace or unprintable characters.
    """
    text, mark, query = spec.strip().rpartition("?")
    # A "?" that starts no options, or leaves no model name before it, is in the name.
    if not mark or not _OPTIONS.match(query) or not text or text.endswith(":"):
        text, query = spec.strip(), ""
    provider, sep, model = text.partition(":")
    if not sep or provider == "ft":
        provider, model = "openai", text
    provider = provider.lower()
    if provider not in PROVIDERS:
        raise ModelConfigError(
            f"unknown model provider {provider!r} in {_shown(spec)}; "
            f"write provider:model with a provider from: {_known()}"
        )
    if not model or any(ch.isspace() or not ch.isprintable() for ch in model):
        raise ModelConfigError(
            f"the model string {_shown(spec)} names no valid model; "
            f"write provider:model (e.g. openai:gpt-4.1-mini) with a provider from: {_known()}"
        )
    return ModelSpec(provider=provider, model=model, options=_string_options(query, spec))


def _string_options(query: str, spec: str) -> dict[str, Any]:
    """The options after ``?``: ``name=value`` pairs joined by ``&``."""
    options: dict[str, Any] = {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        target = STRING_OPTIONS.get(name.strip())
        if target is None:
            raise ModelConfigError(
                f"unknown option {name.strip()!r} in the model string {_shown(spec)}; "
                f"known options: {', '.join(STRING_OPTIONS)}"
            )
        value = value.strip()
        if target == "max_tokens_param":
            if value not in ("max_tokens", "max_completion_tokens"):
                raise ModelConfigError(
                    f"max_tokens_param in {_shown(spec)} must be max_tokens or "
                    "max_completion_tokens"
                )
            options[target] = value
        elif value.lower() in _BOOLEAN_WORDS:
            options[target] = _BOOLEAN_WORDS[value.lower()]
        else:
            raise ModelConfigError(f"{name.strip()} in {_shown(spec)} must be true or false")
    return options


def model_from_string(
    spec: str, *, base_url: str | None = None, api_key: str | None = None, **options: Any
) -> ChatModel:
    """The model a model string names. ``base_url`` and ``api_key`` override the provider's
    defaults; ``options`` go to the model (``timeout``, ``max_retries``, ``max_concurrency``,
    ``limiter``...), and so do the string's own options after ``?``.

    Raises:
        ModelConfigError: the string cannot be read (see ``parse_model_string``), or the
            provider needs a key that is missing (OpenRouter).
    """
    parsed = parse_model_string(spec)
    factory = PROVIDERS[parsed.provider]
    # Options given here win over the string's own: they are the more specific setting.
    return factory(
        parsed.model, base_url=base_url, api_key=api_key, **{**parsed.options, **options}
    )
