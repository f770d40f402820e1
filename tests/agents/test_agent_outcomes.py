"""relay's three agents judge their steps by what they exist to produce, through the real
master, bus and assistant layer: an image step without an image, a code step that saved
nothing and ran nothing that worked, a step whose every tool call failed are not
``completed`` whatever the model says (a file step may answer from its inputs' context without
touching a file); a step with part of its work done ends ``failed`` as ``incomplete``
and keeps what it made; the rest of the task goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_scripts import (
    HEALTHY_PROMPT,
    HEALTHY_STEP,
    HEALTHY_TURNS,
    AgentScript,
    TaskRecord,
    plan_text,
    run_task,
    tool_call,
)

from agent_relay.runtime import ChatMessage, ChatResponse

WORK = "do the step's work"


async def run_step_of(tmp_path: Path, agent: str, *turns: Any) -> TaskRecord:
    script = AgentScript(
        plan_text(("work", agent, WORK, []), HEALTHY_STEP),
        {WORK: list(turns), HEALTHY_PROMPT: HEALTHY_TURNS},
    )
    record = await run_task(tmp_path, script.model())
    healthy = record.result.step("healthy")
    assert healthy.status == "completed", healthy.error
    return record


def draw(filename: str) -> Any:
    return tool_call(
        "generate_image", {"prompt": "a kite", "size": "256x256", "filename": filename}
    )


def run_python(code: str) -> Any:
    return tool_call("execute_code", {"language": "python", "code": code})


def save(path: str) -> Any:
    return tool_call("save_code", {"path": path, "code": "print('hi')\n"})


@pytest.mark.parametrize(
    ("agent", "claim", "reason"),
    [
        ("image", "I drew a kite and saved it as kite.png", "image agent: no image was made"),
        ("code", "Here is the code: print(1)", "code agent: no file was saved and no code was run"),
    ],
)
async def test_a_step_that_only_talks_about_its_work_failed(
    tmp_path: Path, agent: str, claim: str, reason: str
) -> None:
    record = await run_step_of(tmp_path, agent, claim)
    result = record.result
    step = result.step("work")
    assert (step.status, step.error) == ("failed", reason)
    assert step.output == claim  # what the model said is kept, not trusted
    assert step.usage.total_tokens > 0  # its model call was billed and is counted
    assert result.status == "partial" and result.error is not None and reason in result.error
    [failed] = [e for e in record.events if e.topic.endswith(".step.work.failed")]
    assert failed.data["error"] == reason and failed.data["output"] == claim


async def test_a_file_step_may_answer_from_its_context_without_tools(tmp_path: Path) -> None:
    # A file step can be asked about what earlier steps produced, which it gets as context:
    # answering without a tool call is not a failure for it (unlike an image or code step).
    record = await run_step_of(tmp_path, "file", "The notes list three owls.")
    step = record.result.step("work")
    assert (step.status, step.output) == ("completed", "The notes list three owls.")


async def test_some_images_made_and_the_last_refused_is_incomplete(tmp_path: Path) -> None:
    record = await run_step_of(tmp_path, "image", [draw("one.png"), draw("../two.png")])
    step = record.result.step("work")
    assert step.status == "failed"
    assert step.error is not None
    assert step.error.startswith("incomplete: image agent: the last image generation failed")
    assert "escapes the workspace" in step.error
    # the image that was made stays in the result and on disk
    assert [(a.kind, a.path) for a in step.artifacts] == [("image", "one.png")]
    assert (tmp_path / record.result.task_id / "one.png").is_file()


async def test_an_image_made_after_a_refusal_completes(tmp_path: Path) -> None:
    record = await run_step_of(tmp_path, "image", draw("/abs.png"), draw("ok.png"))
    step = record.result.step("work")
    assert step.status == "completed", step.error
    assert record.result.status == "completed"


async def test_code_whose_last_run_failed_is_incomplete_and_keeps_its_file(
    tmp_path: Path,
) -> None:
    record = await run_step_of(tmp_path, "code", save("main.py"), run_python("raise SystemExit(3)"))
    step = record.result.step("work")
    assert step.status == "failed" and step.error is not None
    assert step.error.startswith(
        "incomplete: code agent: the last run of code failed: error: the code failed (exited 3"
    )
    assert "{" not in step.error  # the headline, not the whole report
    assert [a.path for a in step.artifacts] == ["main.py"]
    assert (tmp_path / record.result.task_id / "main.py").is_file()


async def test_code_that_failed_then_ran_well_completes(tmp_path: Path) -> None:
    record = await run_step_of(
        tmp_path, "code", run_python("raise SystemExit(1)"), run_python("print(6 * 7)")
    )
    step = record.result.step("work")
    assert step.status == "completed", step.error
    assert "42" in step.output


async def test_code_whose_only_run_failed_failed(tmp_path: Path) -> None:
    record = await run_step_of(tmp_path, "code", run_python("1 / 0"))
    step = record.result.step("work")
    assert step.status == "failed" and step.error is not None
    assert step.error.startswith("code agent: error: the code failed (exited 1")
    assert "ZeroDivisionError" in step.output  # the report the model read is kept


async def test_a_file_step_whose_every_call_failed_failed(tmp_path: Path) -> None:
    calls = [
        tool_call("read_file", {"path": "missing.md"}),
        tool_call("list_files", {"path": "no"}),
    ]
    record = await run_step_of(tmp_path, "file", calls)
    step = record.result.step("work")
    assert step.status == "failed" and step.error is not None
    assert step.error.startswith("file agent: all 2 tool calls failed; the last: error:")


async def test_a_failed_read_before_a_good_write_completes(tmp_path: Path) -> None:
    record = await run_step_of(
        tmp_path,
        "file",
        tool_call("read_file", {"path": "missing.md"}),
        tool_call("write_file", {"path": "notes.md", "content": "new"}),
    )
    assert record.result.step("work").status == "completed"
    assert record.result.status == "completed"


async def test_an_answer_cut_off_is_incomplete_and_keeps_the_artifacts(tmp_path: Path) -> None:
    cut = ChatResponse(
        message=ChatMessage(role="assistant", content="one.png shows a kite and"),
        finish_reason="length",
    )
    record = await run_step_of(tmp_path, "image", draw("one.png"), lambda _conversation: cut)
    step = record.result.step("work")
    assert step.status == "failed" and step.error is not None
    assert step.error.startswith("incomplete: image agent: the model's answer was cut off")
    assert step.output == "one.png shows a kite and"
    assert [a.path for a in step.artifacts] == ["one.png"]
