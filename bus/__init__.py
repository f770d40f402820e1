"""The message bus: events, topics, transports and actors. Knows nothing of agents or models.

Events are published on dot-separated topics and delivered to subscribers whose pattern
matches (``*`` one token, ``>`` the rest), in memory or over NATS (``NatsBus``, with the
``nats`` extra), with the same API: :func:`connect` picks the transport from a URL.
"""

from typing import TYPE_CHECKING, Any

from loguru import logger as _logger

from ._actor import ERRORS_TOPIC, Actor, handler
from ._bus import Bus
from ._connect import connect
from ._errors import (
    BusClosedError,
    BusConfigError,
    BusError,
    EventDataError,
    InvalidTopicError,
    NoRespondersError,
    RelayError,
    RequestTimeoutError,
)
from ._event import Event
from ._ids import new_event_id, new_short_id
from ._memory import InMemoryBus
from ._stats import BusStats, OverflowPolicy, SubscriptionStats
from ._subscription import Subscription
from ._text import one_line, printable
from ._time import utc_now
from ._topics import topic_matches, validate_pattern, validate_topic
from ._trusted import trusted
from ._work import (
    MemoryWorkQueue,
    WorkConsumer,
    WorkItem,
    WorkQueue,
    open_work_queue,
)

if TYPE_CHECKING:
    from ._nats import NatsBus

__all__ = [
    "ERRORS_TOPIC",
    "Actor",
    "Bus",
    "BusClosedError",
    "BusConfigError",
    "BusError",
    "BusStats",
    "Event",
    "EventDataError",
    "InMemoryBus",
    "InvalidTopicError",
    "MemoryWorkQueue",
    "NatsBus",
    "NoRespondersError",
    "OverflowPolicy",
    "RelayError",
    "RequestTimeoutError",
    "Subscription",
    "SubscriptionStats",
    "WorkConsumer",
    "WorkItem",
    "WorkQueue",
    "connect",
    "handler",
    "new_event_id",
    "new_short_id",
    "one_line",
    "open_work_queue",
    "printable",
    "topic_matches",
    "trusted",
    "utc_now",
    "validate_pattern",
    "validate_topic",
]


def __getattr__(name: str) -> Any:
    # NatsBus needs the optional nats client, so it is imported only when asked for.
    if name == "NatsBus":
        from ._nats import NatsBus

        return NatsBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# A library stays quiet unless the application that hosts it asks for its logs, as loguru
# recommends: ``logger.enable("agent_relay.bus")``. The ``relay`` command line enables them.
_logger.disable("agent_relay.bus")

if __name__ != "agent_relay.bus":
    # The repository's folder imported under its own name (say, ``import bus`` from the
    # project's root) would be a second copy of relay whose classes are not relay's own.
    raise ImportError(
        f"relay installs this as agent_relay.bus; it is not importable as {__name__!r}"
    )
