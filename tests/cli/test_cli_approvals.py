"""Approvals from the terminal: the real ``relay run`` on a pseudo-terminal asks about the plan
and each tool call against a fake OpenAI-compatible endpoint, and a person's answers
(approve, reject with a reason, edit the arguments) decide what runs; ``--yes`` approves
everything with a line each; a run or batch with nobody to ask refuses to start."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error, clean_env, read_jsonl, relay
from pty_terminal import PtyRelay

from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, ScriptItem

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a POSIX terminal")

PLAN = json.dumps(
    {
        "plan": [
            {
                "id": "s1",
                "agent": "file",
                "prompt": "Write notes.txt saying hello",
                "depends_on": [],
            }
        ]
    }
)
WRITE = FakeReply(
    tool_calls=[FakeToolCall("write_file", {"path": "notes.txt", "content": "hello"})]
)
CHOICE = r"approve, reject or edit\? \[a/r/e\]"


def _write_what_the_tool_said(body: dict[str, Any]) -> FakeReply:
    """After its first call, the model writes what the call answered into told.txt, then
    says it; so what it read shows in a file and in the answer."""
    told = [str(m.get("content")) for m in body["messages"] if m.get("role") == "tool"]
    if len(told) == 1:
        return FakeReply(
            tool_calls=[FakeToolCall("write_file", {"path": "told.txt", "content": told[0]})]
        )
    return FakeReply(text=f"The tool said: {told[0] if told else 'nothing'}")


def _fake(*script: ScriptItem) -> FakeOpenAIServer:
    return FakeOpenAIServer(script, responder=_write_what_the_tool_said)


def _model_flags(server: FakeOpenAIServer) -> list[str]:
    return ["--model", "openai:x", "--base-url", server.base_url, "--agents", "file"]


def _workdir(tmp_path: Path) -> Path:
    (task,) = (tmp_path / "relay-workspace").iterdir()
    return task


def test_the_plan_is_shown_as_a_table_and_approved_at_the_terminal(
    portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN, WRITE, "Wrote notes.txt.")) as server:
        args = ["run", "Write a note", "--approve-plan", *_model_flags(server)]
        with PtyRelay(*args, cwd=tmp_path, env=clean_env()) as terminal:
            terminal.expect(r"approval plan")
            terminal.expect(r"The plan \(1 step\) waits for your approval")
            terminal.expect(r"step\s+agent\s+prompt\s+depends on")
            terminal.expect(r"s1\s+file\s+Write notes.txt saying hello")
            terminal.expect(CHOICE)
            assert len(server.chat_requests) == 1  # planned, and nothing runs yet
            terminal.type("a")
            terminal.expect(r"✓ approved plan the plan \(1 step\) \(by .*\(terminal\)\)")
            code = terminal.wait()
    assert code == 0, terminal.text
    assert (_workdir(tmp_path) / "notes.txt").read_text() == "hello"
    report = terminal.text[terminal.text.rindex("Working directory") :]
    assert "Approvals\n  1 asked: 1 approved\n" in report


def test_a_rejected_tool_call_does_not_run_and_the_model_reads_the_reason(
    portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN, WRITE)) as server:
        args = ["run", "Write a note", "--approve-tools", "always", *_model_flags(server)]
        with PtyRelay(*args, cwd=tmp_path, env=clean_env()) as terminal:
            found = terminal.expect(r"approval (ap-[0-9a-f]+)")
            terminal.expect(r"file in step s1 wants to call write_file:")
            terminal.expect(r'path: "notes.txt"\s+content: "hello"')
            terminal.expect(CHOICE)
            terminal.type("r")
            terminal.expect(r"reason \(the model reads it; Enter for none\):")
            terminal.type("not in this folder, please")
            terminal.expect(rf"⊗ rejected {found.group(1)} s1 file: write_file: not in this folder")
            # The model read why and wrote it down instead: asked next, under its own id.
            terminal.expect(rf"approval (?!{found.group(1)})ap-[0-9a-f]+")
            terminal.expect(r'path: "told.txt"')
            terminal.expect(CHOICE)
            terminal.type("a")
            code = terminal.wait()
    assert code == 0, terminal.text
    said = "error: a person rejected this call, so it did not run: not in this folder, please"
    workdir = _workdir(tmp_path)
    assert not (workdir / "notes.txt").exists()
    assert (workdir / "told.txt").read_text() == said
    assert f"The tool said: {said}" in " ".join(terminal.text.split())  # the report's answer
    report = terminal.text[terminal.text.rindex("Approvals") :]
    assert report.startswith("Approvals\n  2 asked: 1 approved, 1 rejected\n")
    assert f"⊗ rejected {found.group(1)} s1 file: write_file: not in this folder" in report


def test_an_edit_that_does_not_fit_is_shown_and_asked_again(
    portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN, WRITE, "Wrote it.")) as server:
        args = ["run", "Write a note", "--approve-tools", "always", *_model_flags(server)]
        with PtyRelay(*args, cwd=tmp_path, env=clean_env()) as terminal:
            terminal.expect(CHOICE)
            terminal.type("e")
            terminal.expect(r'now: \{"path": "notes.txt", "content": "hello"\}')
            terminal.expect(r"new arguments as JSON on one line \(Enter to go back\):")
            terminal.type("{not json")
            terminal.expect(r"that is not JSON: ")
            terminal.expect(r"new arguments as JSON")
            terminal.type('{"path": "edited.txt"}')  # no content: the tool's schema refuses
            terminal.expect(
                r"not accepted: the edited arguments do not fit tool 'write_file': "
                r"arguments: 'content' is a required property"
            )
            terminal.expect(CHOICE)  # the same question again
            terminal.type("maybe")
            terminal.expect(r"answer a \(approve\), r \(reject\) or e \(edit\)")
            terminal.expect(CHOICE)
            terminal.type("e")
            terminal.type('{"path": "edited.txt", "content": "edited"}')
            terminal.expect(r"✓ approved ap-[0-9a-f]+ s1 file: write_file \(by .*\)")
            code = terminal.wait()
    assert code == 0, terminal.text
    workdir = _workdir(tmp_path)
    assert (workdir / "edited.txt").read_text() == "edited"
    assert not (workdir / "notes.txt").exists()
    assert "Approvals\n  1 asked: 1 approved\n" in terminal.text


def test_yes_approves_everything_with_a_line_each_and_records_it(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN, WRITE, "Wrote notes.txt.")) as server:
        proc = relay_main(
            "run", "Write a note", "--json", "--yes", "--approve-plan",
            "--approve-tools", "always", *_model_flags(server),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))  # the lines went to stderr
    assert result.status == "completed"
    assert [(r.request.kind, r.state, r.decision and r.decision.by) for r in result.approvals] == [
        ("plan", "approved", "--yes"),
        ("tool", "approved", "--yes"),
    ]
    tool_id = result.approvals[1].request.id
    assert proc.stderr.splitlines() == [
        "✓ approved plan the plan (1 step) (by --yes)",
        f'✓ approved {tool_id} s1 file: write_file {{"path": "notes.txt", "content": "hello"}} '
        "(by --yes)",
    ]
    assert (Path(result.workdir or "") / "notes.txt").read_text() == "hello"


@pytest.mark.parametrize(
    "flags", [["--approve-plan"], ["--approve-tools", "risky"], ["--approve-tools", "always"]]
)
def test_run_without_a_terminal_and_without_yes_refuses_before_anything_runs(
    portal: BlockingPortal, tmp_path: Path, flags: list[str]
) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN)) as server:
        proc = relay("run", "Write a note", *flags, *_model_flags(server), cwd=tmp_path)
        line = assert_one_line_error(proc, 2)
        assert server.chat_requests == []
    assert "stdin is not a terminal" in line and "pass --yes" in line, line
    assert not (tmp_path / "relay-workspace").exists()


def test_approvals_off_need_no_terminal(portal: BlockingPortal, tmp_path: Path) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN, WRITE, "Wrote notes.txt.")) as server:
        proc = relay("run", "Write a note", *_model_flags(server), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Approvals" not in proc.stdout


def test_batch_needs_yes_for_approvals_even_at_a_terminal(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"id": "one", "task": "Draw a kite and a page that shows it"}\n')
    with PtyRelay(
        "batch", "tasks.jsonl", "--demo", "--approve-plan", cwd=tmp_path, env=clean_env()
    ) as terminal:
        code = terminal.wait()
    assert code == 2, terminal.text
    assert "relay: error: approvals are on (approve_plan) and relay batch cannot ask" in (
        terminal.text
    )
    assert "pass --yes" in terminal.text
    assert not (tmp_path / "tasks.results.jsonl").exists()


def test_batch_with_yes_approves_each_task_and_says_so(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        '{"id": "kite", "task": "Draw a kite and a page that shows it"}\n'
        '{"id": "boat", "task": "Draw a boat and a page that shows it"}\n'
    )
    proc = relay("batch", "tasks.jsonl", "--demo", "--yes", "--approve-plan", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    assert {r["id"] for r in results} == {"kite", "boat"}
    for r in results:
        assert [(a["request"]["kind"], a["decision"]["by"]) for a in r["approvals"]] == [
            ("plan", "--yes")
        ]
    for task_id in ("kite", "boat"):
        assert f"{task_id}: ✓ approved plan the plan (" in proc.stdout, proc.stdout


def test_a_request_that_expires_while_asked_stops_being_asked(
    portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN, WRITE)) as server:
        args = [
            "run", "Write a note", "--approve-tools", "always", "--approval-timeout", "3",
            *_model_flags(server),
        ]  # fmt: skip
        with PtyRelay(*args, cwd=tmp_path, env=clean_env()) as terminal:
            first = terminal.expect(r"approval (ap-[0-9a-f]+)").group(1)
            terminal.expect(r"expires at \d\d:\d\d:\d\d; then the call is rejected")
            terminal.expect(CHOICE)
            terminal.type_partly("r")  # and no Enter: the answer is never given
            terminal.expect(rf"\n⌛ expired {first} s1 file: write_file: no decision within 3 s")
            terminal.expect(rf"approval (?!{first})ap-[0-9a-f]+")  # the model's next call
            terminal.expect(CHOICE)
            terminal.type("a")  # read as "a": the "r" typed for the expired one is forgotten
            terminal.expect(r"✓ approved ap-")
            code = terminal.wait()
    assert code == 0, terminal.text
    said = "error: nobody approved this call in time, so it did not run: no decision within 3 s"
    assert (_workdir(tmp_path) / "told.txt").read_text() == said
    assert "Approvals\n  2 asked: 1 approved, 1 expired\n" in terminal.text


def test_stdin_closed_at_the_question_cancels_the_task(
    portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(_fake(PLAN)) as server:
        args = ["run", "Write a note", "--approve-plan", *_model_flags(server)]
        with PtyRelay(*args, cwd=tmp_path, env=clean_env()) as terminal:
            terminal.expect(CHOICE)
            terminal.type_eof()
            code = terminal.wait()
    assert code == 1, terminal.text
    assert "stdin closed: nobody is left to decide" in terminal.text
    assert "relay: error: the task cancelled: stdin closed while approval plan waited" in (
        terminal.text
    )
    assert len(server.chat_requests) == 1  # the plan only: no step ran
