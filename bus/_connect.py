"""Open a bus from a URL, so configuration can name its transport."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ._bus import Bus
from ._errors import BusConfigError
from ._memory import InMemoryBus, check_overflow, check_size
from ._nats_url import NATS_SCHEMES, parse_nats_url

_SUPPORTED = "memory:// (options: buffer, overflow, route_cache) and nats:// (see connect())"


def connect(url: str) -> Bus:
    """Return the bus a URL names.

    - ``memory://`` a new :class:`InMemoryBus`; options in the query string, e.g.
      ``memory://?buffer=256&overflow=drop_oldest``;
    - ``nats://[user:password@]host[:port]`` (or ``tls://``, ``ws://``, ``wss://``) a
      :class:`NatsBus`, not yet connected: it connects when entered (``async with bus``).
      Options: ``name`` (the client name the server shows), ``buffer`` and ``overflow``
      (subscription defaults, as for memory://), ``publish_timeout`` (seconds a publish may
      wait for the server through an outage, default 10), ``connect_timeout`` (seconds,
      default 5), ``reconnect_wait`` (seconds between reconnect attempts, default 0.5),
      ``max_reconnects`` (-1, the default, for ever). Needs ``pip install 'agent-relay[nats]'``.

    Raises:
        BusConfigError: the URL is not a str, names another scheme, has a host (memory://) or
            lacks one (nats://), has a path, a malformed query, an unknown or repeated option
            or a bad option value; or names NATS without the ``nats`` extra installed.
    """
    if not isinstance(url, str):
        raise BusConfigError(f"bus URL must be a str, not {type(url).__name__}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in NATS_SCHEMES:
        return _nats_bus(url)
    if scheme != "memory":
        raise BusConfigError(f"unsupported bus URL {url!r}: supported schemes are {_SUPPORTED}")
    if parts.netloc or parts.path.strip("/"):
        raise BusConfigError(f"invalid bus URL {url!r}: memory:// takes no host or path")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise BusConfigError(f"invalid bus URL {url!r}: malformed query string") from None
    options: dict[str, str] = {}
    for key, values in query.items():
        if len(values) > 1:
            raise BusConfigError(f"invalid bus URL {url!r}: option {key!r} given twice")
        options[key] = values[0]
    unknown = sorted(set(options) - {"buffer", "overflow", "route_cache"})
    if unknown:
        raise BusConfigError(
            f"invalid bus URL {url!r}: unknown option {unknown[0]!r};"
            " memory:// takes buffer, overflow, route_cache"
        )
    return InMemoryBus(
        buffer=check_size(_int_option(url, options, "buffer", 1024)),
        overflow=check_overflow(options.get("overflow", "block")),
        route_cache=check_size(_int_option(url, options, "route_cache", 4096), "route_cache"),
    )


def _int_option(url: str, options: dict[str, str], key: str, default: int) -> int:
    if key not in options:
        return default
    try:
        return int(options[key])
    except ValueError:
        raise BusConfigError(
            f"invalid bus URL {url!r}: {key} must be an integer, got {options[key]!r}"
        ) from None


def _nats_bus(url: str) -> Bus:
    options = parse_nats_url(url)
    try:
        from ._nats import NatsBus
    except ImportError:
        raise BusConfigError(
            f"cannot open {options.shown}: the NATS transport needs the nats extra:"
            " pip install 'agent-relay[nats]'"
        ) from None
    return NatsBus(options)
