"""Counters of the bus and its subscriptions, as immutable snapshots."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

OverflowPolicy = Literal["block", "drop_oldest", "drop_newest"]
"""What a subscription does when its buffer is full and another event arrives:

- ``"block"``: the publisher waits until there is room (backpressure; nothing is lost);
- ``"drop_oldest"``: the oldest buffered event is dropped to make room;
- ``"drop_newest"``: the arriving event is dropped.

Drops are counted in the stats and logged (at most once a second per subscription).
"""


class SubscriptionStats(BaseModel):
    """A snapshot of one subscription's counters."""

    model_config = ConfigDict(frozen=True)

    pattern: str
    queue: str | None
    overflow: OverflowPolicy
    buffer_size: int
    """How many events the buffer holds at most."""
    buffered: int
    """How many events wait in the buffer now."""
    delivered: int
    """Events put into the buffer since the subscription began."""
    received: int
    """Events the subscriber has taken out of the buffer."""
    dropped: int
    """Events lost to the overflow policy (or discarded by an early ``aclose()``)."""
    closed: bool


class BusStats(BaseModel):
    """A snapshot of a bus's counters; cheap to take at any time."""

    model_config = ConfigDict(frozen=True)

    published: int
    """Events published."""
    delivered: int
    """Event deliveries into subscription buffers (one event reaches many subscribers)."""
    dropped: int
    """Events lost to overflow policies, over all subscriptions, past and present."""
    subscriptions: int
    """Open subscriptions."""
    blocked_publishers: int
    """Publishers waiting for buffer room right now."""
    closed: bool
    subscription_stats: tuple[SubscriptionStats, ...]
    """Per open subscription, including how full its buffer is."""
