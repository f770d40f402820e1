"""relay installs beside the OpenAI Agents SDK without touching it, and the other way round.

The SDK installs a top-level package named ``agents``; relay's packages live under
``agent_relay`` only. Both go into one fresh virtual environment; each must import and do real
work there, and uninstalling either must leave the other working. The SDK's agent runs against
relay's ``FakeOpenAIServer`` on loopback, so no real API is called.

This test installs packages from the package index (cached wheels after the first run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import anyio
import pytest

from agent_relay.runtime.testing import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
SDK = "openai-agents"

# What the SDK's side does in the shared environment: a real agent run through its Runner
# against the fake Chat Completions endpoint given as argv[1].
SDK_RUN = """
import sys
from openai import AsyncOpenAI
from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled

set_tracing_disabled(True)
client = AsyncOpenAI(base_url=sys.argv[1], api_key="sk-test")
model = OpenAIChatCompletionsModel(model="gpt-4.1-mini", openai_client=client)
agent = Agent(name="greeter", instructions="Greet briefly.", model=model)
print(Runner.run_sync(agent, "Say hello").final_output)
"""

# relay's side: the packages it installs, then its offline demo through the real master.
RELAY_IMPORT = "import agent_relay.bus, agent_relay.runtime, agent_relay.agents"


def pip(python: Path, *args: str) -> None:
    """Run this test environment's pip against the environment of ``python``."""
    command = [sys.executable, "-m", "pip", "--python", str(python), "--quiet", *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"pip {' '.join(args)} failed:\n{proc.stderr[-3000:]}"


def python_ok(python: Path, code: str, *args: str) -> str:
    proc = subprocess.run(
        [str(python), "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=python.parent,  # not the repository, whose folders would shadow the installed ones
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def import_fails(python: Path, module: str) -> bool:
    proc = subprocess.run(
        [str(python), "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=python.parent,
        timeout=60,
    )
    return proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


def relay_demo_completes(env_dir: Path, workdir: Path) -> None:
    proc = subprocess.run(
        [str(env_dir / "bin" / "relay"), "demo", "--json"],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["status"] == "completed"


def relay_top_level_names(python: Path) -> set[str]:
    """The top-level names the agent-relay distribution put into site-packages."""
    code = (
        "import importlib.metadata as m\n"
        "files = m.distribution('agent-relay').files or []\n"
        "print('\\n'.join(sorted({f.parts[0] for f in files})))"
    )
    return set(python_ok(python, code).split())


async def sdk_answers(python: Path, server: FakeOpenAIServer) -> str:
    result = await anyio.run_process(
        [str(python), "-c", SDK_RUN, server.base_url], check=False, cwd=python.parent
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return result.stdout.decode().strip()


@pytest.mark.timeout(900)
async def test_relay_and_the_agents_sdk_share_an_environment(tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    await anyio.to_thread.run_sync(lambda: venv.create(env_dir, with_pip=False))
    python = env_dir / "bin" / "python"
    await anyio.to_thread.run_sync(pip, python, "install", str(REPO), SDK)

    # relay puts nothing at the top level but its own package (and its metadata and script).
    top = relay_top_level_names(python)
    assert "agents" not in top and "runtime" not in top and "bus" not in top
    assert {name for name in top if not name.startswith("agent_relay")} <= {".."}

    async with FakeOpenAIServer(default_reply="Hello there.") as server:
        # Both work side by side.
        assert await sdk_answers(python, server) == "Hello there."
        python_ok(python, RELAY_IMPORT)
        await anyio.to_thread.run_sync(relay_demo_completes, env_dir, tmp_path)

        # Without the SDK, relay still works and no `agents` package is left behind.
        await anyio.to_thread.run_sync(pip, python, "uninstall", "--yes", SDK)
        assert import_fails(python, "agents")
        await anyio.to_thread.run_sync(relay_demo_completes, env_dir, tmp_path)

        # Without relay, the SDK still works and nothing of relay is left behind.
        await anyio.to_thread.run_sync(pip, python, "install", "--no-deps", SDK)
        await anyio.to_thread.run_sync(pip, python, "uninstall", "--yes", "agent-relay")
        assert import_fails(python, "agent_relay.runtime")
        # pip may leave the emptied namespace folder behind, never a file in it.
        site_packages = next(env_dir.glob("lib/*/site-packages"))
        leftovers = [p for p in site_packages.glob("agent_relay*/**/*") if p.is_file()]
        assert leftovers == []
        assert not (env_dir / "bin" / "relay").exists()
        assert await sdk_answers(python, server) == "Hello there."
