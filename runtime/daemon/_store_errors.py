"""The run store's errors: each ``str()`` is one line a person can act on, safe to log."""

from __future__ import annotations

from .._errors import RelayError


class StoreError(RelayError):
    """The run store cannot do what was asked: its file is not a relay store or is of a newer
    relay, a batch could not be written (nothing of it was), or the store is closed."""


class IdempotencyConflict(StoreError):
    """An idempotency key came back with a different request than the one it was first used
    for. ``run_id`` is the run the key belongs to."""

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class BadCursor(StoreError, ValueError):
    """A pagination cursor that this store did not give out (or that was altered)."""
