"""The model the settings name, or one clear line saying how to configure one."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent_relay.bus import printable

from .._errors import ModelConfigError
from .._runtime import Runtime, RuntimeUsageError
from ..engine._approval_desk import ApprovalHandler
from ..models._chat_model import ChatModel
from ..models._model_string import model_from_string, parse_model_string
from ._bus_settings import is_memory_bus
from ._config import DEFAULT_MODEL, ConfigError, RelaySettings
from ._endpoints import describe_model, image_setup
from ._logging import redact

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


def build_model(settings: RelaySettings, spec: str | None = None) -> ChatModel:
    """The model for ``settings`` (``spec``, a model string, instead of ``settings.model`` for
    an agent's own model: ``--base-url`` and ``--api-key`` then apply only when its provider is
    the main model's). Raises ``ConfigError`` when none is configured and ``ModelConfigError``
    when the configuration is wrong."""
    main = spec is None
    openai_key = _secret(settings, "api_key") or _secret(settings, "openai_api_key")
    openai_url = settings.base_url or settings.openai_base_url
    if spec is None:
        spec = settings.model
    if spec is None:
        if not (openai_key or openai_url):
            raise ConfigError(NO_MODEL_MESSAGE)
        spec = DEFAULT_MODEL
    parsed = parse_model_string(spec)
    flags_apply = main or parsed.provider == _provider(settings.model or DEFAULT_MODEL)
    if parsed.provider == "openai":
        if not flags_apply:
            # The flags are the main model's; an agent's openai: model reads OPENAI_*.
            openai_key = _secret(settings, "openai_api_key")
            openai_url = settings.openai_base_url
        if not (openai_key or openai_url):
            raise ConfigError(NO_MODEL_MESSAGE)
        key, url = openai_key, openai_url
    elif flags_apply:
        # OPENAI_* belong to OpenAI; other providers read their own variables.
        key, url = _secret(settings, "api_key"), settings.base_url
    else:
        key, url = None, None
    options: dict[str, Any] = {}
    if parsed.provider in _OPENAI_BASED:
        options = {
            "timeout": settings.request_timeout,
            "max_retries": settings.max_retries,
            "max_reply_bytes": settings.max_reply_bytes,
        }
        if not settings.structured_output:
            options["supports_structured_output"] = False
    try:
        return model_from_string(spec, base_url=url, api_key=key, **options)
    except TypeError as exc:
        raise ConfigError(
            f"the model provider {parsed.provider!r} rejected its options: {exc}"
        ) from None


def _provider(spec: str) -> str:
    return parse_model_string(spec).provider


def build_agent_models(settings: RelaySettings) -> dict[str, ChatModel]:
    """The models ``agent_models`` gives some agents, by agent name; the caller closes them.
    Raises as ``build_model`` does, naming the agent."""
    models: dict[str, ChatModel] = {}
    for name, spec in (settings.agent_models or {}).items():
        try:
            models[name] = build_model(settings, spec)
        except (ConfigError, ModelConfigError) as exc:
            raise ConfigError(f"agent_models: the model for {name!r}: {exc}") from None
    return models


def build_runtime(
    model: ChatModel,
    settings: RelaySettings,
    *,
    master_group: str | None = None,
    approval_handler: ApprovalHandler | None = None,
) -> Runtime:
    """The runtime with the agents the settings choose (every registered one that loads when
    ``agents`` is unset: each that fails to load gets one warning line on stderr), each agent's
    model (``agent_models``: open them with ``opened(runtime.agent_models)``) and the image
    agent's backend following the model endpoint (see ``_endpoints``); the agents' runs on
    the assistant backend ``backend`` names. An agent that cannot be set up (an image backend
    without its key, an unknown agent name, a model for an agent that does not run, the
    responses backend on a model without an OpenAI-compatible endpoint) is a configuration
    error, and so is a workspace that cannot be used
    (see ``prepare_workspace``), checked last. The runtime runs on the bus the settings name
    (``bus``, ``workers``, ``ack_wait``, ``max_deliver``); a nats:// bus connects when the
    runtime is entered, which raises ``BusError`` if the server cannot be reached.
    ``approval_handler`` decides approval requests in-process (``--yes``)."""
    agent_models = build_agent_models(settings)
    image = image_setup(settings, agent_models.get("image", model))
    try:
        runtime = Runtime(
            model=model,
            agents=settings.agents,
            workspace=settings.workspace,
            settings=settings.runtime_settings(),
            agent_options={"image": image.options},
            agent_models=agent_models,
            assistant_backend=settings.assistant_backend,
            bus=settings.bus,
            workers=settings.workers,
            ack_wait_s=settings.ack_wait,
            max_deliver=settings.max_deliver,
            master_group=master_group,
            approval_handler=approval_handler,
            mcp_servers=settings.mcp_servers,
        )
    except ModelConfigError as exc:
        raise ConfigError(f"cannot set up the agents: {exc}") from None
    except RuntimeUsageError as exc:
        raise ConfigError(str(exc)) from None
    # Only once the whole configuration is known to be good: a refused setting leaves nothing.
    prepare_workspace(settings.workspace)
    for broken in runtime.broken_agents:
        sys.stderr.write(
            f"relay: warning: {printable(redact(broken.describe()))}; relay runs without it\n"
        )
    sys.stderr.flush()
    return runtime


def setup_lines(runtime: Runtime, settings: RelaySettings) -> list[str]:
    """Where the run's model calls and images go, for people, before the first step:
    ``model: openai:gpt-4.1-mini at 127.0.0.1:8000`` (with each agent's own model) and, when
    the image agent runs, ``images: openai (gpt-image-1) at 127.0.0.1:8000 (...)``."""
    lines = [f"model: {describe_model(runtime.model)}"]
    if runtime.agent_models:
        own = "; ".join(f"{n}: {describe_model(m)}" for n, m in runtime.agent_models.items())
        lines[0] += f"; {own}"
    if any(agent.name == "image" for agent in runtime.agents):
        image_model = runtime.agent_models.get("image", runtime.model)
        lines.append(image_setup(settings, image_model).describe())
    if settings.assistant_backend != "local":
        lines.append("runs: responses (the OpenAI Responses API at each agent's model endpoint)")
    if not is_memory_bus(settings.bus):
        parts = urlsplit(settings.bus)  # checked already; no credentials or options shown
        where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        agents = (
            "agents only in relay worker processes"
            if settings.workers == "remote"
            else "agents here and in any relay worker"
        )
        lines.append(f"bus: {where} ({agents})")
    return lines


@asynccontextmanager
async def opened(models: Mapping[str, ChatModel]) -> AsyncIterator[None]:
    """Open ``models`` for the block and close them after it."""
    async with AsyncExitStack() as stack:
        for model in models.values():
            await stack.enter_async_context(model)
        yield


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
