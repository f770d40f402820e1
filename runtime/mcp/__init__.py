"""MCP (Model Context Protocol) servers as sources of tools for relay's agents.

Configure servers as ``McpServer`` (a command relay starts, or a Streamable HTTP URL) and
give them to ``Runtime(mcp_servers=...)`` (or ``mcp_servers`` in ``relay.toml``); agents
attach them by name (``AssistantAgent(mcp_servers=["files"])``) or use the ``mcp`` agent,
whose tools are every configured server's. Tool names are ``<server>__<tool>``.

The names are imported on first use and the MCP SDK (the ``mcp`` extra) only when a session
opens: the command line reads the configuration without either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from ._config import McpConfigError as McpConfigError
    from ._config import McpServer as McpServer
    from ._config import mcp_servers_from as mcp_servers_from
    from ._connection import McpConnection as McpConnection
    from ._connection import McpServerError as McpServerError
    from ._connection import result_text as result_text
    from ._names import prefixed_name as prefixed_name
    from ._servers import McpServers as McpServers
    from ._servers import tool_is_risky as tool_is_risky

# The public names, by the module (relative to this package) that defines each; each is
# imported on first use (lazy_loader, SPEC 1).
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_config": ["McpConfigError", "McpServer", "mcp_servers_from"],
        "_connection": ["McpConnection", "McpServerError", "result_text"],
        "_names": ["prefixed_name"],
        "_servers": ["McpServers", "tool_is_risky"],
    },
)
