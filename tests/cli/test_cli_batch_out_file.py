"""``relay batch``'s claim on its output: one batch at a time per output file (a second is
refused in one line before it runs anything, and a crash frees the file), and ``--out`` must
be a regular file: a device, a FIFO or a directory is refused without being read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from cli_helpers import (
    RELAY,
    RelayMain,
    assert_one_line_error,
    clean_env,
    read_jsonl,
    relay,
    write_tasks,
)

from agent_relay.runtime.cli._batch_output import _scan_and_repair


def _wait_for_lines(process: subprocess.Popen[str], out: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while not (out.exists() and out.read_bytes().count(b"\n") >= count):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no results were written"
        time.sleep(0.02)


def test_second_batch_on_same_output_is_refused_and_a_crash_frees_it(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 300)
    out = tmp_path / "out.jsonl"
    args = ["batch", "tasks.jsonl", "--demo", "--out", "out.jsonl"]
    with subprocess.Popen(
        [*RELAY, *args, "--concurrency", "1", "--workspace", "ws1"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a pipe nobody reads could fill and stall it
        stdin=subprocess.DEVNULL,
        text=True,
    ) as first:
        _wait_for_lines(first, out, 1)  # it holds the lock from before its first task
        second = relay(*args, "--workspace", "ws2", cwd=tmp_path)
        line = assert_one_line_error(second)
        assert line == f"relay: error: out.jsonl is in use by another relay batch (pid {first.pid})"
        assert not (tmp_path / "ws2").exists()  # refused before it ran anything
        assert first.poll() is None  # the first batch was not disturbed
        first.send_signal(signal.SIGKILL)  # a crash: the kernel drops the lock
        first.communicate(timeout=60)
    done = read_jsonl_tolerant(out)
    proc = relay_main(*args, "--concurrency", "16", "--workspace", "ws3")
    assert proc.returncode == 0, proc.stderr
    results = read_jsonl(out)
    assert sorted(r["id"] for r in results) == ids  # each task once: no run appended twice
    assert len(results) == len(ids)
    assert done <= {r["id"] for r in results}


def read_jsonl_tolerant(path: Path) -> set[str]:
    """The ids on the whole lines of a file a killed run may have left with a torn tail."""
    whole = path.read_bytes().rsplit(b"\n", 1)[0]
    return {json.loads(line)["id"] for line in whole.split(b"\n")}


def test_batch_releases_its_output_when_it_ends(relay_main: RelayMain, tmp_path: Path) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 3)
    assert relay_main("batch", "tasks.jsonl", "--demo").returncode == 0
    write_tasks(tmp_path / "tasks.jsonl", 2, start=3)
    proc = relay_main("batch", "tasks.jsonl", "--demo")
    assert proc.returncode == 0, proc.stderr
    assert len(read_jsonl(tmp_path / "tasks.results.jsonl")) == 5


def test_special_output_files_are_refused_without_reading_them(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 1)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    cases = {
        "/dev/zero": "is a device",
        "/dev/null": "is a device",
        "fifo": "is a FIFO",  # opening it for reading would wait for a writer forever
        "folder": "is a directory",
        "missing/out.jsonl": "folder missing does not exist",
    }
    for out, words in cases.items():
        proc = relay_main("batch", "tasks.jsonl", "--demo", "--out", out)
        line = assert_one_line_error(proc)
        assert words in line, line
        assert "regular file" in line or "does not exist" in line
    assert not (tmp_path / "relay-workspace").exists()  # nothing ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder", "tasks.jsonl"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_refused_batch_leaves_no_output_file(relay_main: RelayMain, tmp_path: Path) -> None:
    (tmp_path / "tasks.jsonl").write_text("")
    relay_main("batch", "tasks.jsonl", "--demo")
    assert not (tmp_path / "tasks.results.jsonl").exists()


def test_resume_scan_reads_line_by_line_and_skips_an_overlong_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    good = b'{"id": "a", "status": "completed"}\n'
    overlong = b'{"id": "b", "status": "completed", "pad": "' + b"x" * 500 + b'"}\n'
    out.write_bytes(good + overlong + b'{"id": "c", "status": "failed"}\n' + b"x" * 300)
    found = _scan_and_repair(out, max_line=100)
    assert found.latest == {"a": "completed", "c": "failed"}
    assert found.unreadable_lines == [2]  # too long to read: reported, not held in memory
    assert found.torn_line == 4  # an overlong torn tail is cut off like any torn tail
    assert out.read_bytes().endswith(b'"failed"}\n')
