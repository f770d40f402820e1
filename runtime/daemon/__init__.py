"""The daemon: relay behind an HTTP API, with runs stored in SQLite so that they survive
restarts (``relay serve``), and a client for it (``RelayClient``, ``RelayClientSync``); its
signed webhooks and its Prometheus metrics.

The names are imported on first use (see ``agent_relay.runtime``): the API's models need only
pydantic, while the webhooks bring aiohttp and the metrics prometheus_client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from ._api import ApprovalAnnouncement as ApprovalAnnouncement
    from ._api import ApprovalView as ApprovalView
    from ._api import ErrorBody as ErrorBody
    from ._api import ErrorDetail as ErrorDetail
    from ._api import Health as Health
    from ._api import InputUpload as InputUpload
    from ._api import RunAccepted as RunAccepted
    from ._api import RunDelta as RunDelta
    from ._api import RunEvent as RunEvent
    from ._api import RunList as RunList
    from ._api import RunOverrides as RunOverrides
    from ._api import RunRequest as RunRequest
    from ._api import RunStatus as RunStatus
    from ._api import RunView as RunView
    from ._client import RelayClient as RelayClient
    from ._client_errors import RelayClientError as RelayClientError
    from ._client_errors import RelayConnectionError as RelayConnectionError
    from ._client_events import Reconnect as Reconnect
    from ._client_sync import RelayClientSync as RelayClientSync
    from ._config import DaemonConfig as DaemonConfig
    from ._config import DaemonConfigError as DaemonConfigError
    from ._daemon import Daemon as Daemon
    from ._metrics import METRICS_CONTENT_TYPE as METRICS_CONTENT_TYPE
    from ._metrics import DaemonMetrics as DaemonMetrics
    from ._store import RunStore as RunStore
    from ._store_errors import BadCursor as BadCursor
    from ._store_errors import IdempotencyConflict as IdempotencyConflict
    from ._store_errors import StoreError as StoreError
    from ._store_types import Delivery as Delivery
    from ._store_types import NewEvent as NewEvent
    from ._store_types import RunRecord as RunRecord
    from ._webhooks import EVENT_HEADER as EVENT_HEADER
    from ._webhooks import SIGNATURE_HEADER as SIGNATURE_HEADER
    from ._webhooks import DeliveryKind as DeliveryKind
    from ._webhooks import DeliveryOutcome as DeliveryOutcome
    from ._webhooks import WebhookConfig as WebhookConfig
    from ._webhooks import WebhookRetry as WebhookRetry
    from ._webhooks import WebhookSender as WebhookSender
    from ._webhooks import sign as sign
    from ._webhooks import signature_header as signature_header
    from ._webhooks import verify as verify

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_api": [
            "ApprovalAnnouncement",
            "ApprovalView",
            "ErrorBody",
            "ErrorDetail",
            "Health",
            "InputUpload",
            "RunAccepted",
            "RunDelta",
            "RunEvent",
            "RunList",
            "RunOverrides",
            "RunRequest",
            "RunStatus",
            "RunView",
        ],
        "_client": ["RelayClient"],
        "_client_errors": ["RelayClientError", "RelayConnectionError"],
        "_client_events": ["Reconnect"],
        "_client_sync": ["RelayClientSync"],
        "_config": ["DaemonConfig", "DaemonConfigError"],
        "_daemon": ["Daemon"],
        "_metrics": ["DaemonMetrics", "METRICS_CONTENT_TYPE"],
        "_store": ["RunStore"],
        "_store_errors": ["BadCursor", "IdempotencyConflict", "StoreError"],
        "_store_types": ["Delivery", "NewEvent", "RunRecord"],
        "_webhooks": [
            "DeliveryKind",
            "DeliveryOutcome",
            "EVENT_HEADER",
            "SIGNATURE_HEADER",
            "WebhookConfig",
            "WebhookRetry",
            "WebhookSender",
            "sign",
            "signature_header",
            "verify",
        ],
    },
)
