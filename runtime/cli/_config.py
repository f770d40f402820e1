"""The command line's settings: one object read from flags, the environment, ``.env`` and
``relay.toml``, in that order of precedence.

``RelaySettings`` inherits the engine's fields from ``RuntimeSettings`` and adds the command
line's own; each field says through its ``Setting`` how a person gives it (see
``.._setting``). Its key names it in flags, ``relay.toml`` and ``RELAY_<KEY>``; the standard
``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` and ``REPLICATE_API_TOKEN`` are read under their own
names. A ``.env`` file in the current directory fills in environment variables that are not
set, so it also reaches the model providers that read their own (``OPENROUTER_API_KEY``...).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .._errors import RelayError
from .._setting import (
    ALL_COMMANDS,
    ENV_PREFIX,
    MODEL_COMMANDS,
    WORKER_COMMANDS,
    Setting,
    setting_of,
)
from .._settings import AGENT_COMMANDS, RuntimeSettings
from .._validation import problem
from ..mcp._config import McpConfigError, mcp_servers_from
from ._bus_settings import BusSettings
from ._daemon_settings import DaemonSettings

CONFIG_FILE = "relay.toml"
ENV_FILE = ".env"
DEFAULT_MODEL = "openai:gpt-4.1-mini"

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
ImageBackendName = Literal["offline", "openai", "replicate"]
#: The assistant backends a setting may name: ``assistants.BACKEND_NAMES`` (not imported
#: here, to keep the command line's start light; tests/cli/test_cli_backend.py keeps them
#: in step).
AssistantBackendName = Literal["local", "responses"]

_MODEL = "model"
_LOGGING = "configuration and logging"
_BATCH = frozenset({"batch"})
# The commands that run tasks or steps, and so make spans.
_TRACED = MODEL_COMMANDS | {"demo"}
# The commands that plan (relay worker never does).
_PLANNING = MODEL_COMMANDS - WORKER_COMMANDS

# The values of relay.toml for the settings being built; a context variable because pydantic
# asks for the sources in a class method.
_FILE_VALUES: ContextVar[Mapping[str, Any] | None] = ContextVar("relay_file_values", default=None)


class ConfigError(RelayError):
    """The configuration cannot be used: a bad value, a bad relay.toml, no model."""


class RelaySettings(BaseSettings, RuntimeSettings, DaemonSettings, BusSettings):
    """Every setting of the command line; see the README's Configuration table.

    Build it with ``load_settings`` (flags and files by their keys); ``RelaySettings(...)``
    takes field names, with the environment and ``relay.toml`` under them.
    """

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    # On in the relay command, whose live view and daemon streams show the text as it comes
    # (a Runtime made in Python has it off unless asked; see RuntimeSettings).
    stream_deltas: Annotated[
        bool,
        Setting(
            commands=AGENT_COMMANDS,
            help="do not stream agents' model calls: no step.delta events, the live view shows "
            "no text before a step ends",
        ),
    ] = Field(
        default=True,
        description="stream agents' model calls and publish their text as it is written "
        "(step.delta events)",
    )
    model: Annotated[
        str | None, Setting(_MODEL, commands=MODEL_COMMANDS, metavar="PROVIDER:MODEL")
    ] = Field(
        default=None,
        description=f"the model as provider:model; {DEFAULT_MODEL} when an OpenAI key or "
        "base URL is set",
    )
    base_url: Annotated[str | None, Setting(_MODEL, commands=MODEL_COMMANDS, metavar="URL")] = (
        Field(default=None, description="the model endpoint's base URL (OpenAI-compatible servers)")
    )
    api_key: Annotated[
        SecretStr | None,
        Setting(
            _MODEL,
            commands=MODEL_COMMANDS,
            metavar="KEY",
            help="prefer OPENAI_API_KEY: flags show up in process lists",
        ),
    ] = Field(default=None, description="the model endpoint's key; prefer OPENAI_API_KEY")
    openai_api_key: Annotated[
        SecretStr | None, Setting(_MODEL, env="OPENAI_API_KEY", env_only=True)
    ] = Field(default=None, description="the key for openai: models (and the OpenAI image backend)")
    openai_base_url: Annotated[
        str | None, Setting(_MODEL, env="OPENAI_BASE_URL", env_only=True)
    ] = Field(
        default=None,
        description="the base URL for openai: models, when --base-url is not given",
    )
    request_timeout: Annotated[float, Setting(_MODEL, commands=MODEL_COMMANDS, metavar="S")] = (
        Field(
            default=60.0,
            gt=0,
            description="seconds for one attempt of a model call, connecting to last byte",
        )
    )
    max_retries: Annotated[int, Setting(_MODEL, commands=MODEL_COMMANDS, metavar="N")] = Field(
        default=2, ge=0, le=10, description="retries of a failed model call"
    )
    max_reply_bytes: Annotated[int, Setting(_MODEL, commands=MODEL_COMMANDS, metavar="N")] = Field(
        default=8 << 20,
        ge=1024,
        description="bytes one model reply may take; past it the call fails (not retried) "
        "instead of reading on",
    )
    structured_output: Annotated[
        bool,
        Setting(
            _MODEL,
            commands=_PLANNING,
            help="put the plan's JSON schema in the prompt instead of asking the endpoint "
            "for structured output (for servers that mishandle it)",
        ),
    ] = Field(
        default=True,
        description="ask the endpoint for structured output (a JSON schema) when planning; "
        "turn it off for servers that mishandle it (the schema then goes in the prompt)",
    )
    assistant_backend: Annotated[
        AssistantBackendName,
        Setting(_MODEL, key="backend", commands=MODEL_COMMANDS, metavar="NAME"),
    ] = Field(
        default="local",
        description="where the agents' assistant runs happen: local (relay's run loop over the "
        "agent's model) or responses (the OpenAI Responses API at the model's endpoint, in "
        "background mode; needs an OpenAI-compatible model)",
    )
    workspace: Annotated[Path, Setting(metavar="DIR")] = Field(
        default=Path("relay-workspace"), description="where tasks write their files"
    )
    agent_models: Annotated[
        dict[str, str] | None,
        Setting(_MODEL, commands=MODEL_COMMANDS, metavar="AGENT=MODEL,..."),
    ] = Field(
        default=None,
        description="a model for some agents, as agent=provider:model pairs "
        "(code=openai:gpt-4.1,file=ollama:llama3.1; a table in relay.toml); the planner and "
        "the other agents use model",
    )
    agents: Annotated[list[str] | None, Setting(commands=MODEL_COMMANDS, metavar="NAMES")] = Field(
        default=None,
        description="the agents a run may plan with, by name (code,file; a list in "
        "relay.toml); every registered agent if unset",
    )
    mcp_servers: Annotated[
        dict[str, Any] | None, Setting(commands=MODEL_COMMANDS, metavar="JSON")
    ] = Field(
        default=None,
        description="MCP servers whose tools agents may use, by name: each a command (with "
        "args, env, cwd) or a url (with headers); a table per server in relay.toml, a JSON "
        "object for the flag; the mcp agent uses them all",
    )
    image_backend: Annotated[
        ImageBackendName | None, Setting(commands=MODEL_COMMANDS, metavar="NAME")
    ] = Field(
        default=None,
        description="the image agent's backend: offline, openai (the images API of the "
        "endpoint openai: models use) or replicate; if unset, the images API of the model "
        "endpoint when it is OpenAI-compatible, else offline",
    )
    replicate_api_token: Annotated[
        SecretStr | None, Setting(env="REPLICATE_API_TOKEN", env_only=True)
    ] = Field(default=None, description="the key for the Replicate image backend")
    concurrency: Annotated[int, Setting("batch", commands=_BATCH, metavar="N")] = Field(
        default=4, ge=1, le=1024, description="tasks `relay batch` runs at once"
    )
    retry_failed: Annotated[
        bool,
        Setting(
            "batch",
            commands=_BATCH,
            help="skip every id already in the output, failed and cancelled ones too (by "
            "default a rerun runs those again)",
        ),
    ] = Field(
        default=True,
        description="a rerun of `relay batch` runs again the tasks whose latest result in the "
        "output is failed or cancelled (off: it skips every id already there)",
    )
    stop_after_failures: Annotated[int, Setting("batch", commands=_BATCH, metavar="N")] = Field(
        default=3,
        ge=0,
        description="stop `relay batch` once this many tasks in a row fail the same way no task "
        "can fix (refused key, no quota left, endpoint unreachable); 0 never stops",
    )
    log_level: Annotated[LogLevel, Setting(_LOGGING, commands=ALL_COMMANDS, metavar="LEVEL")] = (
        Field(default="WARNING", description="log level on stderr")
    )
    log_json: Annotated[bool, Setting(_LOGGING, commands=ALL_COMMANDS)] = Field(
        default=False, description="log JSON lines instead of text"
    )
    trace: Annotated[bool, Setting(_LOGGING, commands=_TRACED)] = Field(
        default=False,
        description="send OpenTelemetry traces over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT "
        "(http://localhost:4318 if unset); needs the otlp extra",
    )
    trace_content: Annotated[bool, Setting(_LOGGING, commands=_TRACED)] = Field(
        default=False,
        description="record message contents and tool arguments in traces, secrets masked "
        "(they may hold personal data)",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("image_backend", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @field_validator("assistant_backend", mode="before")
    @classmethod
    def _backend_name(cls, value: object) -> object:
        return (value.strip().lower() or "local") if isinstance(value, str) else value

    @field_validator("agents", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        # A flag or variable gives "code,file"; relay.toml a list.
        if isinstance(value, str):
            return [name.strip().lower() for name in value.split(",") if name.strip()]
        return value

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _mcp_json(cls, value: object) -> object:
        # A flag or variable gives a JSON object; relay.toml tables.
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not a JSON object of servers by name ({exc})") from None

    @field_validator("mcp_servers")
    @classmethod
    def _mcp_check(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        try:
            mcp_servers_from(value)
        except McpConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("agent_models", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        # A flag or variable gives "code=openai:gpt-4.1,file=..."; relay.toml a table.
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, spec = item.partition("=")
            if not sep or not name.strip() or not spec.strip():
                raise ValueError(f"{item[:60]!r} is not agent=provider:model")
            pairs[name.strip().lower()] = spec.strip()
        return pairs

    @field_validator("model", "base_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return (value.strip() or None) if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment and relay.toml name settings by their keys, not by field names.
        # .env reaches the settings through the environment (see load_dotenv_file).
        environment = {name.lower(): value for name, value in os.environ.items()}
        from_env = {
            s.key: environment[s.env.lower()]
            for s in user_settings().values()
            if s.env.lower() in environment
        }
        return (
            init_settings,
            _KeyedSource(settings_cls, from_env),
            _KeyedSource(settings_cls, _FILE_VALUES.get() or {}),
        )

    def runtime_settings(self) -> RuntimeSettings:
        """The engine's part of these settings, as the ``RuntimeSettings`` ``Runtime`` takes."""
        return RuntimeSettings.model_validate(
            self.model_dump(include=set(RuntimeSettings.model_fields))
        )


