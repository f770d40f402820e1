"""Runs and events for the run store's tests: requests, events as the engine and the daemon
publish them, and a look at the store's file with SQLite's own module."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from agent_relay.runtime import Agent, AgentContext, StepAssignment, StepOutput
from agent_relay.runtime.daemon import NewEvent, RunRecord, RunRequest, RunStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def request(task: str = "do the work", webhook: str | None = None) -> RunRequest:
    return RunRequest(task=task, metadata={"who": "tests"}, webhook=webhook)


async def new_run(
    store: RunStore,
    run_id: str,
    *,
    now: datetime = T0,
    key: str | None = None,
    webhook: str | None = None,
) -> RunRecord:
    record, created = await store.create_run(
        run_id, request(webhook=webhook), idempotency_key=key, request_hash="h-" + run_id, now=now
    )
    assert created
    return record


def event(run_id: str, kind: str, data: dict[str, Any] | None = None, when: float = 1) -> NewEvent:
    """An event of the run as the engine or the daemon names it: ``step.<what>`` events take
    the step id from ``data['step']`` into their topic."""
    data = dict(data or {})
    if kind.startswith("step."):
        topic = f"task.{run_id}.step.{data.pop('step')}.{kind.removeprefix('step.')}"
    else:
        topic = f"{kind.split('.')[0]}.{run_id}.{kind.split('.', 1)[1]}"
    return NewEvent(run_id=run_id, type=kind, topic=topic, time=at(when), data=data)


def plan_event(
    run_id: str, steps: Sequence[tuple[str, Sequence[str]]], when: float = 1
) -> NewEvent:
    dumps = [
        {"id": sid, "agent": "echo", "prompt": f"do {sid}", "depends_on": list(deps)}
        for sid, deps in steps
    ]
    return event(run_id, "task.plan", {"steps": dumps, "complete": True, "replanned": False}, when)


def done_data(run_id: str, status: str = "completed", finished: float = 9) -> dict[str, Any]:
    return {
        "task_id": run_id,
        "task": "do the work",
        "status": status,
        "answer": "all done",
        "steps": [],
        "started_at": at(0).isoformat(),
        "finished_at": at(finished).isoformat(),
        "workdir": "/runs/" + run_id,
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def rows(path: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """What the file holds, read with SQLite's own module (a second, plain reader)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(sql)
    finally:
        conn.close()


class EchoAgent(Agent):
    """Answers with its prompt; a prompt containing FAIL raises."""

    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "echoes its prompt"

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        await ctx.progress("echoing")
        if "FAIL" in step.prompt:
            raise ValueError(f"step {step.step_id} was told to fail")
        return StepOutput(output=step.prompt + "".join(f"<{i.output}>" for i in step.inputs))


def plan_text(*steps: tuple[str, str, list[str]]) -> str:
    """A plan as the model writes it, from (id, prompt, depends_on), all for the echo agent."""
    return json.dumps(
        {
            "plan": [
                {"id": sid, "agent": "echo", "prompt": prompt, "depends_on": deps}
                for sid, prompt, deps in steps
            ]
        }
    )
