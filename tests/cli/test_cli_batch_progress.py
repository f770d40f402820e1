"""The progress of ``relay batch``: the ETA follows the durations of the latest finished tasks,
not the pace of the first few; the bar leaves no stale line on screen, after a normal end or
after Ctrl-C (the real ``relay`` on a pseudo-terminal)."""

from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

from cli_helpers import RELAY, clean_env, write_tasks
from rich.console import Console
from terminal_screen import final_screen

from agent_relay.runtime.cli._batch_progress import ETA_WINDOW, BatchCounts, BatchProgress


def test_the_eta_comes_from_finished_durations_over_the_concurrency() -> None:
    counts = BatchCounts(total=10, concurrency=2)
    assert counts.eta() is None  # nothing finished: nothing to go on
    counts.finish("completed", 4.0)
    counts.finish("failed", 4.0)
    assert counts.eta() == 4.0 * 8 / 2
    assert "ETA 16.0s" in counts.line()


def test_the_eta_forgets_the_first_tasks_once_later_ones_finish() -> None:
    counts = BatchCounts(total=100, concurrency=4)
    for _ in range(5):
        counts.finish("completed", 60.0)  # a slow start (say, a cold endpoint)
    for _ in range(ETA_WINDOW):
        counts.finish("completed", 2.0)
    left = 100 - 5 - ETA_WINDOW
    assert counts.eta() == 2.0 * left / 4


def test_the_last_tasks_run_at_once_rather_than_a_share_of_the_concurrency() -> None:
    counts = BatchCounts(total=5, concurrency=4)
    for _ in range(3):
        counts.finish("completed", 10.0)
    assert counts.eta() == 10.0  # two left, side by side: one task's time
    for _ in range(2):
        counts.finish("completed", 10.0)
    assert counts.eta() is None and "ETA" not in counts.line()


async def test_the_bar_shows_the_eta_and_is_erased_when_the_batch_ends() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    counts = BatchCounts(total=10, concurrency=2)
    async with BatchProgress(console, counts) as progress:
        counts.finish("completed", 4.0)
        counts.finish("completed", 4.0)
        progress.update()
    console.print("batch: the summary")
    written = out.getvalue()
    assert "ETA 16.0s" in written and "2/10" in written  # the bar was drawn with the ETA
    assert final_screen(written) == ["batch: the summary"]  # and nothing of it is left


def test_after_ctrl_c_no_progress_line_stays_on_screen(tmp_path: Path) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 60)
    out = tmp_path / "out.jsonl"
    primary, secondary = pty.openpty()
    env = clean_env(TERM="xterm-256color", COLUMNS="120")
    args = [*RELAY, "batch", "tasks.jsonl", "--demo", "--concurrency", "2", "--out", "out.jsonl"]
    with subprocess.Popen(
        args, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary
    ) as process:
        os.close(secondary)
        shown = b""
        sent = False
        deadline = time.monotonic() + 60
        while True:
            ready, _, _ = select.select([primary], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # the child closed its end
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
            started = out.exists() and out.read_bytes().count(b"\n") >= 3
            if not sent and started and b"tasks/s" in shown:
                process.send_signal(signal.SIGINT)
                sent = True
            assert time.monotonic() < deadline, shown[-2000:]
        assert process.wait(timeout=60) == 130
    os.close(primary)
    assert sent, "the batch ended before it could be interrupted"
    text = shown.decode("utf-8", "replace")
    screen = final_screen(text)
    assert "Traceback" not in text
    assert not any("tasks/s" in line or "ETA" in line for line in screen), screen
    assert any(line.startswith("batch: ") and "completed" in line for line in screen), screen
    assert screen[-1].startswith("relay: interrupted:"), screen
