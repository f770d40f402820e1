"""A small web server on 127.0.0.1 serving what the download tests need, good and bad."""

from __future__ import annotations

from types import TracebackType

import anyio
from aiohttp import web

from agent_relay.agents.image._png import encode_png
from agent_relay.runtime.testing import serve_on_loopback

#: A real 4x3 PNG.
PNG_BYTES = encode_png(4, 3, bytes(range(36)))
#: The first bytes of a JPEG (enough for any sniffer).
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
HTML_BYTES = b"<!doctype html><html><body>not an image</body></html>"


class FakeWeb:
    """Routes (all GET):

    ``/image.png`` a PNG; ``/photo`` a PNG under a name without extension; ``/file.txt``
    text; ``/html-as-png`` HTML claiming image/png; ``/jpeg-as-png`` a JPEG claiming PNG;
    ``/page.html`` HTML; ``/vector.svg`` SVG; ``/tiny-as-png`` three bytes claiming PNG;
    ``/big/{n}`` n bytes with a Content-Length; ``/stream/{n}`` n bytes, chunked, no length;
    ``/slow`` headers then a byte every 50 ms forever; ``/hang`` never answers; ``/cut`` a
    body shorter than its Content-Length; ``/redirect?to=URL[&status=N]``; ``/loop``
    redirects to itself; ``/status/{n}`` answers status n.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """The allow-list entry for this server."""
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeWeb:
        app = web.Application(middlewares=[self._record])
        fixed = {
            "/image.png": (PNG_BYTES, "image/png"),
            "/photo": (PNG_BYTES, "image/png"),
            "/file.txt": (b"hello from the web\n", "text/plain"),
            "/html-as-png": (HTML_BYTES, "image/png"),
            "/jpeg-as-png": (JPEG_BYTES, "image/png"),
            "/page.html": (HTML_BYTES, "text/html"),
            "/vector.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
            "/tiny-as-png": (b"\x89PN", "image/png"),
        }
        for path, (body, content_type) in fixed.items():
            app.router.add_get(path, _fixed(body, content_type))
        app.router.add_get("/big/{n}", self._big)
        app.router.add_get("/stream/{n}", self._stream)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/hang", self._hang)
        app.router.add_get("/cut", self._cut)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/status/{n}", self._status)
        # Handlers are cancelled when the client goes away, so endless bodies end with it.
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
        self.requests.append(request.path_qs)
        return await handler(request)

    async def _big(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"b" * int(request.match_info["n"]), content_type="text/plain")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        left = int(request.match_info["n"])
        while left > 0:
            step = min(left, 8192)
            await response.write(b"s" * step)
            left -= step
        await response.write_eof()
        return response

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        while True:
            await response.write(b".")
            await anyio.sleep(0.05)

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def _cut(self, request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "text/plain", "Content-Length": "1000"}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        await response.write(b"only ten b")
        assert request.transport is not None
        request.transport.close()
        return response

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def _loop(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": "/loop"})

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=int(request.match_info["n"]), text="no")


def _fixed(body: bytes, content_type: str) -> web.Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, headers={"Content-Type": content_type})

    return handler
