"""Pydantic's complaints in a person's words: one place that turns a validation error into
the line relay shows, for settings and for the daemon's requests alike."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from agent_relay.bus import one_line

# What pydantic puts before the message of an error raised in a validator of ours.
_PREFIXES = ("Value error, ", "Assertion failed, ")


def problem(error: ErrorDetails) -> str:
    """``error``'s message as a person reads it (our validators' messages without
    pydantic's prefix)."""
    message = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def first_problem(exc: ValidationError, whole: str = "body") -> str:
    """The first problem in ``exc`` in one line, where it is first (``whole`` when it is the
    value as a whole), and how many more there are."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or whole
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return one_line(f"{where}: {problem(error)}{more}", 300)
