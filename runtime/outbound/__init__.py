"""Outbound HTTP to URLs that someone else chose (a model's download, a run's webhook), kept
off the machine itself, its private network and cloud metadata services: the address
checks, a URL check and an aiohttp session whose connections pass them."""

from ._addresses import (
    FORBIDDEN_IPV4,
    FORBIDDEN_IPV6,
    AllowList,
    HostFormError,
    IPAddress,
    forbidden_reason,
    normalise_host,
    parse_ip_host,
)
from ._guard import (
    OutboundRefused,
    VettingResolver,
    failure_reason,
    guarded_session,
    show_url,
    vet_url,
)

__all__ = [
    "FORBIDDEN_IPV4",
    "FORBIDDEN_IPV6",
    "AllowList",
    "HostFormError",
    "IPAddress",
    "OutboundRefused",
    "VettingResolver",
    "failure_reason",
    "forbidden_reason",
    "guarded_session",
    "normalise_host",
    "parse_ip_host",
    "show_url",
    "vet_url",
]
