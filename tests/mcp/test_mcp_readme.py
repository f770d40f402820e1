"""The README's MCP example configuration is one relay reads as it is written."""

from __future__ import annotations

import re
from pathlib import Path

from agent_relay.runtime.cli._config import load_settings
from agent_relay.runtime.mcp import McpServers

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_relay_toml_configures_two_servers(tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("## MCP servers", 1)[1]
    found = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the section has no relay.toml example"
    (tmp_path / "relay.toml").write_text(found.group(1), encoding="utf-8")
    settings = load_settings({}, cwd=tmp_path)
    servers = McpServers(settings.mcp_servers)
    files, tickets = servers.configs
    assert (files.name, files.transport, files.command) == ("files", "stdio", "npx")
    assert (tickets.name, tickets.transport, tickets.timeout_s) == ("tickets", "http", 30)
    assert "Bearer" not in repr(tickets)
