"""The one clock that stamps events and results."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time as an aware ``datetime`` in UTC."""
    return datetime.now(UTC)
