"""The daemon: relay behind an HTTP API, with runs stored in SQLite so that they survive
restarts (``relay serve``), and a client for it (``RelayClient``, ``RelayClientSync``).

The API's models are imported with the package; the client (and with it aiohttp) on first
use of its names (PEP 562 ``__getattr__``), so ``relay --help``, which reads the daemon's
settings, never pays for aiohttp.
"""

from typing import TYPE_CHECKING

import lazy_loader

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

if TYPE_CHECKING:
    from ._client import RelayClient as RelayClient
    from ._client_errors import RelayClientError as RelayClientError
    from ._client_errors import RelayConnectionError as RelayConnectionError
    from ._client_events import Reconnect as Reconnect
    from ._client_sync import RelayClientSync as RelayClientSync

_lazy_getattr, _lazy_dir, _lazy_all = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_client": ["RelayClient"],
        "_client_errors": ["RelayClientError", "RelayConnectionError"],
        "_client_events": ["Reconnect"],
        "_client_sync": ["RelayClientSync"],
    },
)
__getattr__ = _lazy_getattr

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


def __dir__() -> list[str]:
    return sorted(__all__)
