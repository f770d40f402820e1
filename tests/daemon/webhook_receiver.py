"""A webhook receiver on 127.0.0.1 that records what it gets and answers as told."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import anyio
from aiohttp import web

from agent_relay.runtime.testing import serve_on_loopback


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """Routes (POST): ``/ok`` 204; ``/status/{n}`` answers n with a short text;
    ``/echo-secret?s=..`` 400 whose body repeats ``s``; ``/big`` 500 with a 1 MiB body;
    ``/hang`` never answers; ``/redirect?to=URL`` 307 to URL. ``received`` has every request
    in order; ``hung`` is set once ``/hang`` has its request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.hung = anyio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """The allow-list entry for this receiver."""
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/ok", self._ok)
        app.router.add_post("/status/{n}", self._status)
        app.router.add_post("/echo-secret", self._echo)
        app.router.add_post("/big", self._big)
        app.router.add_post("/hang", self._hang)
        app.router.add_post("/redirect", self._redirect)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: web.Handler) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path_qs, dict(request.headers), body))
        return await handler(request)

    async def _ok(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=int(request.match_info["n"]), text="receiver\nis down")

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=400, text=f"bad secret {request.query['s']}")

    async def _big(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, body=b"x" * (1024 * 1024))

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        self.hung.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=307, headers={"Location": request.query["to"]})
