"""Requests to URLs that someone else chose, kept off the machine and its private network.

A URL from a model, a web page or a run's webhook setting may point at localhost, the
private network or a cloud metadata service (server-side request forgery). ``vet_url``
checks a URL before any request: http(s) only, no credentials, and a host given as an IP
address is judged as written. A host *name* is judged by the addresses it resolves to at
connection time, inside the connector's resolver (``VettingResolver``), so a connection can
only go to addresses that passed the check: there is no window for DNS rebinding between a
check and the connect. ``guarded_session`` builds an aiohttp session wired that way, and
also vets every URL it is asked for, so a caller that forgot ``vet_url`` is still covered.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from types import SimpleNamespace

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from .._errors import RelayError
from ._addresses import AllowList, HostFormError, forbidden_reason, parse_ip_host


class OutboundRefused(RelayError):
    """A URL may not be requested: its scheme, its credentials, or where its host points.

    The message is one line and safe to show (no credentials, no query string).
    """


def vet_url(
    url: str | URL,
    allow: AllowList,
    *,
    verb: str = "fetched",
    redirect: bool = False,
) -> URL:
    """``url`` parsed, once it may be requested.

    ``verb`` completes the refusals of schemes and credentials ("file: URLs cannot be
    *fetched*"); ``redirect`` says the URL came from a redirect ("refused redirect: ...").
    A host that ``allow`` permits (as the URL names it, port included) is not judged
    further; any other IP-literal host must be a public address. Host names are judged
    later, by ``VettingResolver``, when they are resolved to connect.

    Raises:
        OutboundRefused: not a valid URL; not http or https; a user name or password in it;
            no host; a host written as a legacy numeric form (``0x7f000001``) or a
            forbidden address (loopback, private, link-local, metadata, ...).
    """
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        port = parsed.port  # an out-of-range port is only noticed here
    except (ValueError, TypeError):
        raise OutboundRefused(f"not a valid URL: {_shown_text(str(url))!r}") from None
    refused = "refused redirect: " if redirect else "refused: "
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        what = f"{scheme}: URLs" if scheme else "relative URLs"
        raise OutboundRefused(f"{refused}{what} cannot be {verb}; only http and https")
    if parsed.user is not None or parsed.password is not None:
        raise OutboundRefused(f"{refused}URLs with a user name or password are not {verb}")
    host = parsed.raw_host
    if not host:
        raise OutboundRefused(f"{refused}the URL has no host")
    if allow.allows(host, port):
        return parsed
    try:
        address = parse_ip_host(host)
    except HostFormError as error:
        raise OutboundRefused(f"{refused}{error}") from None
    if address is not None:
        reason = forbidden_reason(address)
        if reason is not None:
            raise OutboundRefused(f"{refused}{host} is {reason}")
    return parsed


def show_url(url: URL) -> str:
    """A URL as it may appear in a message: no credentials, query or fragment, shortened
    to 100 characters (a query string may carry a token)."""
    bare = url.with_query(None).with_fragment(None)
    text = str(bare.with_user(None) if bare.absolute else bare)
    return text if len(text) <= 100 else text[:97] + "..."


_USERINFO = re.compile(r"//[^/?#@]*@")


def _shown_text(text: str) -> str:
    """An unparseable URL as a message may show it: no user info, query or fragment."""
    bare = _USERINFO.sub("//", re.split(r"[?#]", text, maxsplit=1)[0])
    return bare if len(bare) <= 100 else bare[:97] + "..."


class VettingResolver(AbstractResolver):
    """Resolves host names for a connector and refuses hosts with forbidden addresses.

    The connector connects to exactly the addresses returned here, so the check applies
    to the peer itself. IP-literal hosts never reach a resolver; ``vet_url`` judges those.
    Use it with ``use_dns_cache=False`` so that every new connection is judged afresh.

    Raises (from ``resolve``):
        OutboundRefused: the host is not allowed and resolves to a forbidden address.
        OSError: the host does not resolve (aiohttp reports it as a DNS error).
    """

    def __init__(self, allow: AllowList) -> None:
        self._allow = allow
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow.allows(host, port):
            return results
        for result in results:
            reason = forbidden_reason(ipaddress.ip_address(result["host"]))
            if reason is not None:
                # Any bad address refuses the host: a name that mixes public and private
                # addresses is exactly what a rebinding attack looks like.
                raise OutboundRefused(f"refused: {host} resolves to {result['host']}, {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded_session(
    allow: AllowList,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: aiohttp.ClientTimeout | None = None,
    limit: int = 10,
) -> aiohttp.ClientSession:
    """An aiohttp session whose every connection passes the address checks.

    Host names are vetted by a ``VettingResolver`` (no DNS cache) and every request's URL,
    including each redirect aiohttp follows, by ``vet_url``; a refusal surfaces from the
    request as ``OutboundRefused``. The session ignores proxy settings from the environment
    (the checks must see the real peer) and keeps no cookies. ``timeout`` defaults to none
    at all: callers bound their requests themselves (``anyio.move_on_after``); ``limit``
    bounds its open connections. Use it as an async context manager, inside a running loop.
    """
    trace = aiohttp.TraceConfig()

    async def vet_start(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        vet_url(params.url, allow)

    async def vet_redirect(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestRedirectParams,
    ) -> None:
        # Called before aiohttp follows the Location, with the URL that answered it.
        location = params.response.headers.get("Location")
        if location:
            try:
                target = params.url.join(URL(location))
            except ValueError:
                return  # aiohttp refuses it next, as an invalid redirect
            vet_url(target, allow, redirect=True)

    trace.on_request_start.append(vet_start)
    trace.on_request_redirect.append(vet_redirect)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            resolver=VettingResolver(allow), use_dns_cache=False, limit=limit
        ),
        headers=dict(headers or {}),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=timeout or aiohttp.ClientTimeout(total=None),
        trace_configs=[trace],
    )


def failure_reason(error: aiohttp.ClientError) -> str:
    """Why a request to someone else's URL failed, in a few words (no URL: the caller says
    which), e.g. ``cannot connect (Connection refused)``."""
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "cannot resolve its host"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.strerror or 'refused'})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without a reply"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "the reply was cut off"
    if isinstance(error, aiohttp.InvalidURL):
        return "not a valid URL"
    return type(error).__name__
