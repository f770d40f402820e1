"""What the daemon's client raises: the server's refusal, or no server to talk to.

::

    RelayError
    └── RelayClientError              the server refused the request, or replied nonsense
        └── RelayConnectionError      no connection, or it kept dropping
"""

from __future__ import annotations

from .._errors import RelayError


class RelayClientError(RelayError):
    """A request to a relay daemon failed. ``str()`` is one line for a person.

    ``status``: the HTTP status (``None`` when no reply came); ``code``: the server's
    machine-readable code from its ``ErrorBody`` (``not_found``, ``unauthorized``...), or the
    client's own (``bad_reply``, ``unreachable``, ``invalid_request``); ``message``: the
    server's line, without the client's prefix.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class RelayConnectionError(RelayClientError):
    """The daemon could not be reached, or its connection dropped and kept dropping."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=None, code="unreachable")
