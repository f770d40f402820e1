"""The end of a run as a person reads it: the status, the answer, each step's outcome, the
approvals asked for and the artifacts with their paths. Styled on a terminal, the same lines
as plain text otherwise.

Everything a model wrote is put into ``Text`` objects, never into markup, so a model cannot
inject console markup or escape codes.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.style import Style
from rich.text import Text

from agent_relay.bus import one_line

from ..engine._result import StepResult, TaskResult
from ..engine._steps import Artifact
from ._approval_views import report_lines
from ._console import print_whole

STATUS_GLYPHS = {
    "completed": ("✓", "green"),
    "partial": ("!", "yellow"),
    "failed": ("✗", "red"),
    "skipped": ("↷", "yellow"),
    "cancelled": ("⊘", "magenta"),
    "rejected": ("⊗", "red"),
    "running": ("•", "cyan"),
    "queued": ("…", "blue"),
    "pending": ("·", "dim"),
}
_ANSWER_CHARS = 4000
_NOTE_CHARS = 100


def display_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to the current directory when it is inside it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to((cwd or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


def artifact_path(artifact: Artifact, task_workspace: Path) -> Path | None:
    return task_workspace / artifact.path if artifact.path else None


def glyph(status: str) -> Text:
    mark, style = STATUS_GLYPHS.get(status, ("?", "white"))
    return Text(mark, style=style)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _indented(text: str) -> RenderableType:
    # Padding, not spaces: a line that wraps at the terminal's edge keeps the indent.
    return Padding(Text(text), (0, 0, 0, 2), expand=False)


def _heading(text: str) -> Text:
    return Text(text, style="bold")


def _summary_line(result: TaskResult) -> Text:
    line = Text.assemble(glyph(result.status), " ", Text(result.status, style="bold"))
    live = [s for s in result.steps if not s.superseded]
    line.append(f" in {duration(result.duration_s)} · {len(live)} step{'s' * (len(live) != 1)}")
    if result.usage.total_tokens:
        line.append(f" · {result.usage.total_tokens:,} tokens")
    if result.replanned:
        line.append(" · replanned")
    return line


def _workdir_line(task_workspace: Path) -> Text:
    line = Text.assemble(("Working directory ", "bold"))
    shown = str(task_workspace.resolve())  # absolute: to copy into a script or another shell
    # Never cut: a path to copy is no use with its end replaced by an ellipsis.
    line.append(shown, style=Style(underline=True, link=task_workspace.resolve().as_uri()))
    return line


def step_line(step: StepResult) -> Text:
    line = Text.assemble(
        "  ",
        glyph(step.status),
        " ",
        Text(f"{step.id:<4}", style="bold"),
        " ",
        Text(f"{step.agent:<6}", style="cyan"),
        " ",
        Text(f"{duration(step.duration_s):>6}", style="dim"),
        "  ",
    )
    if step.status == "completed":
        line.append(one_line(step.output, _NOTE_CHARS) or "(no output)")
    elif step.status in ("pending", "queued", "running"):  # a run still in flight
        line.append(f"{step.status}: {one_line(step.prompt, _NOTE_CHARS)}", style="dim")
    else:
        line.append(f"{step.status}: {one_line(step.error or '', 200)}", style="red")
    if step.superseded:
        line.append(" (replaced by the revised plan)", style="dim")
    line.no_wrap, line.overflow = True, "ellipsis"
    return line


def _artifact_line(artifact: Artifact, task_workspace: Path) -> RenderableType:
    """The kind and the path (or URL) whole, on one line; the note on a line of its own
    below, indented, so a long path never pushes it off a narrow terminal."""
    line = Text.assemble("  ", Text(f"{artifact.kind:<6}", style="cyan"), " ")
    path = artifact_path(artifact, task_workspace)
    if path is not None:
        line.append(display_path(path), style=Style(underline=True, link=path.resolve().as_uri()))
    elif artifact.url:
        line.append(artifact.url, style=Style(underline=True, link=artifact.url))
    if not artifact.description:
        return line
    note = Padding(
        Text(one_line(artifact.description, _NOTE_CHARS), style="dim"), (0, 0, 0, 9), expand=False
    )
    return Group(line, note)


def report(result: TaskResult, workspace: Path) -> RenderableType:
    """The whole report of a finished task; ``workspace`` is the runtime's workspace, used
    only for a result that does not name its working directory."""
    task_workspace = Path(result.workdir) if result.workdir else workspace / result.task_id
    parts: list[RenderableType] = [_summary_line(result), _workdir_line(task_workspace)]
    if result.answer.strip():
        answer = result.answer.strip()
        if len(answer) > _ANSWER_CHARS:
            answer = answer[:_ANSWER_CHARS] + f"\n[… {len(result.answer) - _ANSWER_CHARS} more]"
        parts += [Text(), _heading("Answer"), _indented(answer)]
    if result.error and result.status != "completed":
        parts += [Text(), Text.assemble(_heading("Error "), Text(result.error, style="red"))]
    if result.steps:
        parts += [Text(), _heading("Steps")]
        parts += [step_line(s) for s in result.steps]
    if result.approvals:
        parts += [Text(), _heading("Approvals"), *report_lines(result.approvals)]
    if result.artifacts:
        parts += [Text(), _heading("Artifacts")]
        parts += [_artifact_line(a, task_workspace) for a in result.artifacts]
    return Group(*parts)


def print_report(console: Console, result: TaskResult, workspace: Path) -> None:
    console.print()
    print_whole(console, report(result, workspace))
