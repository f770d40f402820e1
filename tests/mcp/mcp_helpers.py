"""Helpers of the MCP tests: the stdio server script's configuration."""

from __future__ import annotations

import sys
from pathlib import Path

from agent_relay.runtime.mcp import McpServer

STDIO_SERVER = Path(__file__).with_name("mcp_stdio_server.py")


def stdio_config(name: str = "files", **fields: object) -> McpServer:
    """The stdio test server, started with this interpreter (it needs no environment: a
    virtual environment's interpreter finds its packages by its own path)."""
    return McpServer.model_validate(
        {"name": name, "command": sys.executable, "args": [str(STDIO_SERVER)], **fields}
    )
