"""Event ids that are unique across processes and sort by creation time.

An id is 32 lowercase hex characters: a 48-bit millisecond timestamp, a 32-bit counter that
only grows within the process, and a 48-bit random tag chosen per process (and again in a
forked child). Sorting ids as strings sorts them by creation time; within one process the
order is exactly the creation order. Generating one costs a clock read and a string format,
because every event gets one.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time

_counter = itertools.count()
_last_ms = 0
_last_ms_hex = f"{_last_ms:012x}"


def _new_process_tag() -> str:
    return secrets.token_hex(6)


_process_tag = _new_process_tag()


def _reseed_after_fork() -> None:
    global _process_tag
    _process_tag = _new_process_tag()


os.register_at_fork(after_in_child=_reseed_after_fork)


def new_event_id() -> str:
    """Return a new event id: unique, and sortable by creation time across processes."""
    global _last_ms, _last_ms_hex
    ms = time.time_ns() // 1_000_000
    # Never let the timestamp go backwards (clock steps), so ids keep sorting in order; and
    # format it only when it changes.
    if ms > _last_ms:
        _last_ms = ms
        _last_ms_hex = f"{ms:012x}"
    return f"{_last_ms_hex}{next(_counter) & 0xFFFFFFFF:08x}{_process_tag}"
