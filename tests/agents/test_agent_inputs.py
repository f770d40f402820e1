"""A task's inputs are read-only to relay's agents, through the real runtime: the file and
code agents get a clear error when they try to replace one, and model-written code in the
sandbox can read them but neither change nor delete them (as root, as CI runs it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from agent_scripts import AgentScript, default_agents, plan_text, tool_call
from isolation import lacking

from agent_relay.agents import Sandbox, SandboxError
from agent_relay.runtime import Runtime, TaskResult

pytestmark = pytest.mark.anyio

NOTES = "the original notes\n"


def make_inputs(root: Path) -> list[Path]:
    (root / "in" / "data").mkdir(parents=True)
    (root / "in" / "notes.md").write_text(NOTES)
    (root / "in" / "data" / "a.csv").write_text("1,2\n")
    return [root / "in" / "notes.md", root / "in" / "data"]


async def run_with_inputs(tmp_path: Path, script: AgentScript) -> TaskResult:
    async with Runtime(script.model(), default_agents(), tmp_path / "ws") as rt:
        return await rt.run("work on the notes", inputs=make_inputs(tmp_path))


async def test_the_file_agent_reads_an_input_but_cannot_replace_it(tmp_path: Path) -> None:
    prompt = "rewrite the notes"
    script = AgentScript(
        plan_text(("s1", "file", prompt, [])),
        {
            prompt: [
                tool_call("read_file", {"path": "notes.md"}),
                tool_call("write_file", {"path": "notes.md", "content": "overwritten"}),
                tool_call("write_file", {"path": "data/a.csv", "content": "overwritten"}),
                tool_call("write_file", {"path": "data/new.csv", "content": "added"}),
                tool_call("write_file", {"path": "summary.md", "content": "a summary"}),
            ]
        },
    )
    result = await run_with_inputs(tmp_path, script)

    outputs = script.records[prompt].outputs
    assert outputs[0] == NOTES
    for refused, name in zip(outputs[1:4], ["notes.md", "data", "data"], strict=True):
        assert f"the task's input {name!r}, which is read-only" in refused, refused
    assert outputs[4].startswith("wrote summary.md")
    task_dir = tmp_path / "ws" / result.task_id
    assert (task_dir / "notes.md").read_text() == NOTES
    assert (task_dir / "data" / "a.csv").read_text() == "1,2\n"
    assert not (task_dir / "data" / "new.csv").exists()
    assert (task_dir / "summary.md").read_text() == "a summary"


HOSTILE = """
import os, pathlib
print(open("notes.md").read(), end="")
attempts = {
    "write": lambda: open("notes.md", "w").write("changed"),
    "append": lambda: open("data/a.csv", "a").write("changed"),
    "unlink": lambda: os.unlink("notes.md"),
    "rename": lambda: os.rename("data", "moved"),
    "add": lambda: open("data/new.csv", "w").write("x"),
    "chmod": lambda: os.chmod("notes.md", 0o666),
    "through the task dir": lambda: open(os.path.realpath("../../notes.md"), "w").write("x"),
}
for what, attempt in attempts.items():
    try:
        attempt()
        print(what, "DONE")
    except OSError as exc:
        print(what, "refused")
open("result.txt", "w").write("made")
"""


async def test_sandboxed_code_reads_the_inputs_but_cannot_change_them(
    tmp_path: Path, needs_root: None
) -> None:
    prompt = "try to change the inputs"
    script = AgentScript(
        plan_text(("s1", "code", prompt, [])),
        {
            prompt: [
                tool_call("execute_code", {"language": "python", "code": HOSTILE}),
                tool_call("save_code", {"path": "notes.md", "code": "overwritten"}),
            ]
        },
    )
    result = await run_with_inputs(tmp_path, script)

    ran: dict[str, Any] = json.loads(script.records[prompt].outputs[0])
    inputs_line = next(line for line in ran["isolation"] if line.startswith("inputs:"))
    if "read-only bind mounts" not in inputs_line:
        lacking(f"no read-only mounts for the inputs here: {inputs_line}")
    assert ran["exit_code"] == 0, ran["stderr"]
    lines = ran["stdout"].splitlines()
    assert lines[0] == NOTES.strip()  # the code can read the input
    assert "DONE" not in ran["stdout"], ran["stdout"]
    assert len(lines) == 8
    assert [f["path"] for f in ran["files_produced"]] == ["result.txt"]  # no placeholders
    assert "read-only" in script.records[prompt].outputs[1]  # save_code is refused too
    task_dir = tmp_path / "ws" / result.task_id
    assert (task_dir / "notes.md").read_text() == NOTES
    assert sorted(p.name for p in (task_dir / "data").iterdir()) == ["a.csv"]
    assert (task_dir / "data" / "a.csv").read_text() == "1,2\n"
    assert oct((task_dir / "notes.md").stat().st_mode & 0o777) == oct(0o444)


async def test_bad_read_only_inputs_are_refused_and_nothing_runs(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.md").write_text(NOTES)
    os.symlink("notes.md", ws / "link.md")
    sandbox = Sandbox(ws / ".sandbox", workspace=ws)
    bad: list[tuple[dict[str, Path], str]] = [
        ({"gone.md": ws / "gone.md"}, "No such file"),
        ({"link.md": ws / "link.md"}, "is not a regular file or a folder"),
        ({"sub/notes.md": ws / "notes.md"}, "must be a plain name"),
        ({"../notes.md": ws / "notes.md"}, "must be a plain relative path"),
        ({"main.py": ws / "notes.md"}, "reserved for the code itself"),
    ]
    for read_only, message in bad:
        with pytest.raises(SandboxError, match=message):
            await sandbox.execute("python", "print(1)", read_only=read_only)
    assert not (ws / ".sandbox").exists() or list((ws / ".sandbox").iterdir()) == []
    assert (ws / "notes.md").read_text() == NOTES
