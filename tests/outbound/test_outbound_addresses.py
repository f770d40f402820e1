"""The address classifier and host parsing behind the outbound SSRF checks (downloads, webhooks)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.runtime.outbound import AllowList, HostFormError, forbidden_reason, parse_ip_host

# Written out here, independently of the module's own tables, from the IANA registries.
FORBIDDEN_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
FORBIDDEN_V6 = [
    "::1/128",
    "::/128",
    "::/96",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
    "2001:db8::/32",
    "2001::/32",
    "100::/64",
    "64:ff9b:1::/48",
]


def addresses_in(network: str) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    net = ipaddress.ip_network(network)
    first, last = int(net.network_address), int(net.broadcast_address)
    kind = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    return st.integers(first, last).map(kind)


any_forbidden_v4 = st.one_of(*[addresses_in(n) for n in FORBIDDEN_V4])
any_forbidden_v6 = st.one_of(*[addresses_in(n) for n in FORBIDDEN_V6])


@given(any_forbidden_v4)
def test_every_forbidden_ipv4_address_is_refused(address: ipaddress.IPv4Address) -> None:
    assert forbidden_reason(address) is not None


@given(any_forbidden_v6)
def test_every_forbidden_ipv6_address_is_refused(address: ipaddress.IPv6Address) -> None:
    assert forbidden_reason(address) is not None


@given(any_forbidden_v4)
def test_ipv6_wrappings_of_forbidden_ipv4_addresses_are_refused(
    address: ipaddress.IPv4Address,
) -> None:
    value = int(address)
    wrapped = {
        "IPv4-mapped": ipaddress.IPv6Address((0xFFFF << 32) | value),
        "IPv4-compatible": ipaddress.IPv6Address(value),
        "NAT64": ipaddress.IPv6Address((0x0064FF9B << 96) | value),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (value << 80)),
    }
    for form, v6 in wrapped.items():
        reason = forbidden_reason(v6)
        assert reason is not None, f"{form} {v6} of {address} was allowed"


@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_any_refused_ipv4_address_is_refused_in_every_wrapping_too(
    address: ipaddress.IPv4Address,
) -> None:
    if forbidden_reason(address) is None:
        return
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | int(address))
    assert forbidden_reason(mapped) is not None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("255.255.255.255", "a reserved address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fd00::1", "a unique-local address"),
        ("fe80::1", "a link-local address"),
        ("fec0::1", "a site-local address"),
        ("::ffff:127.0.0.1", "a wrapped form of 127.0.0.1, a loopback address"),
        ("64:ff9b::a00:1", "a wrapped form of 10.0.0.1, a private address"),
        ("2002:a9fe:a9fe::", "a wrapped form of 169.254.169.254, a link-local address"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo tunnel address"),
        ("::127.0.0.1", "an IPv4-compatible IPv6 address (deprecated)"),
    ],
)
def test_refusals_name_the_kind_of_address(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "meant"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.0.01", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("3232235777", "192.168.1.1"),
    ],
)
def test_legacy_numeric_forms_are_refused_naming_the_address(host: str, meant: str) -> None:
    with pytest.raises(HostFormError, match=f"is a non-standard way of writing {meant}$"):
        parse_ip_host(host)


def test_host_parsing() -> None:
    assert parse_ip_host("127.0.0.1") == ipaddress.IPv4Address("127.0.0.1")
    assert parse_ip_host("::ffff:7f00:1") == ipaddress.IPv6Address("::ffff:127.0.0.1")
    assert parse_ip_host("example.com") is None
    assert parse_ip_host("cafe.be") is None  # hex letters, but a name
    assert parse_ip_host("deadbeef") is None
    with pytest.raises(HostFormError, match="not a valid IPv4 address"):
        parse_ip_host("1.2.3.4.5")
    with pytest.raises(HostFormError, match="not a valid IPv4 address"):
        parse_ip_host("99999999999")
    with pytest.raises(HostFormError, match="not a valid IPv6 address"):
        parse_ip_host("1:2:3")


@given(st.integers(0, 2**32 - 1))
def test_numeric_hosts_never_pass_as_names(value: int) -> None:
    """Whatever number form getaddrinfo would accept is caught as an address or refused."""
    for host in (str(value), hex(value), f"0{value:o}"):
        try:
            parsed = parse_ip_host(host)
        except HostFormError:
            continue
        assert parsed is not None


def test_allow_list_matches_hosts_as_written() -> None:
    allow = AllowList.parse(["127.0.0.1:8080", "LocalHost", "[::1]:9000", "::2", "münchen.de"])
    assert allow.allows("127.0.0.1", 8080)
    assert not allow.allows("127.0.0.1", 8081)
    assert allow.allows("localhost", 1)
    assert allow.allows("localhost.", 2)
    assert allow.allows("::1", 9000)
    assert not allow.allows("::1", 9001)
    assert allow.allows("::2", 80)
    assert allow.allows("xn--mnchen-3ya.de", 443)
    assert not allow.allows("2130706433", 8080)
    assert not AllowList.parse([]).allows("127.0.0.1", 80)


@pytest.mark.parametrize("entry", ["", ":80", "host:0", "host:99999", "host:http", "[::1]:x"])
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="allow-list entry"):
        AllowList.parse([entry])
