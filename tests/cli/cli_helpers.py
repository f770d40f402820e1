"""Running the real ``relay`` command in a subprocess, in a fresh directory, with an environment
scrubbed of keys and relay settings; ``RelayMain`` is the in-process twin (conftest.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

_RELAY = Path(sys.executable).with_name("relay")
RELAY = [str(_RELAY)] if _RELAY.exists() else [sys.executable, "-m", "agent_relay.runtime.cli"]

SCRUBBED_PREFIXES = ("OPENAI_", "RELAY_", "AZURE_", "REPLICATE_", "OPENROUTER_", "VLLM_")
ANSI_ESCAPE = re.compile(r"\x1b\[")


class RelayMain(Protocol):
    def __call__(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``relay *args`` in-process; ``env`` adds variables for this call."""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def relay(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RELAY, *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The command failed with ``code`` and said why in one line, with no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("relay: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` as JSON; fails the test on a torn or broken line."""
    content = path.read_text(encoding="utf-8")
    assert content == "" or content.endswith("\n"), "the file ends in a torn line"
    return [json.loads(line) for line in content.splitlines()]


def write_tasks(path: Path, count: int, *, start: int = 0) -> list[str]:
    ids = [f"task-{i:03d}" for i in range(start, start + count)]
    lines = [json.dumps({"task": f"Picture number {i}", "id": i}) for i in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


def install_broken_agent(tmp_path: Path) -> dict[str, str]:
    """A package whose agent cannot be imported, installed the way pip would leave it; the
    environment that sees it."""
    site = tmp_path / "site"
    info = site / "broken_agent-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-agent\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[relay.agents]\nbroken = broken_agent_mod:Nope\n")
    (site / "broken_agent_mod.py").write_text("raise RuntimeError('this agent is broken')\n")
    return clean_env(PYTHONPATH=str(site))
