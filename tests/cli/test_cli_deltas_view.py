"""The running step's text in the live view: the last line the model is writing, its end kept
when it is too long, a new call (or a call started over) replacing the old text, a progress
note taking over until more text comes; the plain view prints no line for deltas; and the
live view of a real task sees the demo's steps write."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console, RenderableType

from agent_relay.bus import Event
from agent_relay.runtime.cli._config import RelaySettings
from agent_relay.runtime.cli._demo import DEMO_TASK, QUICK, demo_model
from agent_relay.runtime.cli._live import LiveView, last_line
from agent_relay.runtime.cli._plain import PlainView
from agent_relay.runtime.cli._run import execute
from agent_relay.runtime.cli._task_state import StepRow


def _terminal() -> Console:
    return Console(record=True, width=80, height=24, force_terminal=True, file=io.StringIO())


def _seen(renderable: RenderableType) -> str:
    console = _terminal()
    lines = console.render_lines(renderable, console.options, pad=False)
    return "\n".join("".join(s.text for s in line).rstrip() for line in lines)


def _event(what: str, **data: object) -> Event:
    step = what.startswith("step.")
    kind = ("step." if step else "task.") + what.split(".")[-1]
    return Event(topic=f"task.t1.{what}", type=kind, data=data, task_id="t1")


def _delta(text: str, index: int, offset: int, call: int = 1) -> Event:
    return _event("step.s1.delta", text=text, index=index, offset=offset, run_id="run_1", call=call)


def _running_view() -> LiveView:
    view = LiveView(_terminal(), "a task")
    steps = [{"id": "s1", "agent": "file", "prompt": "Summarise the notes", "depends_on": []}]
    view.state.apply(_event("plan", steps=steps, complete=True))
    view.state.apply(_event("step.s1.started"))
    return view


def test_the_running_step_shows_the_last_line_being_written() -> None:
    view = _running_view()
    assert "Summarise the notes" in _seen(view.render())
    view.state.apply(_delta("# Notes\n\nThe first point is", 0, 0))
    assert "The first point is" in _seen(view.render())
    view.state.apply(_delta(" that queues help.\nThe second", 1, 27))
    seen = _seen(view.render())
    assert "The second" in seen and "first point" not in seen


def test_a_new_call_or_a_restart_replaces_the_text_and_progress_takes_over() -> None:
    view = _running_view()
    view.state.apply(_delta("Looking at the files", 0, 0, call=1))
    view.state.apply(_event("step.s1.progress", message="calling list_files"))
    assert "calling list_files" in _seen(view.render())
    view.state.apply(_delta("Here is the summary", 1, 0, call=2))
    seen = _seen(view.render())
    assert "Here is the summary" in seen and "calling list_files" not in seen
    view.state.apply(_delta("Here is", 2, 0, call=2))  # the call started over
    assert view.state.steps["s1"].text == "Here is"
    view.state.apply(_event("step.s1.completed"))
    view.state.apply(_delta("too late", 3, 7, call=2))
    assert view.state.steps["s1"].text == "Here is"


def test_a_long_line_keeps_its_end() -> None:
    line = "word " * 40 + "the end"
    shown = last_line(line + "\n\n  \n", 30)
    assert len(shown) == 30 and shown.startswith("…") and shown.endswith("the end")
    assert last_line("short\n", 30) == "short"


def test_the_plain_view_prints_no_line_for_deltas() -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    view = PlainView(console, "a task")
    steps = [{"id": "s1", "agent": "file", "prompt": "Summarise", "depends_on": []}]
    for event in (
        _event("plan", steps=steps, complete=True),
        _event("step.s1.started"),
        _delta("some text", 0, 0),
        _delta(" more", 1, 9),
    ):
        view.state.apply(event)
        view._describe(event)
    printed = console.export_text()
    assert "some text" not in printed and "s1 file: started" in printed
    assert view.state.steps["s1"].text == "some text more"


async def test_the_live_view_of_a_real_task_sees_its_steps_write(tmp_path: Path) -> None:
    settings = RelaySettings(workspace=tmp_path / "ws", image_backend="offline")
    view = LiveView(_terminal(), DEMO_TASK)
    written: list[str] = []
    apply = view.state.apply

    def watched_apply(event: Event) -> list[StepRow]:
        if event.type == "step.delta":
            written.append(str(event.data["text"]))
        return apply(event)

    view.state.apply = watched_apply  # type: ignore[method-assign]
    outcome = await execute(DEMO_TASK, demo_model(QUICK), settings, view)
    assert outcome.result is not None and outcome.result.status == "completed"
    outputs = "".join(step.output for step in outcome.result.steps)
    assert written and all(piece in outputs for piece in written)
