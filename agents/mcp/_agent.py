"""``McpAgent``: the planner's way to the tools of the runtime's MCP servers.

It has no tools of its own; each step gets every configured server's tools (``mcp_servers``
is ``"all"``), narrowed by ``mcp_allow`` / ``mcp_deny`` if given. A runtime without MCP
servers leaves it out, unless it is named, which is then an error at start-up.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from .._base import AssistantAgent


class McpAgent(AssistantAgent):
    name: ClassVar[str] = "mcp"
    description: ClassVar[str] = (
        "uses the tools of the MCP servers relay is configured with (external services, "
        "data sources and applications connected through the Model Context Protocol)"
    )
    instructions: ClassVar[str] = (
        "You complete the task with the tools you are given; each tool's name starts with "
        "the name of the server it belongs to. Use only what the tools return: when a tool "
        "fails, say so and what it answered. Finish with a short summary of what you did "
        "and what you found."
    )
    mcp_servers: tuple[str, ...] | Literal["all"] = "all"
