"""``relay submit``, ``watch``, ``status``, ``cancel`` and ``runs`` against a stand-in daemon
on loopback (served from a thread while ``relay`` runs in this one): their output, their exit
codes (0 completed, 1 failed or partial, 2 a refused token, an unknown run, no server), and
one-line errors that never show the token."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error

sys.path.insert(0, str(Path(__file__).parents[1] / "daemon"))
from fake_daemon import TOKEN, FakeDaemon, StreamFaults


@pytest.fixture
def fake(portal: BlockingPortal) -> Iterator[FakeDaemon]:
    with portal.wrap_async_context_manager(
        FakeDaemon(token=TOKEN, faults=StreamFaults(cut_after=4))
    ) as daemon:
        yield daemon


def _env(fake: FakeDaemon, token: str = TOKEN) -> dict[str, str]:
    return {"RELAY_SERVER": fake.url, "RELAY_TOKEN": token}


def test_submit_prints_the_id_and_uploads_the_inputs(
    relay_main: RelayMain, fake: FakeDaemon, tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text("hi")
    proc = relay_main("submit", "--input", "notes.md", "Summarise notes.md", env=_env(fake))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "run1\n", "")
    assert fake.runs["run1"].request.inputs[0].name == "notes.md"
    as_json = relay_main("submit", "--json", "again", env=_env(fake))
    assert json.loads(as_json.stdout) == {"id": "run2", "status": "queued"}


def test_submit_watch_shows_the_run_and_its_report(relay_main: RelayMain, fake: FakeDaemon) -> None:
    proc = relay_main("submit", "--watch", "Write two parts", env=_env(fake))
    assert proc.returncode == 0, proc.stderr
    assert "relay: run run1 submitted to" in proc.stderr
    lines = proc.stdout.splitlines()
    assert "relay: task run1: Write two parts" in lines
    assert "plan: s1 echo: part 1" in lines and "s2 echo: started" in lines
    assert "completed" in proc.stdout and "Answer" in proc.stdout and "done" in proc.stdout


def test_submit_wait_json_prints_the_result(relay_main: RelayMain, fake: FakeDaemon) -> None:
    proc = relay_main("submit", "--wait", "--json", "Write", env=_env(fake))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "completed" and proc.stderr == ""


def test_watch_of_a_failed_run_exits_1(relay_main: RelayMain, fake: FakeDaemon) -> None:
    run = fake.add("doomed", status="failed")
    proc = relay_main("watch", run.id, env=_env(fake))
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("relay: error: the run failed: a step failed")
    as_json = relay_main("watch", "--json", run.id, env=_env(fake))
    assert (as_json.returncode, json.loads(as_json.stdout)["status"]) == (1, "failed")


def test_status_cancel_and_runs(relay_main: RelayMain, fake: FakeDaemon) -> None:
    done, running = fake.add("first task"), fake.add("second task")
    running.status = "running"
    status = relay_main("status", done.id, env=_env(fake))
    assert status.returncode == 0 and "run run1" in status.stdout and "Answer" in status.stdout
    live = relay_main("status", running.id, env=_env(fake))
    assert live.returncode == 0 and "running · run run2" in live.stdout
    assert (
        json.loads(relay_main("status", "--json", done.id, env=_env(fake)).stdout)["id"] == "run1"
    )
    table = relay_main("runs", env=_env(fake))
    assert table.returncode == 0
    rows = [line.split() for line in table.stdout.splitlines()]
    assert [r[1:3] for r in rows[1:]] == [["run2", "running"], ["run1", "completed"]]
    only = relay_main("runs", "--status", "running", "--json", env=_env(fake))
    assert [r["id"] for r in json.loads(only.stdout)] == ["run2"]
    assert len(json.loads(relay_main("runs", "--limit", "1", "--json", env=_env(fake)).stdout)) == 1
    cancel = relay_main("cancel", running.id, env=_env(fake))
    assert (cancel.returncode, cancel.stdout) == (0, "run run2: cancelling (was cancelled)\n")
    again = relay_main("cancel", running.id, env=_env(fake))
    assert (again.returncode, again.stdout) == (0, "run run2 had already ended: cancelled\n")


def test_a_wrong_token_is_exit_2_with_one_line_and_no_token(
    relay_main: RelayMain, fake: FakeDaemon
) -> None:
    proc = relay_main("status", "run1", "--token", "not-the-token", env={"RELAY_SERVER": fake.url})
    line = assert_one_line_error(proc)
    assert line == ("relay: error: a valid bearer token is required (set RELAY_TOKEN or --token)")
    assert "not-the-token" not in proc.stderr + proc.stdout


def test_an_unknown_run_is_exit_2(relay_main: RelayMain, fake: FakeDaemon) -> None:
    for command in ("status", "watch", "cancel"):
        proc = relay_main(command, "nope", env=_env(fake))
        assert assert_one_line_error(proc) == "relay: error: no run nope"


def test_no_server_is_exit_2(relay_main: RelayMain, tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    proc = relay_main("runs", env={"RELAY_SERVER": f"http://127.0.0.1:{port}"})
    assert "cannot reach the relay server at" in assert_one_line_error(proc)


def test_bad_arguments_are_usage_errors(relay_main: RelayMain, fake: FakeDaemon) -> None:
    both = relay_main("submit", "--wait", "--watch", "t", env=_env(fake))
    assert "not allowed with argument" in assert_one_line_error(both)
    limit = relay_main("runs", "--limit", "0", env=_env(fake))
    assert "must be at least 1" in assert_one_line_error(limit)
    missing = relay_main("submit", "--input", "gone.txt", "t", env=_env(fake))
    assert "input 'gone.txt' is missing" in assert_one_line_error(missing)
    assert fake.runs == {}


def test_submit_watch_runs_a_task_on_a_real_daemon(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    from agent_relay.runtime import Runtime
    from agent_relay.runtime.cli._demo import QUICK, demo_model
    from agent_relay.runtime.daemon import Daemon, DaemonConfig

    runtime = Runtime(
        demo_model(QUICK),
        workspace=tmp_path / "ws",
        agent_options={"image": {"backend": "offline"}},
    )
    config = DaemonConfig(port=0, store=tmp_path / "runs.sqlite3")
    with portal.wrap_async_context_manager(Daemon(runtime, config)) as daemon:
        env = {"RELAY_SERVER": daemon.url}
        proc = relay_main("submit", "--watch", "Draw a heron and make a page", env=env)
        assert proc.returncode == 0, proc.stderr
        assert "completed" in proc.stdout and "index.html" in proc.stdout
        run_id = proc.stderr.split("relay: run ")[1].split()[0]
        listed = relay_main("runs", "--json", env=env)
        assert [run["id"] for run in json.loads(listed.stdout)] == [run_id]
    assert (tmp_path / "ws" / run_id / "index.html").is_file()


def test_approve_reject_and_status_on_a_real_daemon(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    from agent_relay.runtime import Runtime, RuntimeSettings
    from agent_relay.runtime.cli._demo import QUICK, demo_model
    from agent_relay.runtime.daemon import Daemon, DaemonConfig, RelayClient

    runtime = Runtime(
        demo_model(QUICK),
        workspace=tmp_path / "ws",
        settings=RuntimeSettings(approve_plan=True),
        agent_options={"image": {"backend": "offline"}},
    )
    config = DaemonConfig(port=0, store=tmp_path / "runs.sqlite3")
    with portal.wrap_async_context_manager(Daemon(runtime, config)) as daemon:
        env = {"RELAY_SERVER": daemon.url}
        run_id = relay_main("submit", "Draw a heron and make a page", env=env).stdout.strip()

        async def asked() -> None:
            async with RelayClient(daemon.url) as client:
                async for event in client.events(run_id):
                    if event.type == "approval.requested":
                        return

        portal.call(asked)
        status = relay_main("status", run_id, env=env)
        assert status.returncode == 0, status.stderr
        assert "Waiting for approval" in status.stdout
        assert "approval plan: the plan (3 steps)" in status.stdout
        assert f"relay approve {run_id} plan" in status.stdout

        bad_json = relay_main("approve", run_id, "plan", "--arguments", "{", env=env)
        assert "--arguments is not valid JSON" in assert_one_line_error(bad_json)
        no_file = relay_main("approve", run_id, "plan", "--plan", "gone.json", env=env)
        assert "cannot read the plan gone.json" in assert_one_line_error(no_file)
        (tmp_path / "plan.json").write_text('{"plan": "not steps"}')
        not_steps = relay_main("approve", run_id, "plan", "--plan", "plan.json", env=env)
        assert "must be a JSON list of steps" in assert_one_line_error(not_steps)
        unknown = relay_main("approve", run_id, "ap-nope", env=env)
        assert "has no approval 'ap-nope'" in assert_one_line_error(unknown)

        approved = relay_main("approve", "--json", run_id, "plan", env=env)
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout)["outcome"] == "approved"
        again = relay_main("reject", run_id, "plan", "--reason", "too late", env=env)
        assert "was approved already" in assert_one_line_error(again)

        watched = relay_main("watch", run_id, env=env)
        assert watched.returncode == 0, watched.stderr
        lines = watched.stdout.splitlines()
        assert lines.count("waiting for approval plan: the plan (3 steps)") == 1
        assert "approval plan: approved" in lines
