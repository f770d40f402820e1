"""A task's inputs through the real runtime: copied into its directory before planning, named
to the planner, handed to the steps as read-only; and every kind of bad input refused with
one clear line before any model call, leaving nothing copied and nothing lost."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import ClassVar

import pytest
from master_helpers import plan_text

from agent_relay.runtime import (
    Agent,
    AgentContext,
    InputError,
    Runtime,
    RuntimeSettings,
    StepAssignment,
    StepOutput,
)
from agent_relay.runtime.testing import ScriptedModel

pytestmark = pytest.mark.anyio


class Recorder(Agent):
    """Answers with the files it finds in the task's directory, and keeps its assignments."""

    name: ClassVar[str] = "files"
    description: ClassVar[str] = "lists the task's files"

    def __init__(self) -> None:
        self.steps: list[StepAssignment] = []

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        self.steps.append(step)
        found = sorted(
            p.relative_to(ctx.workspace).as_posix() for p in ctx.workspace.rglob("*") if p.is_file()
        )
        return StepOutput(output=" ".join(found))


def make_inputs(root: Path) -> tuple[Path, Path]:
    notes = root / "in" / "notes.md"
    data = root / "in" / "data"
    (data / "deep").mkdir(parents=True)
    notes.write_text("hello")
    (data / "a.csv").write_text("1,2\n")
    (data / "deep" / "b.txt").write_text("b")
    os.symlink("a.csv", data / "link.csv")  # leads inside the input: copied as a file
    return notes, data


async def test_inputs_are_copied_named_to_the_planner_and_read_only(tmp_path: Path) -> None:
    notes, data = make_inputs(tmp_path)
    model = ScriptedModel([plan_text(("s1", "files", "look", []))])
    agent = Recorder()
    async with Runtime(model, [agent], tmp_path / "ws") as rt:
        result = await rt.run("Use the notes", inputs=[notes, str(data)])

    assert result.status == "completed", result.error
    task_dir = tmp_path / "ws" / result.task_id
    assert stat.S_IMODE(task_dir.stat().st_mode) == 0o700
    expected = ["data/a.csv", "data/deep/b.txt", "data/link.csv", "notes.md"]
    assert result.answer == " ".join(expected)  # there before the step ran
    assert (task_dir / "data" / "link.csv").read_text() == "1,2\n"
    assert not (task_dir / "data" / "link.csv").is_symlink()
    for name in expected:
        assert stat.S_IMODE((task_dir / name).stat().st_mode) == 0o444
    told = model.calls[0].messages[-1].content or ""
    assert "Use the notes" in told
    for line in ("- notes.md (5 bytes)", "- data/a.csv (4 bytes)", "- data/deep/b.txt (1 bytes)"):
        assert line in told
    assert agent.steps[0].read_only == ["data", "notes.md"]
    assert agent.steps[0].task == "Use the notes"  # the user's words, as given
    assert notes.read_text() == "hello"  # the originals are untouched


async def test_run_many_gives_each_task_its_own_copy(tmp_path: Path) -> None:
    notes, _ = make_inputs(tmp_path)
    plan = plan_text(("s1", "files", "look", []))
    async with Runtime(ScriptedModel([plan, plan]), [Recorder()], tmp_path / "ws") as rt:
        results = await rt.run_many(["one", "two"], inputs=[notes])
    assert [r.answer for r in results] == ["notes.md", "notes.md"]
    assert len({r.task_id for r in results}) == 2


def _symlink_out(root: Path) -> list[Path]:
    folder = root / "in" / "leaky"
    folder.mkdir(parents=True)
    (folder / "ok.txt").write_text("fine")
    (root / "secret.txt").write_text("secret")
    os.symlink(root / "secret.txt", folder / "secret.txt")
    return [folder]


def _symlink_to_folder(root: Path) -> list[Path]:
    folder = root / "in" / "loop"
    (folder / "sub").mkdir(parents=True)
    os.symlink("sub", folder / "again")
    return [folder]


def _dangling(root: Path) -> list[Path]:
    folder = root / "in" / "dangling"
    folder.mkdir(parents=True)
    os.symlink("gone.txt", folder / "link.txt")
    return [folder]


def _too_many(root: Path) -> list[Path]:
    folder = root / "in" / "many"
    folder.mkdir(parents=True)
    for i in range(6):
        (folder / f"{i}.txt").write_text("x")
    return [folder]


def _too_large(root: Path) -> list[Path]:
    big = root / "in" / "big.bin"
    big.parent.mkdir(parents=True)
    big.write_bytes(b"x" * 2000)
    return [big]


