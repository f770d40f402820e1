"""The model the settings name, or one clear line saying how to configure one."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .._errors import ModelConfigError
from .._runtime import Runtime
from ..models._chat_model import ChatModel
from ..models._model_string import model_from_string, parse_model_string
from ._config import DEFAULT_MODEL, ConfigError, RelaySettings

NO_MODEL_MESSAGE = (
    "no model configured: set OPENAI_API_KEY, or pass --model and --base-url for a local "
    "OpenAI-compatible server (e.g. --model ollama:llama3.1); or try `relay demo`, which needs "
    "neither"
)

# Providers built on OpenAIChatModel, which take the timeout and retry options. A provider
# someone registered may not, so it gets none.
_OPENAI_BASED = frozenset(
    {"openai", "azure", "ollama", "lmstudio", "llamacpp", "vllm", "openrouter"}
)


def _secret(settings: RelaySettings, name: str) -> str | None:
    value = getattr(settings, name)
    return value.get_secret_value() if value is not None else None


def build_model(settings: RelaySettings) -> ChatModel:
    """The model for ``settings``. Raises ``ConfigError`` when none is configured and
    ``ModelConfigError`` when the configuration is wrong."""
    openai_key = _secret(settings, "api_key") or _secret(settings, "openai_api_key")
    openai_url = settings.base_url or settings.openai_base_url
    spec = settings.model
    if spec is None:
        if not (openai_key or openai_url):
            raise ConfigError(NO_MODEL_MESSAGE)
        spec = DEFAULT_MODEL
    parsed = parse_model_string(spec)
    if parsed.provider == "openai":
        if not (openai_key or openai_url):
            raise ConfigError(NO_MODEL_MESSAGE)
        key, url = openai_key, openai_url
    else:
        # OPENAI_* belong to OpenAI; other providers read their own variables.
        key, url = _secret(settings, "api_key"), settings.base_url
    options: dict[str, Any] = {}
    if parsed.provider in _OPENAI_BASED:
        options = {"timeout": settings.request_timeout, "max_retries": settings.max_retries}
        if not settings.structured_output:
            options["supports_structured_output"] = False
    try:
        return model_from_string(spec, base_url=url, api_key=key, **options)
    except TypeError as exc:
        raise ConfigError(
            f"the model provider {parsed.provider!r} rejected its options: {exc}"
        ) from None


def build_runtime(model: ChatModel, settings: RelaySettings) -> Runtime:
    """The runtime with every registered agent; an agent that cannot be set up (a broken
    entry point, an image backend without its key) is a configuration error."""
    try:
        return Runtime(
            model=model,
            workspace=settings.workspace,
            settings=settings.runtime_settings(),
            agent_options=settings.agent_options(),
        )
    except ModelConfigError as exc:
        raise ConfigError(f"cannot set up the agents: {exc}") from None


def prepare_workspace(workspace: Path) -> None:
    """Create ``workspace`` (and its parents) and check that relay can write in it, before
    any model is called: every task makes its own directory there.

    Raises:
        ConfigError: it cannot be created or written in; one line with the path and the
            system's reason.
    """
    path = workspace.resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        # A directory that exists may still refuse new entries (read-only, another owner).
        Path(tempfile.mkdtemp(prefix=".relay-check-", dir=path)).rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != path else ""
        raise ConfigError(
            f"cannot use the workspace {path}: {reason}{where}; choose another with "
            "--workspace or RELAY_WORKSPACE"
        ) from None
