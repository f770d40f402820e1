"""Serving an aiohttp application on a loopback port, the way every fake server here does."""

from __future__ import annotations

from aiohttp import web


async def serve_on_loopback(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Start ``app`` on ``host:port`` (port 0 picks a free one) and return its runner, whose
    ``cleanup()`` stops it, and the port it listens on.

    Handlers are cancelled when their client goes away and shutdown waits at most half a
    second, so a slow or endless reply that nobody waits for does not hold a test up.
    """
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
