"""Which IP addresses an outbound request may connect to, and how hosts are named in URLs.

A request to a URL that someone else chose (a model's download, a run's webhook) must never
reach the machine it runs on, its private network or a cloud metadata service, whatever
name, number form or IPv6 wrapping the URL uses to point there. The checks here are pure
functions of an address or a host string; ``_guard`` applies them to every URL before a
request and to every address a host name resolves to, right before connecting.

Python's own ``is_global``/``is_private`` flags disagree across patch releases for the
embedded-IPv4 ranges (``::ffff:0:0/96``, ``64:ff9b::/96``, ``2002::/16``), so the forbidden
networks are listed here explicitly and ``is_global`` is only the final catch-all.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

#: IPv4 special-purpose networks (IANA registry) and what to call them in a message.
FORBIDDEN_IPV4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.0.0.0/24"), "a reserved address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a reserved address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)

#: IPv6 special-purpose networks. The embedded-IPv4 ranges are handled before these.
FORBIDDEN_IPV6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "an unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("::/96"), "an IPv4-compatible IPv6 address (deprecated)"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("2001::/32"), "a Teredo tunnel address"),
    (_V6("2001::/23"), "a reserved address"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("3fff::/20"), "a documentation address"),
    (_V6("5f00::/16"), "a reserved address"),
    (_V6("fc00::/7"), "a unique-local address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)

_IPV4_MAPPED = _V6("::ffff:0:0/96")
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")


def forbidden_reason(address: IPAddress) -> str | None:
    """Say why a request may not connect to ``address`` ("a private address"), or None.

    IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by the
    address they carry, because that is where the packets end up.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_reason(address)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = _ipv4_reason(embedded)
        return None if reason is None else f"a wrapped form of {embedded}, {reason}"
    for network, label in FORBIDDEN_IPV6:
        if address in network:
            return label
    return None if address.is_global else "not a public address"


def _ipv4_reason(address: ipaddress.IPv4Address) -> str | None:
    for network, label in FORBIDDEN_IPV4:
        if address in network:
            return label
    return None if address.is_global else "not a public address"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _IPV4_MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


class HostFormError(ValueError):
    """A URL names its host in a form that is refused (e.g. ``0x7f000001``)."""


# Hosts made of these characters may be one of the legacy numeric IPv4 forms that
# getaddrinfo (through inet_aton) accepts: 2130706433, 0x7f000001, 0177.0.0.1, 127.1.
_MAYBE_NUMERIC = re.compile(r"[0-9a-fA-FxX.]+")
_DIGITS_AND_DOTS = re.compile(r"[0-9.]+")


def parse_ip_host(host: str) -> IPAddress | None:
    """Return the address a URL host names literally, or None when it is a host name.

    ``host`` is the host as a URL carries it, without brackets. Legacy numeric IPv4 forms
    are refused with ``HostFormError`` rather than normalised: no honest URL uses them, and
    they are a classic way to slip a loopback address past a naive check.
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise HostFormError(f"{host!r} is not a valid IPv6 address") from None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        pass
    if _MAYBE_NUMERIC.fullmatch(host):
        try:
            packed = socket.inet_aton(host)
        except OSError:
            packed = None
        if packed is not None:
            meant = ipaddress.IPv4Address(packed)
            raise HostFormError(f"{host!r} is a non-standard way of writing {meant}")
    if _DIGITS_AND_DOTS.fullmatch(host):
        raise HostFormError(f"{host!r} is not a valid IPv4 address")
    return None


def normalise_host(host: str) -> str:
    """The comparable form of a host: lowercase, no trailing dot, IDNA, canonical IPs."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    try:
        return host.encode("idna").decode("ascii")  # as URLs carry it: xn--mnchen-3ya.de
    except UnicodeError:
        return host


@dataclass(frozen=True)
class AllowList:
    """Hosts a user explicitly permits, private addresses or not.

    Entries are ``"host"`` (any port) or ``"host:port"``; ``host`` is a name or an IP
    address, IPv6 in brackets when a port follows (``"[::1]:8080"``, or bare ``"::1"``).
    An entry matches the host as the URL names it, not the addresses a name resolves to:
    allowing ``"127.0.0.1"`` does not allow ``localhost``, nor a public name that resolves
    to 127.0.0.1.
    """

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def parse(cls, hosts: Iterable[str]) -> AllowList:
        """The allow list of ``hosts`` entries.

        Raises:
            ValueError: an entry names no host or has an invalid port (one line, naming it).
        """
        return cls(frozenset(_parse_entry(entry) for entry in hosts))

    def allows(self, host: str, port: int | None) -> bool:
        """Whether ``host`` (as a URL names it, without brackets) on ``port`` is allowed."""
        if not self.entries:
            return False
        name = normalise_host(host)
        return (name, None) in self.entries or (name, port) in self.entries


def _parse_entry(entry: str) -> tuple[str, int | None]:
    text = entry.strip()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _parse_port(entry, rest.removeprefix(":"))
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _parse_port(entry, port_text)
    if not host:
        raise ValueError(f"allow-list entry {entry!r} names no host")
    return normalise_host(host), port


def _parse_port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"allow-list entry {entry!r} has an invalid port")
    return int(text)
