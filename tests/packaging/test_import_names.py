"""The repository's folders load only as relay's installed packages: imported by folder name
(from the project's root, where Python finds them first) the engine and the bus refuse
plainly, and the agents folder stands for ``agent_relay.agents`` itself; none becomes a second
copy of relay whose classes are not the installed ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder", ["bus", "runtime"])
def test_a_folder_imported_by_its_own_name_refuses(folder: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {folder}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"relay installs this as agent_relay.{folder}" in proc.stderr


def test_the_agents_folder_imported_by_name_is_the_installed_package() -> None:
    code = (
        "import agents, agent_relay.agents as installed; "
        "print(agents is installed, agents.FileAgent.__module__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split() == ["True", "agent_relay.agents.file._agent"], proc.stderr


def test_the_installed_names_load() -> None:
    code = "import agent_relay.bus, agent_relay.runtime, agent_relay.agents; print('ok')"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == "ok", proc.stderr
