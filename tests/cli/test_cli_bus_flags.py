"""``--bus``, ``--workers``, ``--ack-wait`` and ``--max-deliver``: bad values and unreachable
servers are one line and exit 2, before any model is called or any task is made; and
``relay worker --help`` offers the worker's flags only."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import RelayMain, assert_one_line_error, clean_env, relay
from nats_server import free_port

from agent_relay.runtime.cli._config import ConfigError, load_settings

# The model endpoint is never reached: every test here fails before the first call.
MODEL = ("--model", "openai:x", "--base-url", "http://127.0.0.1:9/v1")


def _closed_bus() -> str:
    # Nothing listens there; a short connect timeout keeps the refusal quick.
    return f"nats://127.0.0.1:{free_port()}?connect_timeout=0.5"


def _no_task_made(tmp_path: Path) -> None:
    # Each task has a directory in the workspace (relay serve's store is a file there).
    workspace = tmp_path / "relay-workspace"
    assert not workspace.exists() or not [p for p in workspace.iterdir() if p.is_dir()]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--bus", "http://127.0.0.1:4222"), "bad setting bus: unsupported bus URL"),
        (("--bus", "nats://"), "bad setting bus: invalid bus URL"),
        (("--bus", "nats://127.0.0.1:4222/path"), "takes no path"),
        (("--bus", "nats://127.0.0.1:4222?colour=red"), "unknown option 'colour'"),
        (("--workers", "elsewhere"), "bad setting workers: Input should be 'local' or 'remote'"),
        (("--workers", "remote"), "bad setting workers: remote runs no agent in this process"),
        (("--workers", "remote", "--bus", "memory://"), "give --bus nats://host:port"),
        (("--ack-wait", "0"), "bad setting ack_wait"),
        (("--max-deliver", "0"), "bad setting max_deliver"),
    ],
)
def test_a_bad_value_is_one_line_and_no_task(
    relay_main: RelayMain, tmp_path: Path, flags: tuple[str, ...], expected: str
) -> None:
    proc = relay_main("run", "Write a note", *MODEL, *flags)
    assert expected in assert_one_line_error(proc)
    _no_task_made(tmp_path)


def test_a_password_in_a_bad_url_is_not_repeated(relay_main: RelayMain) -> None:
    proc = relay_main("run", "Write a note", *MODEL, "--bus", "http://me:hunter2@127.0.0.1")
    line = assert_one_line_error(proc)
    assert "hunter2" not in proc.stderr + proc.stdout and "me:***@" in line


def test_the_environment_and_relay_toml_name_the_bus_too(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text('bus = "nats://127.0.0.1:4222"\nworkers = "remote"\n')
    settings = load_settings({}, cwd=tmp_path)
    assert (settings.bus, settings.workers) == ("nats://127.0.0.1:4222", "remote")
    assert (settings.ack_wait, settings.max_deliver) == (30.0, 3)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RELAY_WORKERS", "remote")
        env.setenv("RELAY_BUS", "memory://")
        with pytest.raises(ConfigError, match="bad setting workers"):
            load_settings({}, cwd=tmp_path / "elsewhere")


@pytest.mark.parametrize("command", ["run", "serve", "worker"])
def test_an_unreachable_server_is_one_line_exit_2(
    relay_main: RelayMain, tmp_path: Path, command: str
) -> None:
    task = ("Write a note",) if command == "run" else ()
    extra = ("--demo",) if command != "run" else MODEL
    port = ("--port", "0") if command == "serve" else ()
    proc = relay_main(command, *task, *extra, "--bus", _closed_bus(), *port)
    assert "cannot connect to the NATS server at nats://127.0.0.1:" in assert_one_line_error(proc)
    _no_task_made(tmp_path)


def test_a_worker_needs_a_nats_bus(relay_main: RelayMain) -> None:
    proc = relay_main("worker", "--demo")
    assert "relay worker takes its steps from a NATS server" in assert_one_line_error(proc)
    proc = relay_main("worker", "--demo", "--bus", "memory://")
    assert "give --bus nats://host:port" in assert_one_line_error(proc)


def test_worker_help_shows_the_workers_flags_only(tmp_path: Path) -> None:
    proc = relay("worker", "--help", cwd=tmp_path, env=clean_env(COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout
    for flag in ("--bus", "--ack-wait", "--max-deliver", "--agents", "--model", "--concurrency"):
        assert flag in shown, flag
    # The daemon's, the planner's and the master's flags belong to other commands.
    for flag in ("--port", "--store", "--host", "--retention", "--workers", "--workspace"):
        assert flag not in shown, flag
    assert "--max-steps" not in shown and "--structured-output" not in shown


@pytest.mark.parametrize("command", ["run", "serve"])
def test_masters_offer_bus_and_workers(tmp_path: Path, command: str) -> None:
    proc = relay(command, "--help", cwd=tmp_path, env=clean_env(COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    for flag in ("--bus", "--workers", "--ack-wait", "--max-deliver"):
        assert flag in proc.stdout, flag
