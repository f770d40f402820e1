"""``relay --help`` and ``relay run --help`` as a person reads them, through the real
executable: wrapped at the terminal's width (``COLUMNS``), every default shown, examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import clean_env, relay


def _help(tmp_path: Path, *args: str, columns: int) -> str:
    proc = relay(*args, "--help", cwd=tmp_path, env=clean_env(COLUMNS=str(columns)))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


@pytest.mark.parametrize("columns", [60, 100])
def test_help_wraps_at_the_terminal_width(tmp_path: Path, columns: int) -> None:
    for command in ([], ["run"], ["batch"]):
        text = _help(tmp_path, *command, columns=columns)
        # the examples are kept as written (a command line is not cut); the rest wraps
        prose = [line for line in text.splitlines() if not line.startswith(("  relay", "    "))]
        too_long = [line for line in prose if len(line) > columns]
        assert too_long == [], (command, too_long)


def test_run_help_shows_every_default_and_examples(tmp_path: Path) -> None:
    text = " ".join(_help(tmp_path, "run", columns=80).split())  # wrapping aside
    for flag, default in [
        ("--request-timeout S", "60"),
        ("--max-retries N", "2"),
        ("--step-timeout S", "300"),
        ("--max-parallel-steps N", "8"),
        ("--max-steps N", "32"),
        ("--workspace DIR", "relay-workspace"),
        ("--log-level LEVEL", "WARNING"),
    ]:
        assert re.search(re.escape(flag) + r" [^(]*\(default: " + re.escape(default) + r"\)", text)
    assert "(default: code execution on)" in text and "(no limit if unset)" in text
    assert text.count("relay run ") >= 5  # the usage line and the examples
    top = " ".join(_help(tmp_path, columns=80).split())
    assert "examples:" in top and "relay demo" in top and "exit codes: 0 completed" in top


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    proc = relay("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"relay \d+\.\d+\S*\n", proc.stdout), proc.stdout
