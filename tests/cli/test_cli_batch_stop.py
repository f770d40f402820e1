"""``relay batch`` gives up after a few tasks in a row fail the same way no task can fix (a
refused key, no quota, an endpoint that refuses connections): one message, exit code 2, the
tasks not started left out of the output so a rerun after the fix runs them. Failures of other
kinds, or of mixed kinds, never stop a batch. In-process, against the fake server on loopback.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, read_jsonl, write_tasks

from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import (
    AuthFault,
    FakeOpenAIServer,
    ProviderErrorFault,
    ServerErrorFault,
    SlowFault,
)

SECRET = "sk-test-secret-key-for-batch"
QUOTA = ProviderErrorFault(
    status=429,
    body={"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota",
                    "param": None, "code": "insufficient_quota"}},
)  # fmt: skip


def _batch(
    relay_main: RelayMain, url: str, *flags: str, key: str = "sk-wrong-key-123456"
) -> subprocess.CompletedProcess[str]:
    return relay_main(
        "batch", "tasks.jsonl", "--model", "openai:x", "--base-url", url, "--max-retries", "0",
        *flags, env={"OPENAI_API_KEY": key},
    )  # fmt: skip


def _stop_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr  # one message, not one per task
    assert "Traceback" not in stderr
    return lines[0]


def test_a_refused_key_stops_the_batch_and_a_rerun_after_the_fix_runs_the_rest(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 10)
    fake = FakeOpenAIServer(require_api_key=SECRET)
    with portal.wrap_async_context_manager(fake) as server:
        proc = _batch(relay_main, server.base_url, "--concurrency", "1")
        assert len(server.requests) == 3  # no model call for the seven tasks after the stop
    assert proc.returncode == 2, proc.stderr
    line = _stop_line(proc.stderr)
    assert line.startswith("relay: error: stopped after 3 tasks in a row failed because the "
                           "model endpoint refused the credentials")  # fmt: skip
    assert "0 running task(s) cancelled, 7 not started (not written to tasks.results.jsonl)" in line
    assert "fix that and rerun the same command" in line
    assert SECRET not in proc.stdout + proc.stderr
    out = tmp_path / "tasks.results.jsonl"
    results = [TaskResult.model_validate(r) for r in read_jsonl(out)]
    assert [r.id for r in results] == ids[:3]
    assert {(r.status, r.error_kind) for r in results} == {("failed", "ModelAuthenticationError")}
    assert "batch: 0 completed · 3 failed → tasks.results.jsonl" in proc.stdout

    # The key is fixed (here: the scripted demo model): the failed three run again, and the
    # seven never started run for the first time.
    rerun = relay_main("batch", "tasks.jsonl", "--demo")
    assert rerun.returncode == 0, rerun.stderr
    assert "retrying 3 task(s) whose latest result in tasks.results.jsonl is failed" in rerun.stdout
    assert "batch: 10 completed · 0 failed → tasks.results.jsonl" in rerun.stdout
    lines = read_jsonl(out)
    assert len(lines) == 13  # the three failures stay, each followed later by its retry
    latest = {r["id"]: (r["status"], r["error_kind"]) for r in lines}
    assert latest == dict.fromkeys(ids, ("completed", None))


def test_no_quota_stops_after_the_configured_count(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 6)
    with portal.wrap_async_context_manager(FakeOpenAIServer([QUOTA] * 6)) as server:
        # The count from the environment, as RELAY_STOP_AFTER_FAILURES.
        proc = relay_main(
            "batch", "tasks.jsonl", "--model", "openai:x", "--base-url", server.base_url,
            "--max-retries", "0", "--concurrency", "1",
            env={"OPENAI_API_KEY": SECRET, "RELAY_STOP_AFTER_FAILURES": "2"},
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    line = _stop_line(proc.stderr)
    assert "stopped after 2 tasks in a row failed because the account has no quota left" in line
    assert "insufficient_quota" in line  # the endpoint's own words, from the last failure
    assert "4 not started" in line
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    assert [r["error_kind"] for r in results] == ["ModelQuotaError"] * 2


def test_an_endpoint_that_refuses_connections_stops_the_batch(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 5)
    # A port nobody listens on: bind one, note it, close it.
    with portal.wrap_async_context_manager(FakeOpenAIServer()) as server:
        url = server.base_url
    proc = _batch(relay_main, url, "--concurrency", "1")
    assert proc.returncode == 2, proc.stderr
    line = _stop_line(proc.stderr)
    assert "failed because the model endpoint cannot be reached" in line
    assert "could not connect to the model endpoint at 127.0.0.1" in line
    assert "2 not started" in line
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    assert [r["error_kind"] for r in results] == ["ModelConnectionError"] * 3


def test_running_tasks_cancelled_by_the_stop_are_listed_and_not_written(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    ids = write_tasks(tmp_path / "tasks.jsonl", 8)
    # Whichever task asks first waits (far past the test); the next ones are refused.
    fake = FakeOpenAIServer([SlowFault(delay=600), *[AuthFault()] * 8])
    with portal.wrap_async_context_manager(fake) as server:
        proc = _batch(relay_main, server.base_url, "--concurrency", "4")
    assert proc.returncode == 2, proc.stderr
    line = _stop_line(proc.stderr)
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    failed = [r["id"] for r in results]
    assert len(failed) >= 3
    assert {r["error_kind"] for r in results} == {"ModelAuthenticationError"}
    slow = [i for i in ids if i not in failed and i in line]
    assert slow, line  # the waiting task is named among the cancelled ones
    cancelled = line.split(" running task(s) cancelled")[0].rsplit(" ", 1)[1]
    not_started = int(line.split(" not started")[0].rsplit(" ", 1)[1])
    assert len(failed) + int(cancelled) + not_started == 8


def test_failures_of_other_or_mixed_kinds_never_stop_a_batch(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 6)
    # Never three of one setup kind in a row; and a server error is the endpoint's bad moment,
    # which the next task may not meet.
    script = [AuthFault(), AuthFault(), QUOTA, QUOTA, ServerErrorFault(), AuthFault()]
    with portal.wrap_async_context_manager(FakeOpenAIServer(script)) as server:
        proc = _batch(relay_main, server.base_url, "--concurrency", "1")
    assert proc.returncode == 1, proc.stderr
    assert "stopped after" not in proc.stderr
    results = read_jsonl(tmp_path / "tasks.results.jsonl")
    assert [r["error_kind"] for r in results] == [
        "ModelAuthenticationError", "ModelAuthenticationError", "ModelQuotaError",
        "ModelQuotaError", "ModelServerError", "ModelAuthenticationError",
    ]  # fmt: skip
    assert "batch: 0 completed · 6 failed" in proc.stdout
    assert "6 task(s) not completed in tasks.results.jsonl (latest result per id: 6 failed)" in (
        proc.stdout
    )


def test_a_stop_after_failures_of_zero_never_stops(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 4)
    (tmp_path / "relay.toml").write_text("stop_after_failures = 0\n")
    with portal.wrap_async_context_manager(FakeOpenAIServer(require_api_key=SECRET)) as server:
        proc = _batch(relay_main, server.base_url, "--concurrency", "1")
    assert proc.returncode == 1, proc.stderr
    assert len(read_jsonl(tmp_path / "tasks.results.jsonl")) == 4
    assert json.loads((tmp_path / "tasks.results.jsonl").read_text().splitlines()[0])["status"] == (
        "failed"
    )
