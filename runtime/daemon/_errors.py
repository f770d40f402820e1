"""The one error the daemon's handlers raise for a bad request: an HTTP status, a code a
program can act on, and a line for a person. Never a traceback."""

from __future__ import annotations

from .._errors import RelayError


class ApiError(RelayError):
    """A request the daemon refuses: ``status`` (4xx), ``code`` (e.g. ``not_found``),
    ``message`` (one line); ``headers`` go into the reply (``Retry-After``)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
