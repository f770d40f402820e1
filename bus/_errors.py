"""The errors the bus raises on purpose, and ``RelayError``, the root of every error relay
raises on purpose. It lives here because the bus is the lowest layer; the runtime re-exports
it, and the whole tree is drawn once, in ``agent_relay.runtime._errors``.

Every error has a one-line ``str()`` that says what went wrong, safe to print or publish.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base class of every error relay (bus, runtime and agents) raises on purpose."""


class BusError(RelayError):
    """Base class of every error the bus raises on purpose."""


class BusClosedError(BusError):
    """The bus (or the subscription) is closed: no more publishing, subscribing or waiting."""


class InvalidTopicError(BusError, ValueError):
    """A topic or subscription pattern breaks the topic grammar."""


class BusConfigError(BusError, ValueError):
    """A bus URL, subscription option or actor setting is not valid."""


class RequestTimeoutError(BusError, TimeoutError):
    """No reply to a request arrived within its timeout."""


class NoRespondersError(BusError):
    """A request was made on a topic that nobody subscribes to."""


class EventDataError(BusError, TypeError):
    """Event data is not JSON (or raw bytes are not a valid event).

    It derives from ``TypeError`` rather than ``ValueError`` so that pydantic lets it through
    unchanged from a validator: the caller gets this one-line error, not a wrapped report.
    """
