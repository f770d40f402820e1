"""``relay batch`` on the demo's scripted model: results per line, bad lines, resuming after
Ctrl-C and after a torn line. In-process through ``main(argv)``, but Ctrl-C goes to the real
``relay`` process."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from cli_helpers import (
    RELAY,
    RelayMain,
    assert_one_line_error,
    clean_env,
    read_jsonl,
    write_tasks,
)

from agent_relay.runtime import TaskResult


def test_batch_writes_one_result_per_task(relay_main: RelayMain, tmp_path: Path) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 50)
    proc = relay_main("batch", "tasks.jsonl", "--demo", "--concurrency", "16")
    assert proc.returncode == 0, proc.stderr
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    assert len(results) == 50
    assert sorted(r["id"] for r in results) == ids
    for raw in results:
        result = TaskResult.model_validate(raw)
        assert result.status == "completed"
        assert result.task == f"Picture number {result.id}"
    assert "batch: 50 completed · 0 failed" in proc.stdout
    # Every task worked in its own directory.
    assert len(list((tmp_path / "relay-workspace").glob("*/index.html"))) == 50


def test_interrupted_batch_keeps_whole_lines_and_resumes(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 50)
    out = tmp_path / "out.jsonl"
    args = [*RELAY, "batch", "tasks.jsonl", "--demo", "--concurrency", "2", "--out", "out.jsonl"]
    with subprocess.Popen(
        args,
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    ) as process:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_bytes().count(b"\n") >= 3):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no results were written"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    first = read_jsonl(out)  # every line parses: no torn line
    assert 3 <= len(first) < 50
    assert "interrupted" in stderr and "rerun the same command to resume" in stderr
    done_before = out.read_bytes()

    proc = relay_main(*args[len(RELAY) :], "--concurrency", "16")
    assert proc.returncode == 0, proc.stderr
    assert f"batch: {len(first)} task(s) already in out.jsonl, skipping them" in proc.stdout
    assert out.read_bytes().startswith(done_before)  # earlier results kept as they were
    results = read_jsonl(out)
    assert sorted(r["id"] for r in results) == ids
    assert f"{50 - len(first)} completed" in proc.stdout


def test_bad_lines_are_reported_and_skipped(relay_main: RelayMain, tmp_path: Path) -> None:
    lines = [
        '{"task": "Picture of a boat", "id": "boat"}',  # 1
        "",  # 2: blank
        "# a comment",  # 3
        "A plain text task about a lighthouse",  # 4: id "4"
        '{"task": "broken json"',  # 5
        '{"id": "no-task"}',  # 6
        '{"task": "   ", "id": "blank-task"}',  # 7
        '{"task": "Picture of a boat again", "id": "boat"}',  # 8: duplicate id
        '{"task": "x", "id": "y", "colour": "red"}',  # 9: unknown field
        '{"task": "' + "x" * 200_000 + '"}',  # 10: far too long
        '{"task": 42}',  # 11: not a string
        '{"task": "Picture of a kite", "id": 7}',  # 12: numeric id
    ]
    (tmp_path / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    proc = relay_main("batch", "tasks.jsonl", "--demo")
    assert proc.returncode == 1, proc.stderr  # something in the input was not done
    for number in (5, 6, 7, 8, 9, 10, 11):
        assert f"tasks.jsonl line {number}:" in proc.stderr, number
    assert "line 1:" not in proc.stderr and "line 4:" not in proc.stderr
    assert "duplicate id 'boat' (first on line 1)" in proc.stderr
    assert "longer than 100,000 bytes" in proc.stderr
    results = {r["id"]: r for r in read_jsonl(tmp_path / "tasks.results.jsonl")}
    assert set(results) == {"boat", "4", "7"}
    assert results["4"]["task"] == "A plain text task about a lighthouse"
    assert results["boat"]["task"] == "Picture of a boat"
    assert "7 bad lines skipped" in proc.stdout


def test_a_torn_last_line_is_removed_and_its_task_runs_again(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 3)
    now = datetime.now(UTC)
    done = TaskResult(
        task_id="t1", task="Picture number task-000", status="completed", id="task-000",
        started_at=now, finished_at=now, workdir=str(tmp_path / "relay-workspace" / "t1"),
    )  # fmt: skip
    whole = done.model_dump_json() + "\n"
    torn = json.dumps({"task_id": "t2", "id": "task-001", "status": "comp"})[:30]
    (tmp_path / "tasks.results.jsonl").write_text(whole + torn)
    proc = relay_main("batch", "tasks.jsonl", "--demo")
    assert proc.returncode == 0, proc.stderr
    assert "torn line (line 2" in proc.stderr
    assert "batch: 1 task(s) already in" in proc.stdout
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    assert results[0]["id"] == "task-000" and results[0]["task_id"] == "t1"
    assert sorted(r["id"] for r in results) == ["task-000", "task-001", "task-002"]


def test_missing_or_unusable_input_is_one_line(relay_main: RelayMain, tmp_path: Path) -> None:
    line = assert_one_line_error(relay_main("batch", "nope.jsonl", "--demo"))
    assert "nope.jsonl not found" in line
    (tmp_path / "tasks.jsonl").write_text("a task\n")
    line = assert_one_line_error(
        relay_main("batch", "tasks.jsonl", "--demo", "--out", "tasks.jsonl")
    )
    assert "must not be the input file" in line
    assert (tmp_path / "tasks.jsonl").read_text() == "a task\n"
