"""How a daemon is run: where it listens, who may call it, and the bounds of everything.

``DaemonConfig`` holds what only the daemon needs; the engine's limits are the runtime's
``RuntimeSettings``, which are also the ceilings of a run's own overrides.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .._errors import RelayError


class DaemonConfigError(RelayError):
    """The daemon cannot start as configured (one line says why)."""


class DaemonConfig(BaseModel):
    """The daemon's own settings. Sizes in bytes, times in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port")
    store: Path | None = Field(
        default=None, description="the SQLite file; <workspace>/relay-runs.sqlite3 if unset"
    )
    tokens: tuple[SecretStr, ...] = Field(
        default=(), description="bearer tokens accepted; none = loopback only"
    )
    max_body_bytes: int = Field(default=16 * 2**20, ge=1024)
    max_queued_runs: int = Field(default=1000, ge=1, description="runs waiting to start")
    max_concurrent_runs: int = Field(default=16, ge=1, description="runs in flight at once")
    max_subscribers_per_run: int = Field(default=32, ge=1)
    ping_interval_s: float = Field(default=15.0, gt=0)
    max_wait_s: float = Field(default=300.0, gt=0, description="longest /wait allowed")
    retention_s: float = Field(
        default=7 * 86400.0, gt=0, description="age after which finished runs are removed"
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="signs webhook bodies; webhooks are refused without one"
    )
    webhook_allow_hosts: tuple[str, ...] = Field(
        default=(), description="host or host:port webhooks may reach though private/local"
    )
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_first_delay_s: float = Field(
        default=5.0, gt=0, le=600, description="wait before the first retry; doubles per attempt"
    )

    def store_path(self, workspace: Path) -> Path:
        return self.store if self.store is not None else workspace / "relay-runs.sqlite3"

    def check_exposure(self) -> None:
        """Without tokens, only a loopback address may be bound.

        Raises:
            DaemonConfigError: no tokens and ``host`` is not a loopback address.
        """
        if self.tokens:
            return
        if self.host == "localhost":
            return
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise DaemonConfigError(
                f"refusing to listen on {self.host} without tokens: anyone who can reach it "
                "could run tasks; set RELAY_TOKENS (or --token-file), or listen on 127.0.0.1"
            )
