"""The settings that place a run's parts on machines: the bus they meet on and where the
agents run. ``RelaySettings`` inherits these fields, so they are set like every other (flags,
``RELAY_*``, ``.env``, ``relay.toml``).

``relay run`` and ``relay serve`` are masters: with ``workers = "local"`` (the default) they
run the agents in their own process too, with ``"remote"`` none, so every step goes to a
``relay worker`` on the same bus. ``relay worker`` takes the bus and the work queue's
``ack_wait`` and ``max_deliver``; it has no ``workers`` of its own.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from agent_relay.bus import BusConfigError, connect

from .._setting import WORKER_COMMANDS, Setting

_GROUP = "bus and workers"
_MASTERS = frozenset({"run", "serve"})
_ALL = _MASTERS | WORKER_COMMANDS
MEMORY_BUS = "memory://"

Workers = Literal["local", "remote"]


class BusSettings(BaseModel):
    bus: Annotated[str, Setting(_GROUP, commands=_ALL, metavar="URL")] = Field(
        default=MEMORY_BUS,
        description="the bus the master and its agents meet on: memory:// (one process) or "
        "nats://host:port (a nats-server with JetStream; workers on other machines)",
    )
    workers: Annotated[Workers, Setting(_GROUP, commands=_MASTERS, metavar="WHERE")] = Field(
        default="local",
        description="where the agents run: local (in this process, as well as in any "
        "`relay worker` on the bus) or remote (only in `relay worker` processes; needs a "
        "nats:// bus)",
    )
    ack_wait: Annotated[float, Setting(_GROUP, commands=_ALL, metavar="S")] = Field(
        default=30.0,
        gt=0,
        description="seconds a step may go without news from the worker that took it before "
        "it is delivered to another (nats:// only)",
    )
    max_deliver: Annotated[int, Setting(_GROUP, commands=_ALL, metavar="N")] = Field(
        default=3,
        ge=1,
        le=100,
        description="deliveries of a step to workers before it fails (nats:// only)",
    )

    @field_validator("bus", mode="before")
    @classmethod
    def _url(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        url = value.strip() or MEMORY_BUS
        try:
            # Only parsed here: a nats:// bus connects when a command enters it.
            connect(url)
        except BusConfigError as exc:
            # A ValueError, which pydantic reports under the setting's key; a URL's password
            # is never repeated (the message may quote the URL as given).
            raise ValueError(_without_password(str(exc), url)) from None
        return url

    @field_validator("workers", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("workers")
    @classmethod
    def _remote_needs_network(cls, value: Workers, info: ValidationInfo) -> Workers:
        # ``bus`` is validated first (declared first); it is missing when it was refused.
        bus = info.data.get("bus")
        if value == "remote" and isinstance(bus, str) and is_memory_bus(bus):
            raise ValueError(
                "remote runs no agent in this process, so its steps must reach `relay worker` "
                "processes over a nats:// bus: give --bus nats://host:port"
            )
        return value


def _without_password(message: str, url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed netloc (a bad port): nothing can be told apart
        password = None
    return message.replace(password, "***") if password else message


def is_memory_bus(url: str) -> bool:
    """Whether ``url`` names the in-memory bus (``memory://`` with or without options)."""
    return url.lower().startswith(MEMORY_BUS)
