"""The daemon: relay behind an HTTP API, with runs stored in SQLite so that they survive
restarts (``relay serve``), and a client for it."""

from ._api import (
    ErrorBody,
    ErrorDetail,
    Health,
    InputUpload,
    RunAccepted,
    RunEvent,
    RunList,
    RunOverrides,
    RunRequest,
    RunStatus,
    RunView,
)
from ._client import RelayClient
from ._client_errors import RelayClientError, RelayConnectionError
from ._client_events import Reconnect
from ._client_sync import RelayClientSync

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "InputUpload",
    "Reconnect",
    "RelayClient",
    "RelayClientError",
    "RelayClientSync",
    "RelayConnectionError",
    "RunAccepted",
    "RunEvent",
    "RunList",
    "RunOverrides",
    "RunRequest",
    "RunStatus",
    "RunView",
]
