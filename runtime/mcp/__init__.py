"""MCP (Model Context Protocol) servers as sources of tools for relay's agents.

Configure servers as ``McpServer`` (a command relay starts, or a Streamable HTTP URL) and
give them to ``Runtime(mcp_servers=...)`` (or ``mcp_servers`` in ``relay.toml``); agents
attach them by name (``AssistantAgent(mcp_servers=["files"])``) or use the ``mcp`` agent,
whose tools are every configured server's. Tool names are ``<server>__<tool>``.

The MCP SDK (the ``mcp`` extra) is imported only when a session opens, so configuring
servers costs nothing until one is used.
"""

from ._config import McpConfigError, McpServer, mcp_servers_from
from ._connection import McpConnection, McpServerError, result_text
from ._names import prefixed_name
from ._servers import McpServers, tool_is_risky

__all__ = [
    "McpConfigError",
    "McpConnection",
    "McpServer",
    "McpServerError",
    "McpServers",
    "mcp_servers_from",
    "prefixed_name",
    "result_text",
    "tool_is_risky",
]
