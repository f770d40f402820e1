"""The MCP agent: its tools are those of the MCP servers the runtime is configured with."""

from ._agent import McpAgent

__all__ = ["McpAgent"]
