"""What relay makes of the wire: tool lists in pages, schemas it cannot offer a model (left
out, with a warning), one it cannot check arguments against (the server judges them),
results of every content kind, a listing that fails, and the older handshake protocol,
whose change notifications refresh the cached list."""

from __future__ import annotations

import anyio
import pytest
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context
from mcp_demo_server import DemoServer
from mcp_odd_server import OddServer

from agent_relay.runtime.mcp import McpServer, McpServerError, McpServers

ODD = McpServer(name="odd", command="unused-in-process")


async def test_pages_are_read_and_tools_relay_cannot_offer_are_left_out(
    caplog_loguru: list[str],
) -> None:
    odd = OddServer()
    async with McpServers([ODD], in_process={"odd": odd.server}) as mcp:
        names = [t.name for t in await mcp.tools()]
    assert names == ["odd__content", "odd__structured", "odd__loose"]
    assert odd.pages_served == 2
    left_out = [line for line in caplog_loguru if "left out" in line]
    assert len(left_out) == 1
    assert "'bad_required'" in left_out[0] and "required names unknown" in left_out[0]


async def test_every_content_kind_becomes_text_the_model_reads() -> None:
    odd = OddServer()
    async with McpServers([ODD], in_process={"odd": odd.server}) as mcp:
        tools = {t.name: t for t in await mcp.tools()}
        content = await tools["odd__content"].call("{}")
        structured = await tools["odd__structured"].call('{"n": 7}')
        # relay cannot check arguments against a broken schema: the server gets them as given
        loose = await tools["odd__loose"].call('{"n": "anything"}')
    assert content.splitlines() == [
        "first",
        "[image image/png, 12 base64 characters]",
        "[audio audio/wav, 8 base64 characters]",
        "[resource file:///srv/report.md: report]",
        "inline text",
        "[binary resource file:///b.bin]",
    ]
    assert structured == '{"n": 7}'
    assert loose == "got {'n': 'anything'}"


async def test_a_listing_that_fails_is_one_clear_error() -> None:
    odd = OddServer()
    odd.fail_listing = True
    async with McpServers([ODD], in_process={"odd": odd.server}) as mcp:
        with pytest.raises(McpServerError) as caught:
            await mcp.tools()
    assert str(caught.value).startswith("MCP server odd (stdio: unused-in-process) could not list")
    assert "\n" not in str(caught.value)


async def test_a_listing_without_end_is_cut_off_with_an_error() -> None:
    odd = OddServer()
    odd.endless = True
    async with McpServers([ODD], in_process={"odd": odd.server}) as mcp:
        with pytest.raises(McpServerError, match="lists its tools in more than 100 pages"):
            await mcp.tools()
    assert odd.pages_served == 100


async def test_the_legacy_handshake_works_and_its_notification_refreshes_the_list(
    demo: DemoServer,
) -> None:
    # The server declares that it announces changes to its tool list (a capability the
    # SDK's high-level server leaves off on older protocols).
    lowlevel = demo._lowlevel_server
    declare = lowlevel.create_initialization_options
    lowlevel.create_initialization_options = lambda *a, **k: declare(  # type: ignore[method-assign]
        NotificationOptions(tools_changed=True)
    )

    async def legacy_grow(ctx: Context) -> str:
        demo.add_tool(lambda: "late", name="late")
        await ctx.session.send_tool_list_changed()
        return "grown"

    demo.add_tool(legacy_grow, name="legacy_grow")
    config = McpServer(name="demo", command="unused-in-process", protocol="legacy")
    async with McpServers([config], in_process={"demo": demo}) as mcp:
        tools = {t.name: t for t in await mcp.tools()}
        await mcp.tools()
        assert demo.listings == 1, "cached: the server said it announces changes"
        assert await tools["demo__add"].call('{"a": 1, "b": 2}') == "3"
        assert await tools["demo__legacy_grow"].call("{}") == "grown"
        with anyio.fail_after(10):
            while "demo__late" not in {t.name for t in await mcp.tools()}:
                await anyio.sleep(0.01)
