"""Ids that are unique across processes and sort by creation time: one generator, two
spellings.

Every id is made of the same three parts: milliseconds since the epoch (never going
backwards within a process), a sequence number within that millisecond, and a random tag
chosen per process. A forked child chooses a new tag (``os.register_at_fork``), so parent
and child never make the same id. Sorting ids of one spelling as strings sorts them by
creation time (to the millisecond across processes, and exactly within one).

- :func:`new_event_id`, for every event: 32 lowercase hex characters, 48 bits of time, 32 of
  sequence, 48 of tag.
- :func:`new_short_id`, for what people read and what names folders (task ids, assistant
  ids): ``prefix`` and 19 characters of base 32 (``0-9a-v``, lowercase, so they sort as the
  numbers do and stay distinct on case-insensitive file systems), 45 bits of time, 10 of
  sequence, 40 of tag. With a 40-bit tag, the chance that any two of a thousand processes
  share one is below one in two million, and even then their ids differ unless they are
  made in the same millisecond with the same sequence number.
"""

from __future__ import annotations

import os
import secrets
import time

_MAX_SEQUENCE = 2**10 - 1  # what the short spelling holds; a busier millisecond borrows the next
_DIGITS = "0123456789abcdefghijklmnopqrstuv"
_SHORT_TIME_DIGITS = 9  # 45 bits
_SHORT_REST_DIGITS = 10  # 10 bits of sequence and 40 of tag

_last_ms = 0
_sequence = 0


def _new_tag() -> int:
    return secrets.randbits(48)


_tag = _new_tag()
_event_tag = f"{_tag:012x}"


def _renew_after_fork() -> None:
    # Only the tag: the new tag is what keeps the child's ids apart from its parent's. The
    # clock and the sequence go on from the parent's, so that the child's ids still sort
    # after every id the parent made before the fork, even within the same millisecond.
    global _tag, _event_tag
    _tag = _new_tag()
    _event_tag = f"{_tag:012x}"


os.register_at_fork(after_in_child=_renew_after_fork)


def _tick() -> tuple[int, int]:
    """The next (milliseconds, sequence): strictly increasing within the process."""
    global _last_ms, _sequence
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:  # a clock stepped back keeps the last time, so ids keep their order
        _last_ms, _sequence = ms, 0
    elif _sequence < _MAX_SEQUENCE:
        _sequence += 1
    else:
        _last_ms, _sequence = _last_ms + 1, 0
    return _last_ms, _sequence


def new_event_id() -> str:
    """A new event id: 32 lowercase hex characters, unique across processes and sortable by
    creation time (see the module docstring)."""
    ms, sequence = _tick()
    return f"{ms:012x}{sequence:08x}{_event_tag}"


def new_short_id(prefix: str = "") -> str:
    """A new id of ``prefix`` and 19 characters (``0-9a-v``), unique across processes and
    sortable by creation time: e.g. ``new_short_id("t")`` is a task id of 20 characters,
    usable as a topic token and a directory name. ``prefix`` is not checked."""
    ms, sequence = _tick()
    return (
        prefix
        + _base32(ms, _SHORT_TIME_DIGITS)
        + _base32((sequence << 40) | (_tag & (2**40 - 1)), _SHORT_REST_DIGITS)
    )


def _base32(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        digits.append(_DIGITS[value & 31])
        value >>= 5
    return "".join(reversed(digits))
