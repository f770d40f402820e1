"""Pydantic's complaints in a person's words: one place that turns a validation error into
the line relay shows, for settings and for the daemon's requests alike."""

from __future__ import annotations

from pydantic_core import ErrorDetails

# What pydantic puts before the message of an error raised in a validator of ours.
_PREFIXES = ("Value error, ", "Assertion failed, ")


def problem(error: ErrorDetails) -> str:
    """``error``'s message as a person reads it (our validators' messages without
    pydantic's prefix)."""
    message = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message
