"""``relay run --bus nats://... --workers remote``: the real ``relay`` process plans the task
and a ``relay worker`` process runs its step, both against a fake OpenAI-compatible endpoint
on loopback and a real nats-server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
from nats_server import NatsServer

from agent_relay.runtime import TaskResult
from agent_relay.runtime.cli._worker import READY
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall

SECRET = "sk-test-secret"
PLAN = json.dumps(
    {"plan": [{"id": "s1", "agent": "file", "prompt": "Write notes.txt", "depends_on": []}]}
)
RELAY = [sys.executable, "-m", "agent_relay.runtime.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "RELAY"))}
    return env | {"OPENAI_API_KEY": SECRET}


async def test_relay_run_with_remote_workers(nats_server: NatsServer, tmp_path: Path) -> None:
    script = [
        PLAN,
        FakeReply(
            tool_calls=[FakeToolCall("write_file", {"path": "notes.txt", "content": "hello"})]
        ),
        "Wrote notes.txt.",
    ]
    async with FakeOpenAIServer(script, require_api_key=SECRET) as fake:
        model = ("--model", "openai:x", "--base-url", fake.base_url)
        remote = ("--bus", nats_server.url, "--workers", "remote", "--agents", "file")
        worker = await anyio.open_process(
            [*RELAY, "worker", *model, "--bus", nats_server.url, "--agents", "file"],
            cwd=tmp_path,
            env=_env(),
        )
        try:
            assert worker.stderr is not None
            seen = b""
            with anyio.fail_after(30):
                while READY.encode() not in seen:
                    seen += await worker.stderr.receive()
            with anyio.fail_after(60):
                run = await anyio.run_process(
                    [*RELAY, "run", "Write a note", "--json", *model, *remote],
                    cwd=tmp_path,
                    env=_env(),
                    check=False,
                )
        finally:
            worker.terminate()
            with anyio.fail_after(30):
                code = await worker.wait()
    assert run.returncode == 0, run.stderr.decode()
    result = TaskResult.model_validate(json.loads(run.stdout))
    assert result.status == "completed" and result.answer == "Wrote notes.txt."
    # The worker wrote into the master's task directory (here, the same machine's).
    assert (tmp_path / "relay-workspace" / result.task_id / "notes.txt").read_text() == "hello"
    assert code == 0  # SIGTERM: the worker drained and left cleanly
    assert SECRET not in run.stderr.decode() + run.stdout.decode()
