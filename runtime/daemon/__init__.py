"""The daemon: relay behind an HTTP API, with runs stored in SQLite so that they survive
restarts (``relay serve``), and a client for it."""

from ._api import (
    ErrorBody,
    ErrorDetail,
    InputUpload,
    RunAccepted,
    RunEvent,
    RunList,
    RunOverrides,
    RunRequest,
    RunStatus,
    RunView,
)

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "InputUpload",
    "RunAccepted",
    "RunEvent",
    "RunList",
    "RunOverrides",
    "RunRequest",
    "RunStatus",
    "RunView",
]
