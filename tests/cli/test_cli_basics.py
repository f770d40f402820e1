"""The command line's surface: help, bad flags, bad configuration, no model, and the agents.

Most run ``main(argv)`` in-process (``relay_main``); the help, a bad flag and a broken entry
point go through the real ``relay`` executable, for the entry point and its exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import RelayMain, assert_one_line_error, install_broken_agent, relay


def test_help_lists_the_commands_and_options(tmp_path: Path) -> None:
    proc = relay("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "demo", "batch", "agents"):
        assert command in proc.stdout
    assert proc.stderr == ""
    proc = relay("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for option in ("--model", "--base-url", "--workspace", "--json", "--step-timeout", "--replan"):
        assert option in proc.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--bogus", "x"], "unrecognized arguments: --bogus"),
        (["run", "--step-timeout", "abc", "x"], "invalid float value"),
        (["run", "--step-timeout", "-3", "x"], "step_timeout"),
        (["launch"], "invalid choice"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    relay_main: RelayMain, args: list[str], says: str
) -> None:
    line = assert_one_line_error(relay_main(*args))
    assert says in line


def test_the_executable_says_a_bad_flag_in_one_line_and_exits_2(tmp_path: Path) -> None:
    line = assert_one_line_error(relay("run", "--bogus", "x", cwd=tmp_path))
    assert "unrecognized arguments: --bogus" in line


def test_run_without_a_model_says_how_to_configure_one(
    relay_main: RelayMain, tmp_path: Path
) -> None:
    line = assert_one_line_error(relay_main("run", "Write a haiku"))
    assert "OPENAI_API_KEY" in line and "--base-url" in line and "relay demo" in line
    assert not (tmp_path / "relay-workspace").exists()


def test_bad_model_string_is_a_config_error(relay_main: RelayMain) -> None:
    line = assert_one_line_error(relay_main("run", "--model", "nosuch:thing", "x"))
    assert "unknown model provider 'nosuch'" in line


def test_bad_relay_toml_is_one_line(relay_main: RelayMain, tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text('modle = "openai:gpt-4.1-mini"\n')
    line = assert_one_line_error(relay_main("run", "x"))
    assert "unknown setting(s) modle" in line


def test_agents_lists_the_installed_agents(relay_main: RelayMain) -> None:
    proc = relay_main("agents")
    assert proc.returncode == 0, proc.stderr
    names = {line.split(":", 1)[0] for line in proc.stdout.splitlines()}
    assert {"image", "code", "file"} <= names
    assert "agents:ImageAgent" in proc.stdout and "agent-relay" in proc.stdout


def test_agents_shows_a_broken_entry_point_as_a_row(tmp_path: Path) -> None:
    env = install_broken_agent(tmp_path)
    proc = relay("agents", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    rows = {line.split(":", 1)[0]: line for line in proc.stdout.splitlines()}
    assert "this agent is broken" in rows["broken"] and "broken-agent 1.0" in rows["broken"]
    assert {"image", "code", "file"} <= set(rows)
    assert "Traceback" not in proc.stdout + proc.stderr
