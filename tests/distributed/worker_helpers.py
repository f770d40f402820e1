"""Helpers of the distributed tests: ``relay worker`` subprocesses, the model server each
worker talks to (which tells the test when a step reaches it, and can hold it there), and
the planner of the master in the test process.

Each worker gets a ``FakeOpenAIServer`` of its own, so the server a step's model call
reaches says which worker runs it: that is the worker a test kills or stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agent_relay.bus import Event
from agent_relay.runtime import ChatMessage, Runtime, TaskHandle, TaskResult
from agent_relay.runtime.cli._worker import READY
from agent_relay.runtime.testing import FakeOpenAIServer, ScriptedModel, ScriptItem, SlowFault

#: What a worker's file agent answers once its model call is let through.
ANSWER = "Nothing to write: the step is done."
#: Seconds a held model call waits: far past any test, so it ends only with its worker.
_HELD_S = 600.0


class Worker:
    """A ``relay worker`` subprocess on the bus ``url``, run in ``workspace``'s parent (a
    worker has no workspace of its own: each step names its task's directory), the given
    flags added; its stderr lines are kept in ``lines``. ``env``: the process's environment
    (by default this one's without keys or relay settings)."""

    def __init__(
        self, url: str, workspace: Path, *flags: str, env: dict[str, str] | None = None
    ) -> None:
        self.ready = threading.Event()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_relay.runtime.cli",
                "worker",
                "--bus",
                url,
                "--ack-wait",
                "2",
                *flags,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=workspace.parent,
            env=env
            if env is not None
            else {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "RELAY"))},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if READY in line:
                self.ready.set()
        self.ready.set()

    def wait_ready(self) -> None:
        assert self.ready.wait(30) and self.process.poll() is None, "".join(self.lines)

    async def exit_code(self) -> int:
        """Wait (30 s at most) for the process to end; its exit code."""
        try:
            return await anyio.to_thread.run_sync(lambda: self.process.wait(30))
        except subprocess.TimeoutExpired:
            raise AssertionError("the worker did not exit:\n" + "".join(self.lines)) from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@dataclass
class Hold:
    """Holds the next ``count`` step model calls, on whichever worker's server they reach,
    ``delay_s`` seconds (by default until their worker goes away, or the test ends); answers
    the others at once. ``held`` lists the servers of the calls held, in order."""

    count: int = 0
    delay_s: float = _HELD_S
    held: list[FakeOpenAIServer] = field(default_factory=list)
    arrived: anyio.Event = field(default_factory=anyio.Event)

    def answer(self, server: FakeOpenAIServer) -> ScriptItem:
        if len(self.held) >= self.count:
            return ANSWER
        self.held.append(server)
        self.arrived.set()
        self.arrived = anyio.Event()
        return SlowFault(delay=self.delay_s, reply=ANSWER)

    async def wait(self, count: int) -> None:
        """Until ``count`` calls are held."""
        while len(self.held) < count:
            await self.arrived.wait()


def step_server(hold: Hold) -> FakeOpenAIServer:
    """A worker's model server, answering under ``hold``."""
    server: FakeOpenAIServer

    def respond(body: dict[str, Any]) -> ScriptItem:
        return hold.answer(server)

    server = FakeOpenAIServer(responder=respond)
    return server


def model_flags(server: FakeOpenAIServer) -> tuple[str, ...]:
    return ("--agents", "file", "--model", "openai:gpt-4.1-mini", "--base-url", server.base_url)


def calls_about(server: FakeOpenAIServer, marker: str) -> int:
    """How many of ``server``'s chat requests carry ``marker`` (a step's prompt names it)."""
    return sum(marker in json.dumps(r.body.get("messages")) for r in server.chat_requests)


def planner(steps: int = 1) -> ScriptedModel:
    """The master's model: plans ``steps`` independent file steps whose prompts name the
    task, and sums up in one line."""

    def reply(messages: Sequence[ChatMessage], tools: Sequence[Any]) -> str:
        system = messages[0].text if messages and messages[0].role == "system" else ""
        if not system.startswith("You plan work"):
            return "All done."
        task = next((m.text for m in messages if m.role == "user"), "")
        marker = task.split()[-1]
        plan = [
            {
                "id": f"s{i}",
                "agent": "file",
                "prompt": f"Write nothing for {marker} part {i}.",
                "depends_on": [],
            }
            for i in range(1, steps + 1)
        ]
        return json.dumps({"plan": plan})

    return ScriptedModel(reply, chunk_size=4096)


async def finish(handle: TaskHandle) -> tuple[TaskResult, list[Event]]:
    """The task's result and every event it had, in order."""
    events = [event async for event in handle.events()]
    return await handle.result(), events


def endings(events: list[Event], what: str = "step.completed") -> dict[str, int]:
    """How many ``what`` events each step had."""
    counts: dict[str, int] = {}
    for event in events:
        if event.type == what:
            step = event.topic.split(".")[3]
            counts[step] = counts.get(step, 0) + 1
    return counts


def master(url: str, workspace: Path, model: ScriptedModel | None = None) -> Runtime:
    """A runtime that plans with ``model`` (default: one file step per task) and leaves
    every step to the workers, redelivering a step 2 s after its worker stops answering."""
    return Runtime(
        model or planner(),
        agents=["file"],
        workspace=workspace,
        bus=url,
        workers="remote",
        ack_wait_s=2,
    )
