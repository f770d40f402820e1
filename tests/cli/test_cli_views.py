"""The terminal views as a person sees them, rendered by rich at 80 columns: the live view of
a real task (the demo's scripted model through the real master, bus and agents), a plan
taller than the terminal, the waiting for a model, and the report that follows."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console, RenderableType

from agent_relay.bus import Event
from agent_relay.runtime import Artifact, StepResult, TaskResult
from agent_relay.runtime.cli._config import RelaySettings
from agent_relay.runtime.cli._demo import DEMO_TASK, QUICK, demo_model
from agent_relay.runtime.cli._live import LiveView
from agent_relay.runtime.cli._report import report
from agent_relay.runtime.cli._run import execute, finish


def _terminal(height: int = 24) -> Console:
    return Console(record=True, width=80, height=height, force_terminal=True, file=io.StringIO())


def _seen(renderable: RenderableType, height: int = 24) -> list[str]:
    """The lines a person sees, as rich's live display shows them (cropped to the height)."""
    console = _terminal(height)
    lines = console.render_lines(renderable, console.options, pad=False)
    return ["".join(s.text for s in line).rstrip() for line in lines[:height]]


def _event(topic: str, **data: object) -> Event:
    kind = (
        "task." + topic.split(".")[-1] if ".step." not in topic else "step." + topic.split(".")[-1]
    )
    return Event(topic=f"task.t1.{topic}", type=kind, data=data, task_id="t1")


async def test_the_live_view_and_report_of_a_real_task_agree(tmp_path: Path) -> None:
    console = _terminal()
    settings = RelaySettings(workspace=tmp_path / "ws", image_backend="offline")
    view = LiveView(console, DEMO_TASK)
    outcome = await execute(DEMO_TASK, demo_model(QUICK), settings, view)
    assert outcome.result is not None and outcome.result.status == "completed"
    final = _seen(view.render())
    # the last frame: the title once, what completed, and no step table (the report has it)
    assert len(final) == 2 and final[0].startswith("relay Draw a sunset")
    assert final[1].startswith("✓ completed · 3 of 3 steps completed in ")
    assert not any("agent" in line for line in final)
    report_console = _terminal()
    assert finish(outcome, report_console, settings, json_output=False) == 0
    report = report_console.export_text()
    assert report.count("Steps") == 1
    # one clock: the live view's time is the summary's
    live_time = final[1].rsplit(" in ", 1)[1]
    assert f"completed in {live_time} · 3 steps" in report


def test_a_plan_taller_than_the_terminal_keeps_running_and_failed_steps() -> None:
    view = LiveView(_terminal(12), "a long task")
    steps = [
        {"id": f"s{i}", "agent": "code", "prompt": f"Part {i}", "depends_on": []}
        for i in range(1, 21)
    ]
    view.state.apply(_event("plan", steps=steps, complete=True))
    for i in range(1, 15):
        view.state.apply(_event(f"step.s{i}.started"))
        view.state.apply(_event(f"step.s{i}.completed"))
    view.state.apply(_event("step.s15.started"))
    view.state.apply(_event("step.s15.failed", error="the tool broke"))
    view.state.apply(_event("step.s18.started"))
    seen = _seen(view.render(), height=12)
    text = "\n".join(seen)
    assert len(seen) <= 12, text
    assert "14 completed" in text  # collapsed into one line
    assert re.search(r"s15 +code +failed .*the tool broke", text), text
    assert re.search(r"s18 +code +running", text), text
    assert "1 running · 14 of 20 steps completed · 1 failed" in seen[1]


def test_a_plan_far_taller_than_the_terminal_counts_what_it_hides() -> None:
    view = LiveView(_terminal(8), "a long task")
    steps = [{"id": f"s{i}", "agent": "file", "prompt": "x"} for i in range(1, 31)]
    view.state.apply(_event("plan", steps=steps, complete=True))
    for i in range(1, 11):
        view.state.apply(_event(f"step.s{i}.started"))
    seen = _seen(view.render(), height=8)
    assert len(seen) <= 8
    assert "20 waiting · 7 more running or ended" in "\n".join(seen)


def test_the_waiting_for_a_model_shows_with_its_bound() -> None:
    view = LiveView(_terminal(), "a task")
    message = (
        "waiting for the model (attempt 2 of 3, 61 s so far, up to 3 × 60 s): the model "
        "endpoint at 127.0.0.1:8000 did not answer within 60s"
    )
    view.state.apply(_event("progress", message=message, attempt=2, attempts=3))
    seen = _seen(view.render())
    assert seen[1].startswith("⠋ planning…")
    assert seen[2].startswith(
        "  waiting for the model (attempt 2 of 3, 61 s so far, up to 3 × 60 s)"
    )
    assert all(len(line) <= 80 for line in seen)


def test_after_a_cancel_the_header_counts_only_completed_steps() -> None:
    view = LiveView(_terminal(), "a task")
    steps = [{"id": f"s{i}", "agent": "file", "prompt": "x"} for i in range(1, 4)]
    view.state.apply(_event("plan", steps=steps, complete=True))
    view.state.apply(_event("step.s1.started"))
    view.state.apply(_event("step.s1.completed"))
    view.state.apply(_event("step.s2.started"))
    for sid in ("s2", "s3"):
        view.state.apply(_event(f"step.{sid}.cancelled", error="interrupted by the user"))
    view.state.apply(_event("done", status="cancelled"))
    seen = _seen(view.render())
    assert [line for line in seen if line.startswith("relay ")] == ["relay a task"]
    assert seen[1].startswith("⊘ cancelled · 1 of 3 steps completed in ")


def test_the_report_at_80_columns_keeps_notes_readable_and_the_answer_indented(
    tmp_path: Path,
) -> None:
    deep = tmp_path / "a-workspace-with-a-rather-long-name" / "task-0123456789abcdef"
    now = datetime.now(UTC)
    picture = Artifact(
        kind="image",
        path="pictures/a-lighthouse-at-dawn-over-the-northern-sea.png",
        description="offline placeholder image",
    )
    answer = "The page shows the lighthouse. " * 8
    result = TaskResult(
        task_id="t1",
        task="Draw a lighthouse",
        status="completed",
        answer=answer.strip(),
        steps=[
            StepResult(
                id="s1",
                agent="image",
                prompt="draw",
                status="completed",
                output="drawn",
                artifacts=[picture],
                started_at=now,
                finished_at=now,
            )
        ],
        started_at=now,
        finished_at=now,
        workdir=str(deep),
    )
    console = _terminal()
    console.print(report(result, tmp_path))
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert all(len(line) <= 80 for line in lines)
    assert "         offline placeholder image" in lines  # whole, on its own line
    answer_lines = lines[lines.index("Answer") + 1 : lines.index("Steps") - 1]
    assert len(answer_lines) > 1 and all(line.startswith("  ") for line in answer_lines)
    assert " ".join(" ".join(answer_lines).split()) == answer.strip()
    assert lines.count("Steps") == 1
