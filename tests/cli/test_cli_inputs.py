"""``relay run --input`` and a batch line's ``inputs``, in-process against a fake endpoint:
the README's example (``relay run --input notes.md "Summarise notes.md into summary.md"``)
works, and a bad input is one line and exit 2 before any model call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error, read_jsonl

from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall
from agent_relay.runtime.testing._fake_script import ScriptItem

NOTES = "Queues decouple producers from consumers.\nBackpressure keeps them honest.\n"


def summariser(body: dict[str, Any]) -> ScriptItem:
    """A model that plans one file step, and as the file agent reads notes.md and writes
    summary.md from what it read (so the summary can only be right if the input was there)."""
    messages = body["messages"]
    if "You plan work" in messages[0]["content"]:
        told = messages[-1]["content"]
        assert "notes.md (" in told, told  # the planner was told of the input
        step = {"id": "s1", "agent": "file", "prompt": "Summarise notes.md into summary.md"}
        return json.dumps({"plan": [{**step, "depends_on": []}]})
    last = messages[-1]
    if last["role"] != "tool":
        return FakeReply(tool_calls=[FakeToolCall("read_file", {"path": "notes.md"})])
    if last["content"].startswith("wrote "):
        return "Wrote summary.md."
    first_line = last["content"].splitlines()[0]  # read_file's output: the file's text
    summary = {"path": "summary.md", "content": f"Summary: {first_line}\n"}
    return FakeReply(tool_calls=[FakeToolCall("write_file", summary)])


def test_the_readme_example_summarises_the_input(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text(NOTES)
    with portal.wrap_async_context_manager(FakeOpenAIServer(responder=summariser)) as server:
        proc = relay_main(
            "run", "--input", "notes.md", "Summarise notes.md into summary.md", "--json",
            "--model", "openai:x", "--base-url", server.base_url,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))
    assert result.status == "completed", result.error
    task_dir = tmp_path / "relay-workspace" / result.task_id
    assert (task_dir / "summary.md").read_text() == f"Summary: {NOTES.splitlines()[0]}\n"
    assert (task_dir / "notes.md").read_text() == NOTES  # the input, copied and unchanged
    assert (tmp_path / "notes.md").read_text() == NOTES  # the original, untouched


def test_a_missing_input_is_one_line_before_any_model_call(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(responder=summariser)) as server:
        proc = relay_main(
            "run", "--input", "nowhere.md", "Summarise nowhere.md",
            "--model", "openai:x", "--base-url", server.base_url,
        )  # fmt: skip
        assert server.chat_requests == []
    line = assert_one_line_error(proc)
    assert "input nowhere.md does not exist" in line
    workspace = tmp_path / "relay-workspace"
    assert not workspace.exists() or list(workspace.iterdir()) == []  # nothing left behind


def test_a_batch_line_gives_inputs_relative_to_the_batch_file(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "notes.md").write_text(NOTES)
    lines = [
        {"id": "good", "task": "Summarise notes.md into summary.md", "inputs": ["notes.md"]},
        {"id": "bad", "task": "Summarise missing.md", "inputs": ["missing.md"]},
    ]
    (folder / "tasks.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with portal.wrap_async_context_manager(FakeOpenAIServer(responder=summariser)) as server:
        proc = relay_main(
            "batch", "jobs/tasks.jsonl", "--model", "openai:x", "--base-url", server.base_url
        )
    assert proc.returncode == 1, proc.stderr  # one task could not run
    assert "missing.md does not exist" in proc.stdout + proc.stderr
    results = read_jsonl(folder / "tasks.results.jsonl")
    assert [(r["id"], r["status"]) for r in results] == [("good", "completed")]  # bad: rerun
    summary = tmp_path / "relay-workspace" / results[0]["task_id"] / "summary.md"
    assert summary.read_text() == f"Summary: {NOTES.splitlines()[0]}\n"