def _collision(root: Path) -> list[Path]:
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "notes.md").write_text("a")
    (root / "b" / "notes.md").write_text("b")
    return [root / "a" / "notes.md", root / "b" / "notes.md"]


def _missing(root: Path) -> list[Path]:
    (root / "here.txt").write_text("here")
    return [root / "here.txt", root / "nowhere.txt"]


def _inside_workspace(root: Path) -> list[Path]:
    earlier = root / "ws" / "t-earlier" / "out.md"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("from an earlier task")
    return [earlier]


def _around_workspace(root: Path) -> list[Path]:
    (root / "ws").mkdir()
    return [root]


def _special_file(root: Path) -> list[Path]:
    fifo = root / "pipe"
    os.mkfifo(fifo)
    return [fifo]


BAD_INPUTS = {
    "missing": (_missing, "input {root}/nowhere.txt does not exist"),
    "symlink out": (_symlink_out, "leaky/secret.txt is a symlink that leads out of the input"),
    "symlink to a folder": (_symlink_to_folder, "loop/again is a symlink to a folder"),
    "dangling symlink": (_dangling, "dangling/link.txt is a symlink that leads nowhere"),
    "too many files": (_too_many, "the inputs hold more than 5 files; give fewer"),
    "too large": (_too_large, "the inputs hold more than 1,000 bytes; give less"),
    "name collision": (_collision, "have the same name 'notes.md'"),
    "inside the workspace": (_inside_workspace, "is inside the workspace"),
    "around the workspace": (_around_workspace, "contains the workspace"),
    "not a file or folder": (_special_file, "is not a regular file or a folder"),
}


@pytest.mark.parametrize("kind", BAD_INPUTS)
async def test_a_bad_input_is_refused_before_planning_and_nothing_is_copied(
    tmp_path: Path, kind: str
) -> None:
    make, message = BAD_INPUTS[kind]
    root = tmp_path / "root"
    root.mkdir()
    inputs = make(root)
    before = _snapshot(root)
    model = ScriptedModel([])  # any call would fail the task: none must happen
    settings = RuntimeSettings(max_input_files=5, max_input_bytes=1000)
    async with Runtime(model, [Recorder()], root / "ws", settings=settings) as rt:
        with pytest.raises(InputError) as caught:
            await rt.run("Use them", task_id="t1", inputs=inputs)
    error = str(caught.value)
    assert message.format(root=root) in error
    assert "\n" not in error
    assert model.calls == []
    assert not (root / "ws" / "t1").exists()  # no task directory, no half copy
    assert _snapshot(root) == before  # nothing lost or changed


async def test_a_refused_input_leaves_an_existing_task_directory_as_it_was(
    tmp_path: Path,
) -> None:
    """All or nothing: the first input is not copied when the second cannot be placed, and
    the file already in the way keeps its content."""
    (tmp_path / "first.txt").write_text("first")
    (tmp_path / "notes.md").write_text("new")
    task_dir = tmp_path / "ws" / "t1"
    task_dir.mkdir(parents=True)
    (task_dir / "notes.md").write_text("already here")
    async with Runtime(ScriptedModel([]), [Recorder()], tmp_path / "ws") as rt:
        with pytest.raises(InputError, match=r"'notes\.md' already exists in the task's directory"):
            await rt.run("x", task_id="t1", inputs=[tmp_path / "first.txt", tmp_path / "notes.md"])
    assert sorted(p.name for p in task_dir.iterdir()) == ["notes.md"]
    assert (task_dir / "notes.md").read_text() == "already here"


async def test_one_path_instead_of_a_list_is_a_usage_error(tmp_path: Path) -> None:
    from agent_relay.runtime import RuntimeUsageError

    async with Runtime(ScriptedModel([]), [Recorder()], tmp_path / "ws") as rt:
        with pytest.raises(RuntimeUsageError, match="a list of paths"):
            await rt.run("x", inputs="notes.md")


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: its kind and, for files, content and mode."""
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path == root / "ws":
            continue  # the runtime makes the workspace itself
        info = path.lstat()
        rel = path.relative_to(root).as_posix()
        if stat.S_ISLNK(info.st_mode):
            seen[rel] = f"link {os.readlink(path)}"
        elif stat.S_ISREG(info.st_mode):
            seen[rel] = f"file {oct(info.st_mode)} {path.read_text()}"
        else:
            seen[rel] = f"other {stat.S_IFMT(info.st_mode)}"
    return seen
