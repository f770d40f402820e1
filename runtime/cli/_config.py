"""The command line's settings: one object read from flags, the environment, ``.env`` and
``relay.toml``, in that order of precedence, then mapped onto the model and ``RuntimeSettings``.

Environment variables are ``RELAY_<SETTING>`` (``RELAY_MODEL``, ``RELAY_STEP_TIMEOUT``...);
the standard ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are read too. A ``.env`` file in the
current directory fills in environment variables that are not set (so it also reaches the
image backends' ``REPLICATE_API_TOKEN`` and the like).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .._errors import RelayError
from .._settings import RuntimeSettings

CONFIG_FILE = "relay.toml"
ENV_FILE = ".env"
ENV_PREFIX = "RELAY_"
DEFAULT_MODEL = "openai:gpt-4.1-mini"

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
ImageBackendName = Literal["offline", "openai", "replicate"]

#: Settings read only from the environment (they have their standard names, not RELAY_*).
ENV_ONLY = frozenset({"openai_api_key", "openai_base_url"})

# The values of relay.toml for the settings being built; a context variable because pydantic
# asks for the sources in a class method.
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("relay_file_values", default=None)


class ConfigError(RelayError):
    """The configuration cannot be used: a bad value, a bad relay.toml, no model."""


class RelaySettings(BaseSettings):
    """Every setting of the command line; see the README's Configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", validate_default=True, populate_by_name=True
    )

    model: str | None = Field(
        default=None,
        description=f"the model as provider:model; {DEFAULT_MODEL} when an OpenAI key or "
        "base URL is set",
    )
    base_url: str | None = Field(
        default=None, description="the model endpoint's base URL (OpenAI-compatible servers)"
    )
    api_key: SecretStr | None = Field(
        default=None, description="the model endpoint's key; prefer OPENAI_API_KEY"
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias="OPENAI_API_KEY",
        description="the key for openai: models (and the OpenAI image backend)",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias="OPENAI_BASE_URL",
        description="the base URL for openai: models, when --base-url is not given",
    )
    request_timeout: float = Field(default=60.0, gt=0, description="seconds for one model call")
    max_retries: int = Field(default=2, ge=0, le=10, description="retries of a failed model call")
    workspace: Path = Field(
        default=Path("relay-workspace"), description="where tasks write their files"
    )
    step_timeout: float = Field(default=300.0, gt=0, description="seconds for one step")
    task_timeout: float | None = Field(
        default=None, gt=0, description="seconds for a whole task (no limit if unset)"
    )
    max_steps: int = Field(default=32, ge=1, le=1000, description="steps in one plan")
    max_parallel_steps: int = Field(
        default=8, ge=1, description="steps of one task running at once"
    )
    replan: bool = Field(default=False, description="revise the plan once after a failed step")
    code_execution: bool = Field(
        default=True, description="let the code agent run code in its sandbox"
    )
    image_backend: ImageBackendName | None = Field(
        default=None,
        description="the image agent's backend: offline, openai or replicate; if unset, the "
        "first with a key in the environment (REPLICATE_API_TOKEN, OPENAI_API_KEY), else offline",
    )
    concurrency: int = Field(
        default=4, ge=1, le=1024, description="tasks `relay batch` runs at once"
    )
    log_level: LogLevel = Field(default="WARNING", description="log level on stderr")
    log_json: bool = Field(default=False, description="log JSON lines instead of text")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("image_backend", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

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
        # .env reaches the settings through the environment (see load_dotenv_file).
        file_source = InitSettingsSource(settings_cls, init_kwargs=_FILE_VALUES.get() or {})
        return init_settings, env_settings, file_source

    def runtime_settings(self) -> RuntimeSettings:
        return RuntimeSettings(
            max_steps=self.max_steps,
            max_parallel_steps=self.max_parallel_steps,
            step_timeout_s=self.step_timeout,
            task_timeout_s=self.task_timeout,
            replan=self.replan,
            allow_code_execution=self.code_execution,
        )


def env_name(name: str, field: FieldInfo) -> str:
    """The environment variable a setting is read from."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()


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
    """The settings of a ``relay.toml``; unknown keys are an error, so a typo is not ignored."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    known = set(RelaySettings.model_fields) - ENV_ONLY
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
    """Settings from ``flags`` (None means not given) over the environment, ``.env`` and the
    config file (``config_file``, else ``relay.toml`` in ``cwd`` if there is one)."""
    cwd = cwd or Path.cwd()
    load_dotenv_file(cwd / ENV_FILE)
    path = config_file or cwd / CONFIG_FILE
    file_values = read_config_file(path) if config_file or path.is_file() else {}
    given = {k: v for k, v in flags.items() if v is not None}
    token = _FILE_VALUES.set(file_values)
    try:
        return RelaySettings(**given)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    finally:
        _FILE_VALUES.reset(token)


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad setting and what is wrong with it (never the value: it may be
    a secret)."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        problems.append(f"{name}: {error['msg']}")
    return "bad setting " + "; ".join(problems)


def settings_table() -> str:
    """The README's Configuration table, made from the settings themselves."""
    rows = [
        "| Setting | Flag | Environment | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in RelaySettings.model_fields.items():
        flag = "" if name in ENV_ONLY else FLAGS.get(name, "")
        key = "(environment only)" if name in ENV_ONLY else f"`{name}`"
        default = "unset" if field.default is None else f"`{_shown_default(field.default)}`"
        rows.append(
            f"| {key} | {flag} | `{env_name(name, field)}` | {default} | {field.description} |"
        )
    return "\n".join(rows)


def _shown_default(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: The flag of each setting, for the documentation (the parser is in _app).
FLAGS: dict[str, str] = {
    "model": "`--model`",
    "base_url": "`--base-url`",
    "api_key": "`--api-key`",
    "workspace": "`--workspace`",
    "step_timeout": "`--step-timeout`",
    "task_timeout": "`--task-timeout`",
    "max_steps": "`--max-steps`",
    "max_parallel_steps": "`--max-parallel-steps`",
    "replan": "`--replan`",
    "code_execution": "`--no-code-execution`",
    "image_backend": "`--image-backend`",
    "concurrency": "`--concurrency`",
    "log_level": "`--log-level`",
    "log_json": "`--log-json`",
    "request_timeout": "`--request-timeout`",
    "max_retries": "`--max-retries`",
}
