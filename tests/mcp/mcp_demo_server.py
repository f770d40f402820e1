"""A real MCP server from the SDK, in-process, for the unit tests: tools of every approval
class, one that fails, one that reports an error, one that adds a tool and announces the
change. ``calls`` and ``listings`` count what reached it."""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations


class DemoServer(MCPServer):
    """The SDK's server, counting its tool listings (a cached list is not asked again)."""

    def __init__(self, name: str = "demo") -> None:
        super().__init__(name)
        self.listings = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def list_tools(self) -> Any:
        self.listings += 1
        return await super().list_tools()


def demo_server(name: str = "demo") -> DemoServer:
    server = DemoServer(name)
    calls = server.calls

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        calls.append(("add", {"a": a, "b": b}))
        return a + b

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=False))
    def note(text: str) -> str:
        """Keep a note (adds, never overwrites)."""
        calls.append(("note", {"text": text}))
        return f"noted: {text}"

    @server.tool()
    def wipe(path: str) -> str:
        """Delete a file (no annotations: destructive by the protocol's defaults)."""
        calls.append(("wipe", {"path": path}))
        return f"wiped {path}"

    @server.tool()
    def crash() -> str:
        """Always raises."""
        calls.append(("crash", {}))
        raise RuntimeError("the disk is on fire")

    @server.tool()
    def refuse(reason: str) -> str:
        """Reports an error result on purpose."""
        calls.append(("refuse", {"reason": reason}))
        raise ToolError(f"refused: {reason}")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def stall() -> str:
        """Never answers."""
        calls.append(("stall", {}))
        await anyio.Event().wait()
        return "never"

    @server.tool(name="files.read/v2")
    def dotted() -> str:
        """A tool whose name has characters a function name may not."""
        return "dotted"

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add the tool `extra` and announce that the tool list changed."""

        def extra() -> str:
            return "extra"

        server.add_tool(extra, name="extra", description="Added at run time.")
        await ctx.notify_tools_changed()
        return "grown"

    return server
