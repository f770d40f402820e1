"""Errors of the assistant layer. Each ``str()`` is one line that says what to do."""

from __future__ import annotations

from .._errors import RelayError


class AssistantError(RelayError):
    """Base class of the assistant layer's errors."""


class NotFoundError(AssistantError, LookupError):
    """An id names nothing this backend knows."""


class AgentNotFoundError(NotFoundError):
    """No agent has this id (never created, or deleted)."""


class ThreadNotFoundError(NotFoundError):
    """No thread has this id."""


class RunNotFoundError(NotFoundError):
    """No run has this id."""


class RunStateError(AssistantError):
    """The run is not in a state that allows the operation (e.g. submitting tool outputs to a
    run that does not require action, or starting a run on a thread that has an active one)."""


class ToolOutputsMismatchError(AssistantError, ValueError):
    """Submitted tool outputs do not match the run's pending tool calls; nothing was applied
    and the run still requires action."""


class InvalidRequestError(AssistantError, ValueError):
    """A request is well-formed but cannot be served as asked."""


class RunTimeoutError(AssistantError, TimeoutError):
    """Waiting for a run took longer than the caller's timeout; ``run_id`` names the run."""

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class TooManyRunsError(AssistantError):
    """The backend already holds as many active runs as it is allowed."""


class ManagerClosedError(AssistantError):
    """The agent manager is not open: use it as ``async with AgentManager(...) as manager``."""


class BackendNotAvailableError(AssistantError):
    """The requested backend does not exist or cannot be used here."""
