"""Streamable HTTP against a real SDK server on a loopback port (uvicorn, as the SDK serves
it): tools listed and called, the configured headers sent with every request, the list
refreshed when the server announces a change, and an endpoint that is not there one clear
error."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
import uvicorn
from mcp.server.mcpserver import Context
from mcp_demo_server import DemoServer, demo_server

from agent_relay.runtime.mcp import McpServer, McpServerError, McpServers


@asynccontextmanager
async def serving(server: DemoServer) -> AsyncIterator[str]:
    """The server's Streamable HTTP app on a free loopback port; yields its URL."""

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The Authorization header the request came with."""
        headers = ctx.headers or {}
        return headers.get("authorization", "(none)")

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        server.streamable_http_app(), log_level="warning", lifespan="on", loop="none"
    )
    web = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(web.serve, [sock])
        with anyio.fail_after(20):
            while not web.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            web.should_exit = True


async def test_tools_over_streamable_http_with_headers() -> None:
    demo = demo_server("remote")
    async with serving(demo) as url:
        config = McpServer(name="remote", url=url, headers={"Authorization": "Bearer s3cret-token"})
        assert "s3cret-token" not in repr(config) and "s3cret-token" not in config.describe()
        async with McpServers([config]) as mcp:
            tools = {t.name: t for t in await mcp.tools()}
            assert await tools["remote__add"].call('{"a": 20, "b": 22}') == "42"
            assert await tools["remote__whoami"].call("{}") == "Bearer s3cret-token"
            crashed = await tools["remote__crash"].call("{}")
            assert crashed.startswith("error: ")

            listings = demo.listings
            await mcp.tools()
            assert demo.listings == listings, "cached"
            assert await tools["remote__grow"].call("{}") == "grown"
            with anyio.fail_after(10):
                while "remote__extra" not in {t.name for t in await mcp.tools()}:
                    await anyio.sleep(0.01)


async def test_an_endpoint_that_is_not_there_is_one_clear_error() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    config = McpServer(name="gone", url=f"http://127.0.0.1:{port}/mcp?key=abc", connect_timeout_s=5)
    async with McpServers([config]) as mcp:
        with pytest.raises(McpServerError) as caught:
            await mcp.tools()
    message = str(caught.value)
    assert message.startswith(f"MCP server gone (http://127.0.0.1:{port}/mcp) is not reachable:")
    assert "key=abc" not in message and "\n" not in message
