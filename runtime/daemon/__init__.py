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
from ._store import RunStore
from ._store_errors import BadCursor, IdempotencyConflict, StoreError
from ._store_types import Delivery, NewEvent, RunRecord

__all__ = [
    "BadCursor",
    "Delivery",
    "ErrorBody",
    "ErrorDetail",
    "IdempotencyConflict",
    "InputUpload",
    "NewEvent",
    "RunAccepted",
    "RunEvent",
    "RunList",
    "RunOverrides",
    "RunRecord",
    "RunRequest",
    "RunStatus",
    "RunStore",
    "RunView",
    "StoreError",
]
