"""The options of a ``nats://`` bus URL, parsed without importing the NATS client (which is an
optional extra): a bad URL is refused the same way whether or not the extra is installed."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ._errors import BusConfigError
from ._memory import check_overflow, check_size
from ._stats import OverflowPolicy

NATS_SCHEMES = ("nats", "tls", "ws", "wss")
_OPTIONS = (
    "name",
    "buffer",
    "overflow",
    "publish_timeout",
    "connect_timeout",
    "reconnect_wait",
    "max_reconnects",
)


@dataclass(frozen=True)
class NatsOptions:
    """What a ``nats://`` URL says. Times are in seconds."""

    server: str
    """The server URL without the query string (may hold credentials: never log it)."""
    shown: str
    """The server URL without credentials, for messages."""
    name: str | None = None
    buffer: int = 1024
    overflow: OverflowPolicy = "block"
    publish_timeout: float = 10.0
    connect_timeout: float = 5.0
    reconnect_wait: float = 0.5
    max_reconnects: int = -1


def parse_nats_url(url: str) -> NatsOptions:
    """Parse ``nats://[user:password@]host[:port][?option=value&...]``.

    Raises:
        BusConfigError: no host, a path, a malformed query, an unknown or repeated option,
            or a bad option value.
    """
    parts = urlsplit(url)
    shown = urlunsplit((parts.scheme, parts.hostname or "", "", "", ""))
    if parts.port is not None:
        shown = f"{shown}:{parts.port}"
    try:
        port_ok = parts.hostname is not None and (parts.port is None or parts.port > 0)
    except ValueError:
        port_ok = False
    if not port_ok:
        raise BusConfigError(f"invalid bus URL {shown!r}: {parts.scheme}:// needs host[:port]")
    if parts.path.strip("/") or parts.fragment:
        raise BusConfigError(f"invalid bus URL {shown!r}: {parts.scheme}:// takes no path")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise BusConfigError(f"invalid bus URL {shown!r}: malformed query string") from None
    options: dict[str, str] = {}
    for key, values in query.items():
        if len(values) > 1:
            raise BusConfigError(f"invalid bus URL {shown!r}: option {key!r} given twice")
        options[key] = values[0]
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise BusConfigError(
            f"invalid bus URL {shown!r}: unknown option {unknown[0]!r};"
            f" {parts.scheme}:// takes {', '.join(_OPTIONS)}"
        )
    name = options.get("name")
    if name is not None and not name:
        raise BusConfigError(f"invalid bus URL {shown!r}: name must not be empty")
    max_reconnects = int(_number(shown, options, "max_reconnects", -1, int))
    if max_reconnects < -1:
        raise BusConfigError(
            f"invalid bus URL {shown!r}: max_reconnects must be -1 (forever) or >= 0,"
            f" got {max_reconnects}"
        )
    return NatsOptions(
        server=urlunsplit((parts.scheme, parts.netloc, "", "", "")),
        shown=shown,
        name=name,
        buffer=check_size(int(_number(shown, options, "buffer", 1024, int))),
        overflow=check_overflow(options.get("overflow", "block")),
        publish_timeout=_seconds(shown, options, "publish_timeout", 10.0),
        connect_timeout=_seconds(shown, options, "connect_timeout", 5.0),
        reconnect_wait=_seconds(shown, options, "reconnect_wait", 0.5),
        max_reconnects=max_reconnects,
    )


def _seconds(shown: str, options: dict[str, str], key: str, default: float) -> float:
    value = _number(shown, options, key, default, float)
    if not 0 < value < float("inf"):
        raise BusConfigError(
            f"invalid bus URL {shown!r}: {key} must be a number of seconds > 0, got {value:g}"
        )
    return value


def _number(
    shown: str, options: dict[str, str], key: str, default: float, kind: type[float]
) -> float:
    if key not in options:
        return default
    try:
        return kind(options[key])
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise BusConfigError(
            f"invalid bus URL {shown!r}: {key} must be {noun}, got {options[key]!r}"
        ) from None
