"""A real MCP server built on the SDK's low-level ``Server``, which lets a test say exactly
what goes on the wire: tool lists in pages, schemas relay cannot offer a model, results of
every content kind, and a listing that fails."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext

PNG = "iVBORw0KGgo="

GOOD = types.Tool(
    name="content", description="Every kind of content.", input_schema={"type": "object"}
)
STRUCTURED = types.Tool(
    name="structured",
    description="Structured content only.",
    input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
)
#: A schema whose own keywords are wrong: relay cannot check arguments against it, the
#: server judges them.
LOOSE = types.Tool(
    name="loose", input_schema={"type": "object", "properties": {"n": {"type": "bogus-type"}}}
)
BAD_REQUIRED = types.Tool(
    name="bad_required", input_schema={"type": "object", "required": ["missing"]}
)


class OddServer:
    """``server`` is the SDK server; ``fail_listing`` makes ``tools/list`` an error,
    ``endless`` makes it name a next page forever."""

    def __init__(self) -> None:
        self.fail_listing = False
        #: Every page names a next one.
        self.endless = False
        self.pages_served = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.server: Server[Any] = Server(
            "odd", on_list_tools=self._list_tools, on_call_tool=self._call_tool
        )

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        if self.fail_listing:
            raise RuntimeError("the tool registry is down")
        self.pages_served += 1
        if self.endless:
            return types.ListToolsResult(tools=[], next_cursor=f"page-{self.pages_served + 1}")
        if params is None or params.cursor is None:
            return types.ListToolsResult(tools=[GOOD, BAD_REQUIRED], next_cursor="page-2")
        return types.ListToolsResult(tools=[STRUCTURED, LOOSE])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        self.calls.append((params.name, arguments))
        if params.name == "structured":
            return types.CallToolResult(content=[], structured_content={"n": arguments.get("n")})
        if params.name == "loose":
            return types.CallToolResult(content=[types.TextContent(text=f"got {arguments}")])
        return types.CallToolResult(
            content=[
                types.TextContent(text="first"),
                types.ImageContent(data=PNG, mime_type="image/png"),
                types.AudioContent(data="UklGRg==", mime_type="audio/wav"),
                types.ResourceLink(name="report", uri="file:///srv/report.md"),
                types.EmbeddedResource(
                    resource=types.TextResourceContents(uri="file:///a.txt", text="inline text")
                ),
                types.EmbeddedResource(
                    resource=types.BlobResourceContents(uri="file:///b.bin", blob="AAAA")
                ),
            ]
        )
