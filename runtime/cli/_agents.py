"""``relay agents``: the agents registered under the ``relay.agents`` entry points, where each
comes from, and the ones that fail to load: as rows, and once more as an error line on stderr,
with a non-zero exit, so a script notices; the others are listed all the same."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent_relay.bus import one_line, printable

from ..engine._registry import ENTRY_POINT_GROUP, find_agents
from ._logging import redact


@dataclass(frozen=True)
class AgentRow:
    entry_point: str  # "image = agents:ImageAgent"
    package: str  # "agent-relay 0.1.0"
    name: str = ""
    description: str = ""
    error: str | None = None


def agent_rows() -> tuple[list[AgentRow], list[str]]:
    """A row per entry point, sorted by name, and an error line per broken one."""
    catalog = find_agents()
    rows = [
        AgentRow(info.entry_point, info.package, info.name, one_line(info.description))
        for info in catalog.agents.values()
    ]
    rows += [
        AgentRow(f"{b.name} = {b.value}", b.package, b.name, error=b.error) for b in catalog.broken
    ]
    return sorted(rows, key=lambda r: r.name), [b.describe() for b in catalog.broken]


def agents_command(console: Console) -> int:
    rows, errors = agent_rows()
    if not rows:
        console.print(f"no agents registered under the {ENTRY_POINT_GROUP!r} entry points")
        return 1
    if console.is_terminal:
        table = Table(title="relay agents", title_justify="left", header_style="bold")
        table.add_column("agent", style="bold cyan", no_wrap=True)
        table.add_column("description")
        table.add_column("entry point", style="dim", no_wrap=True)
        table.add_column("package", style="dim", no_wrap=True)
        for row in rows:
            cell = (
                Text(row.description)
                if row.error is None
                else Text(f"failed to load: {row.error}", style="red")
            )
            table.add_row(row.name, cell, row.entry_point, row.package)
        console.print(table)
    else:
        for row in rows:
            what = row.description if row.error is None else f"ERROR failed to load: {row.error}"
            console.print(
                Text(f"{row.name}: {what} [entry point {row.entry_point}; {row.package}]"),
                soft_wrap=True,
                highlight=False,
            )
    for error in errors:
        sys.stderr.write(f"relay: error: {printable(redact(error))}\n")
    return 1 if errors else 0
