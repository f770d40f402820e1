"""``relay agents``: the agents registered under the ``relay.agents`` entry points, where each
comes from, and the ones that fail to load (as rows, not as a crash)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent_relay.bus import one_line

from ..engine._agent import Agent
from ..engine._registry import ENTRY_POINT_GROUP


@dataclass(frozen=True)
class AgentRow:
    entry_point: str  # "image = agents:ImageAgent"
    package: str  # "agent-relay 0.1.0"
    name: str = ""
    description: str = ""
    error: str | None = None


def agent_rows() -> list[AgentRow]:
    rows = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        package = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown"
        where = f"{ep.name} = {ep.value}"
        try:
            obj = ep.load()
        except Exception as exc:  # importing someone's package can fail in any way
            rows.append(AgentRow(where, package, ep.name, error=f"{type(exc).__name__}: {exc}"))
            continue
        if not (isinstance(obj, type) and issubclass(obj, Agent)):
            rows.append(AgentRow(where, package, ep.name, error="not an Agent subclass"))
            continue
        rows.append(AgentRow(where, package, obj.name, one_line(obj.description)))
    return rows


def agents_command(console: Console) -> int:
    rows = agent_rows()
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
    return 1 if any(row.error for row in rows) else 0
