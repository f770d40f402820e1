"""Approvals as a person reads them at the terminal: a request (a plan as a table of its
steps; a tool call as who calls what, with its arguments, a ``code`` argument highlighted in
its ``language``), one line per decision, and the lines of the final report.

Everything a model wrote goes into ``Text`` and ``Syntax`` objects, never into markup, and the
console makes it printable (see ``_console``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from agent_relay.bus import one_line

from ..engine._approvals import ApprovalDecision, ApprovalRecord, ApprovalRequest

#: A string argument longer than this, or with a line break, is shown as a block of its own.
_INLINE_CHARS = 80
#: What a block shows of one argument; the rest is counted.
_BLOCK_CHARS = 6000
#: Pygments' names for the languages the code agent runs.
_LEXERS = {"shell": "bash", "sh": "bash"}


def request_view(request: ApprovalRequest, *, waiting: int = 1) -> RenderableType:
    """The whole question: a rule naming the approval's id (and how many wait), what is asked,
    why and until when. ``waiting``: the requests pending now, this one included."""
    title = Text.assemble(("approval ", "bold"), (request.id, "bold yellow"))
    if waiting > 1:
        title.append(f"  (1 of {waiting} waiting)", style="dim")
    parts: list[RenderableType] = [Rule(title, align="left", style="yellow")]
    if request.kind == "plan":
        steps = request.plan or []
        parts.append(
            Text(
                f"The plan ({len(steps)} step{'s' * (len(steps) != 1)}) waits for your approval "
                "before any step starts:"
            )
        )
        parts.append(plan_table(steps))
    else:
        parts.append(
            Text.assemble(
                (request.agent or "an agent", "cyan"),
                " in step ",
                (request.step_id or "?", "bold"),
                " wants to call ",
                (request.tool or "?", "bold"),
                ":",
            )
        )
        parts += _arguments(request.tool or "", request.arguments or {})
    parts.append(Text(f"why asked: {one_line(request.reason, 300)}", style="dim"))
    if request.expires_at is not None:
        parts.append(Text(_expiry(request, request.expires_at), style="dim"))
    return Group(*parts)


def plan_table(steps: Sequence[dict[str, Any]]) -> Table:
    """A plan's steps: id, agent, prompt (whole, wrapped) and the steps each depends on."""
    table = Table(box=None, padding=(0, 1), header_style="dim", expand=True)
    table.add_column("step", no_wrap=True, style="bold", min_width=4)
    table.add_column("agent", no_wrap=True, style="cyan", min_width=5)
    table.add_column("prompt", ratio=1, overflow="fold")
    table.add_column("depends on", no_wrap=False, style="dim")
    for step in steps:
        depends = step.get("depends_on") or []
        table.add_row(
            Text(str(step.get("id", "?"))),
            Text(str(step.get("agent", "?"))),
            Text(_cut(str(step.get("prompt", "")))),
            Text(", ".join(str(d) for d in depends) if isinstance(depends, list) else ""),
        )
    return table


def _arguments(tool: str, arguments: dict[str, Any]) -> list[RenderableType]:
    """One line per short argument (``name: value`` as JSON); a long or multi-line string
    as a block under its name; a ``code`` argument highlighted in the call's ``language``."""
    if not arguments:
        return [Padding(Text("(no arguments)", style="dim"), (0, 0, 0, 2))]
    language = arguments.get("language")
    shown: list[RenderableType] = []
    for name, value in arguments.items():
        label = Text(f"{name}:", style="bold")
        if name == "code" and isinstance(value, str) and isinstance(language, str):
            lexer = _LEXERS.get(language.lower(), language.lower())
            # The terminal's own background: a theme's would be a dark block on a light one.
            code = Syntax(
                _cut(value.rstrip("\n")),
                lexer,
                line_numbers=True,
                word_wrap=True,
                background_color="default",
            )
            shown += [Padding(label, (0, 0, 0, 2)), Padding(code, (0, 0, 0, 4))]
        elif isinstance(value, str) and (len(value) > _INLINE_CHARS or "\n" in value):
            shown += [Padding(label, (0, 0, 0, 2)), Padding(Text(_cut(value)), (0, 0, 0, 4))]
        else:
            text = json.dumps(value, ensure_ascii=False, default=str)
            if len(text) > _INLINE_CHARS:  # a long list or object: indented, one item a line
                block = _cut(json.dumps(value, ensure_ascii=False, default=str, indent=2))
                shown += [Padding(label, (0, 0, 0, 2)), Padding(Text(block), (0, 0, 0, 4))]
            else:
                shown.append(Padding(Text.assemble(label, " ", text), (0, 0, 0, 2)))
    return shown


def _cut(text: str) -> str:
    if len(text) <= _BLOCK_CHARS:
        return text
    return text[:_BLOCK_CHARS] + f"\n[… {len(text) - _BLOCK_CHARS} more characters]"


def _expiry(request: ApprovalRequest, expires_at: datetime) -> str:
    # The clock time, in local time: a countdown printed once would be stale as it is read.
    at = expires_at.astimezone().strftime("%H:%M:%S")
    if request.on_expiry == "fail":
        then = "the task fails" if request.kind == "plan" else "the step fails"
    else:
        then = "the task is cancelled" if request.kind == "plan" else "the call is rejected"
    return f"expires at {at}; then {then}"


def subject(request: ApprovalRequest) -> str:
    """What a request is about, in a few words: ``the plan (3 steps)``,
    ``s1 code: execute_code``."""
    if request.kind == "plan":
        n = len(request.plan or [])
        return f"the plan ({n} step{'s' * (n != 1)})"
    return f"{request.step_id} {request.agent}: {request.tool}"


def decision_line(
    request: ApprovalRequest, decision: ApprovalDecision, *, arguments: bool = True
) -> Text:
    """One line saying how a request was decided: ``✓ approved ap-… s1 code: execute_code
    {"language": ...} (by --yes)``; a rejection or expiry with its reason. ``arguments``: show
    the call's arguments (as edited, if they were)."""
    mark, style = {
        "approved": ("✓", "green"),
        "rejected": ("⊗", "red"),
        "expired": ("⌛", "yellow"),
    }.get(decision.outcome, ("·", "dim"))
    line = Text.assemble((mark, style), " ", (decision.outcome, style), f" {request.id} ")
    line.append(subject(request))
    given = decision.arguments if decision.arguments is not None else request.arguments
    if arguments and request.kind == "tool" and given:
        edited = " edited to" if decision.arguments is not None else ""
        line.append(f"{edited} {one_line(json.dumps(given, default=str), 160)}", style="dim")
    if decision.reason and decision.outcome != "approved":
        line.append(f": {one_line(decision.reason, 200)}")
    if decision.by:
        line.append(f" (by {one_line(decision.by, 60)})", style="dim")
    return line


def report_lines(records: Sequence[ApprovalRecord]) -> list[Text]:
    """The report's lines: the counts, then each request not approved with why."""
    counts = {
        outcome: sum(r.state == outcome for r in records)
        for outcome in ("approved", "rejected", "expired", "withdrawn", "pending")
    }
    shown = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)
    lines = [Text(f"  {len(records)} asked: {shown}")]
    for record in records:
        if record.decision is not None and record.decision.outcome in ("rejected", "expired"):
            line = decision_line(record.request, record.decision, arguments=False)
            line.pad_left(2)
            line.no_wrap, line.overflow = True, "ellipsis"
            lines.append(line)
    return lines
