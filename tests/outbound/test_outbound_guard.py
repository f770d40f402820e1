"""The outbound guard on its own: ``vet_url`` and a ``guarded_session`` against a real server
on 127.0.0.1, refusing what its caller did not vet, redirects included."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from agent_relay.runtime import AllowList, OutboundRefused, guarded_session, show_url, vet_url
from agent_relay.runtime.testing import serve_on_loopback

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[int]:
    """The port of a server whose ``/ok`` says ok and ``/go?to=URL`` redirects there."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def go(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": request.query["to"]})

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/go", go)
    runner, port = await serve_on_loopback(app)
    try:
        yield port
    finally:
        await runner.cleanup()


def test_vet_url_passes_public_and_allowed_urls() -> None:
    allow = AllowList.parse(["127.0.0.1:8080"])
    assert str(vet_url("https://example.com/a?b=c", allow)) == "https://example.com/a?b=c"
    assert str(vet_url("http://127.0.0.1:8080/x", allow)) == "http://127.0.0.1:8080/x"
    assert vet_url("http://93.184.215.14/", AllowList()).host == "93.184.215.14"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8081/x", "refused: 127.0.0.1 is a loopback address"),
        ("gopher://example.com/", "refused: gopher: URLs cannot be fetched; only http and https"),
        ("https://u:p@example.com/", "refused: URLs with a user name or password are not fetched"),
        ("http:///x", "refused: the URL has no host"),
        ("http://[fe80::1]/", "refused: fe80::1 is a link-local address"),
        ("http://[::ffff:10.0.0.1]/", "refused: ::ffff:a00:1 is a wrapped form of 10.0.0.1"),
        ("http://u:p@example.com:99999/?k=v", "not a valid URL: 'http://example.com:99999/'"),
    ],
)
def test_vet_url_refusals_are_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        vet_url(url, AllowList.parse(["127.0.0.1:8080"]))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert ":p@" not in str(caught.value) and "k=v" not in str(caught.value)


def test_redirect_refusals_say_so_and_the_verb_is_the_callers() -> None:
    with pytest.raises(OutboundRefused, match=r"^refused redirect: 10\.0\.0\.1 is a private"):
        vet_url("http://10.0.0.1/", AllowList(), redirect=True)
    with pytest.raises(OutboundRefused, match="ftp: URLs cannot be sent to; only http"):
        vet_url("ftp://x/", AllowList(), verb="sent to")


def test_show_url_drops_credentials_query_and_fragment() -> None:
    from yarl import URL

    assert show_url(URL("https://u:p@example.com/a/b?token=t#frag")) == "https://example.com/a/b"
    assert len(show_url(URL("https://example.com/" + "a" * 300))) == 100


async def test_the_session_itself_refuses_an_unvetted_address(server: int) -> None:
    async with guarded_session(AllowList()) as session:
        with pytest.raises(OutboundRefused, match=r"refused: 127\.0\.0\.1 is a loopback address"):
            await session.get(f"http://127.0.0.1:{server}/ok")


async def test_the_session_refuses_names_that_resolve_to_forbidden_addresses(
    server: int,
) -> None:
    async with guarded_session(AllowList.parse([f"127.0.0.1:{server}"])) as session:
        with pytest.raises(OutboundRefused, match="refused: localhost resolves to"):
            await session.get(f"http://localhost:{server}/ok")


async def test_the_session_reaches_allowed_hosts(server: int) -> None:
    allow = AllowList.parse([f"127.0.0.1:{server}"])
    async with (
        guarded_session(allow, headers={"User-Agent": "probe"}) as session,
        session.get(f"http://127.0.0.1:{server}/ok") as response,
    ):
        assert (response.status, await response.text()) == (200, "ok")


async def test_redirects_the_session_follows_are_vetted_too(server: int) -> None:
    allow = AllowList.parse([f"127.0.0.1:{server}"])
    async with guarded_session(allow) as session:
        # Allowed target: followed.
        async with session.get(
            f"http://127.0.0.1:{server}/go?to=http://127.0.0.1:{server}/ok"
        ) as response:
            assert await response.text() == "ok"
        # Another port of the same address is not allowed: refused before connecting.
        target = f"http://127.0.0.1:{server + 1}/ok"
        with pytest.raises(OutboundRefused, match=r"refused redirect: 127\.0\.0\.1 is a loopback"):
            await session.get(f"http://127.0.0.1:{server}/go?to={target}")
        with pytest.raises(
            OutboundRefused, match=r"refused redirect: 169\.254\.169\.254 is a link"
        ):
            await session.get(f"http://127.0.0.1:{server}/go?to=http://169.254.169.254/")
