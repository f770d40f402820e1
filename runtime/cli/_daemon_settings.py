"""The settings of ``relay serve`` and of the commands that talk to it; ``RelaySettings``
inherits these fields, so they are set like every other (flags, ``RELAY_*``, ``.env``,
``relay.toml``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator

from .._setting import CLIENT_COMMANDS, Setting
from ..daemon._config import DaemonConfig

_DAEMON, _CLIENT = "daemon", "client"
_SERVE = frozenset({"serve"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class DaemonSettings(BaseModel):
    host: Annotated[str, Setting(_DAEMON, commands=_SERVE, metavar="ADDRESS")] = Field(
        default="127.0.0.1",
        description="address `relay serve` listens on; anything but loopback needs tokens",
    )
    port: Annotated[int, Setting(_DAEMON, commands=_SERVE, metavar="N")] = Field(
        default=8080, ge=0, le=65535, description="port `relay serve` listens on (0: any free)"
    )
    store: Annotated[Path | None, Setting(_DAEMON, commands=_SERVE, metavar="PATH")] = Field(
        default=None,
        description="the daemon's SQLite file of runs; <workspace>/relay-runs.sqlite3 if unset",
    )
    retention: Annotated[str, Setting(_DAEMON, commands=_SERVE, metavar="AGE")] = Field(
        default="7d",
        description="finished runs, their events and files are removed after this age "
        "(90s, 30m, 12h, 7d, 2w)",
    )
    tokens: Annotated[SecretStr | None, Setting(_DAEMON, env_only=True, commands=_SERVE)] = Field(
        default=None,
        description="bearer tokens the daemon accepts, comma-separated (RELAY_TOKENS); "
        "without any it listens on loopback only",
    )
    token_file: Annotated[Path | None, Setting(_DAEMON, commands=_SERVE, metavar="PATH")] = Field(
        default=None, description="a file of accepted bearer tokens, one per line"
    )
    webhook_secret: Annotated[
        SecretStr | None, Setting(_DAEMON, env_only=True, commands=_SERVE)
    ] = Field(
        default=None,
        description="signs webhook bodies (RELAY_WEBHOOK_SECRET); runs may not name a webhook "
        "without it",
    )
    webhook_allow_hosts: Annotated[
        list[str] | None, Setting(_DAEMON, commands=_SERVE, metavar="HOSTS")
    ] = Field(
        default=None,
        description="host or host:port that webhooks may reach although private or local",
    )
    max_queued_runs: Annotated[int, Setting(_DAEMON, commands=_SERVE, metavar="N")] = Field(
        default=1000, ge=1, description="runs waiting to start; past it POST /v1/runs is a 429"
    )
    max_concurrent_runs: Annotated[int, Setting(_DAEMON, commands=_SERVE, metavar="N")] = Field(
        default=16, ge=1, description="runs the daemon works on at once"
    )
    daemon_code_execution: Annotated[bool, Setting(_DAEMON, commands=_SERVE)] = Field(
        default=False,
        description="let runs submitted over HTTP execute code in the sandbox (off: the code "
        "agent writes code but never runs it); their risky tool calls then wait for approval "
        "unless approve_tools is set",
    )
    server: Annotated[str, Setting(_CLIENT, commands=CLIENT_COMMANDS, metavar="URL")] = Field(
        default="http://127.0.0.1:8080", description="the daemon the client commands talk to"
    )
    token: Annotated[
        SecretStr | None,
        Setting(
            _CLIENT,
            commands=CLIENT_COMMANDS,
            metavar="TOKEN",
            help="prefer RELAY_TOKEN: flags show up in process lists",
        ),
    ] = Field(default=None, description="the bearer token the client commands send")

    @field_validator("retention")
    @classmethod
    def _age(cls, value: str) -> str:
        seconds(value)  # refused here, where the setting is named, not when the daemon starts
        return value

    @field_validator("webhook_allow_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    def daemon_config(self) -> DaemonConfig:
        """The daemon's own settings, tokens read from ``tokens`` and ``token_file``.

        Raises:
            OSError: the token file cannot be read.
        """
        given = self.tokens.get_secret_value() if self.tokens is not None else ""
        tokens = [t.strip() for t in given.split(",")]
        if self.token_file is not None:
            tokens += [line.strip() for line in self.token_file.read_text().splitlines()]
        return DaemonConfig(
            host=self.host,
            port=self.port,
            store=self.store,
            tokens=tuple(SecretStr(t) for t in tokens if t and not t.startswith("#")),
            max_queued_runs=self.max_queued_runs,
            max_concurrent_runs=self.max_concurrent_runs,
            retention_s=seconds(self.retention),
            webhook_secret=self.webhook_secret,
            webhook_allow_hosts=tuple(self.webhook_allow_hosts or ()),
        )


def seconds(age: str) -> float:
    """``"7d"`` -> 604800.0; units s, m, h, d, w.

    Raises:
        ValueError: not such an age, or not above zero.
    """
    match = _DURATION.match(age.lower())
    if match is None:
        raise ValueError(f"{age[:40]!r} is not an age like 90s, 30m, 12h, 7d or 2w")
    if float(match.group(1)) <= 0:
        raise ValueError(f"{age[:40]!r}: finished runs must be kept for some time")
    return float(match.group(1)) * _UNIT_S[match.group(2)]
