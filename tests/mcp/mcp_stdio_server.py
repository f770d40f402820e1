"""An MCP server relay starts as a subprocess (stdio), for the tests: ``echo``, ``env_names``
(the names of the variables the process was given) and ``exit`` (the process dies)."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("files")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def env_names() -> str:
    """The names of this process's environment variables, one per line, sorted."""
    return "\n".join(sorted(os.environ))


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def env_value(name: str) -> str:
    """One environment variable's value, or '(unset)'."""
    return os.environ.get(name, "(unset)")


@server.tool()
def exit() -> str:
    """End the server's process at once."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