@dataclass(frozen=True)
class UserSetting:
    """A field a person can set: its field name, key, environment variable and definition."""

    name: str
    key: str
    env: str
    field: FieldInfo
    setting: Setting


@cache
def user_settings() -> dict[str, UserSetting]:
    """The settings a person can give, by key, in the order of ``RelaySettings``' fields."""
    found = {}
    for name, field in RelaySettings.model_fields.items():
        setting = setting_of(field.metadata)
        if setting is not None:
            key = setting.key or name
            env = setting.env or ENV_PREFIX + key.upper()
            found[key] = UserSetting(name, key, env, field, setting)
    return found


def env_name(key: str) -> str:
    """The environment variable a setting (by key) is read from."""
    return user_settings()[key].env


class _KeyedSource(PydanticBaseSettingsSource):
    """Values given by setting keys (from the environment or relay.toml), under field names."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ maps the keys itself.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        known = user_settings()
        return {known[k].name: v for k, v in self._values.items() if k in known}


def load_dotenv_file(path: Path) -> list[str]:
    """Put the variables of a ``.env`` file into the environment, never replacing one that is
    set. Returns the names it set."""
    if not path.is_file():
        return []
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    added = []
    for name, value in values.items():
        if value is not None and name not in os.environ:
            os.environ[name] = value
            added.append(name)
    return added


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a ``relay.toml`` by key; unknown keys are an error, so a typo is not
    ignored."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    known = {key for key, s in user_settings().items() if not s.setting.env_only}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return data


def load_settings(
    flags: Mapping[str, Any], *, config_file: Path | None = None, cwd: Path | None = None
) -> RelaySettings:
    """Settings from ``flags`` (by key; None means not given) over the environment, ``.env``
    and the config file (``config_file``, else ``relay.toml`` in ``cwd`` if there is one).
    Raises ``ConfigError`` naming each bad setting."""
    cwd = cwd or Path.cwd()
    load_dotenv_file(cwd / ENV_FILE)
    path = config_file or cwd / CONFIG_FILE
    file_values = read_config_file(path) if config_file or path.is_file() else {}
    known = user_settings()
    given = {known[k].name: v for k, v in flags.items() if v is not None and k in known}
    token = _FILE_VALUES.set(file_values)
    try:
        return RelaySettings(**given)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    finally:
        _FILE_VALUES.reset(token)


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad setting by its key and what is wrong with it (never the value:
    it may be a secret)."""
    keys = {s.name: s.key for s in user_settings().values()}
    problems = []
    for error in exc.errors():
        parts = [str(part) for part in error["loc"]]
        if parts:
            parts[0] = keys.get(parts[0], parts[0])
        problems.append(f"{'.'.join(parts) or 'settings'}: {problem(error)}")
    return "bad setting " + "; ".join(problems)
