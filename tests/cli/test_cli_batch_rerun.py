"""A rerun of ``relay batch`` against an output file an earlier run left: failed and cancelled
tasks run again (their new line appended, the latest line per id counting), ``partial`` and
``completed`` ones stay; ``--no-retry-failed`` skips every id. The summary and the exit code
follow what the output holds for the input's ids. Also: JSON lines that are no task object."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cli_helpers import RelayMain, read_jsonl, write_tasks

from agent_relay.runtime import TaskResult, TaskStatus


def _earlier(tmp_path: Path, statuses: dict[str, TaskStatus]) -> bytes:
    """Write an output file as an earlier run would have; returns its bytes."""
    now = datetime.now(UTC)
    lines = [
        TaskResult(
            task_id=f"t-{i}", task=f"Picture number {i}", status=status, id=i,
            error=None if status == "completed" else f"it was {status}",
            started_at=now, finished_at=now, workdir=str(tmp_path / "relay-workspace" / i),
        ).model_dump_json()
        for i, status in statuses.items()
    ]  # fmt: skip
    content = ("\n".join(lines) + "\n").encode()
    (tmp_path / "tasks.results.jsonl").write_bytes(content)
    return content


def test_a_rerun_retries_failed_and_cancelled_tasks_and_keeps_the_rest(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 5)
    before = _earlier(
        tmp_path,
        {ids[0]: "completed", ids[1]: "failed", ids[2]: "cancelled", ids[3]: "partial"},
    )
    proc = relay_main("batch", "tasks.jsonl", "--demo")
    out = tmp_path / "tasks.results.jsonl"
    assert out.read_bytes().startswith(before)  # earlier lines kept as they were
    new = read_jsonl(out)[4:]
    # The failed and the cancelled task ran again, and the one never run ran.
    assert sorted(r["id"] for r in new) == [ids[1], ids[2], ids[4]]
    assert {r["status"] for r in new} == {"completed"}
    assert "batch: 2 task(s) already in tasks.results.jsonl, skipping them" in proc.stdout
    assert (
        "batch: retrying 2 task(s) whose latest result in tasks.results.jsonl is failed or "
        "cancelled" in proc.stdout
    )
    assert "batch: 3 completed · 0 failed · 2 already done" in proc.stdout
    # The partial result is still what the output holds for its id: not a clean batch.
    assert proc.returncode == 1, proc.stderr
    assert (
        "batch: 1 task(s) not completed in tasks.results.jsonl (latest result per id: 1 partial): "
        f"{ids[3]}" in proc.stdout
    )
    # Nothing left to retry: a third run runs nothing and says the same.
    again = relay_main("batch", "tasks.jsonl", "--demo")
    assert again.returncode == 1
    assert "batch: 5 task(s) already in" in again.stdout
    assert len(read_jsonl(out)) == 7


def test_a_rerun_that_fixes_every_failure_exits_0(relay_main: RelayMain, tmp_path: Path) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 3)
    _earlier(tmp_path, {ids[0]: "failed", ids[1]: "completed", ids[2]: "failed"})
    proc = relay_main("batch", "tasks.jsonl", "--demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not completed" not in proc.stdout
    latest = {r["id"]: r["status"] for r in read_jsonl(tmp_path / "tasks.results.jsonl")}
    assert latest == dict.fromkeys(ids, "completed")


def test_no_retry_failed_skips_every_id_and_still_reports_the_failures(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 3)
    before = _earlier(tmp_path, {ids[0]: "failed", ids[1]: "cancelled"})
    proc = relay_main("batch", "tasks.jsonl", "--demo", "--no-retry-failed")
    assert proc.returncode == 1, proc.stderr
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    assert (tmp_path / "tasks.results.jsonl").read_bytes().startswith(before)
    assert [r["id"] for r in results[2:]] == [ids[2]]  # only the id never run
    assert "batch: 2 task(s) already in" in proc.stdout and "retrying" not in proc.stdout
    assert (
        "batch: 2 task(s) not completed in tasks.results.jsonl (latest result per id: "
        f"1 cancelled, 1 failed): {ids[0]}, {ids[1]}; rerun without --no-retry-failed"
        in proc.stdout
    )
    # The same from the environment and relay.toml.
    (tmp_path / "relay.toml").write_text("retry_failed = false\n")
    assert "retrying" not in relay_main("batch", "tasks.jsonl", "--demo").stdout


def test_json_lines_that_are_no_task_object_are_bad_lines(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    lines = [
        '{"task": "Picture of a boat", "id": "boat"}',  # 1
        '["Picture of a kite"]',  # 2: an array
        "42",  # 3: a number
        '"Picture of a cat"',  # 4: a string literal
        "null",  # 5
        "[draft] Picture of a lighthouse",  # 6: not JSON: a plain-text task
        "-3.5e2",  # 7
    ]
    (tmp_path / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    proc = relay_main("batch", "tasks.jsonl", "--demo")
    assert proc.returncode == 1, proc.stderr
    for number, kind in ((2, "array"), (3, "number"), (4, "string"), (5, "literal"), (7, "number")):
        assert f"tasks.jsonl line {number}: a JSON {kind}, not a task object" in proc.stderr
    results = {r["id"]: r for r in read_jsonl(tmp_path / "tasks.results.jsonl")}
    assert set(results) == {"boat", "6"}
    assert results["6"]["task"] == "[draft] Picture of a lighthouse"
    assert "5 bad lines skipped" in proc.stdout
