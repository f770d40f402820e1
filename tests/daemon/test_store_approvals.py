"""A run's approvals in the store, derived from its approval events: a request once (asked
again after a restart it keeps its first times), its decision once, a withdrawn one open again
when asked again, one still open at the run's end withdrawn; the checkpoint a resumed run
gets carries them; a store of the schema before approvals is upgraded with its runs intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from store_helpers import at, done_data, new_run

from agent_relay.runtime.daemon import NewEvent, RunStore
from agent_relay.runtime.daemon._service import _checkpoint_of
from agent_relay.runtime.daemon._store_schema import _SCHEMA_V1, APPLICATION_ID

pytestmark = pytest.mark.anyio


def asked(run_id: str, aid: str, when: float, **more: Any) -> NewEvent:
    data = {
        "id": aid,
        "task_id": run_id,
        "kind": "tool",
        "step_id": "s1",
        "agent": "code",
        "tool": "execute_code",
        "arguments": {"code": "print(1)"},
        "reason": "risky",
        "created_at": at(when).isoformat(),
        **more,
    }
    topic = f"task.{run_id}.approval.{aid}.requested"
    return NewEvent(run_id, "approval.requested", topic, at(when), data)


def decided(run_id: str, aid: str, outcome: str, when: float) -> NewEvent:
    data = {"approval_id": aid, "outcome": outcome, "decided_at": at(when).isoformat()}
    topic = f"task.{run_id}.approval.{aid}.decided"
    return NewEvent(run_id, "approval.decided", topic, at(when), data)


async def test_approvals_follow_their_events(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "runs.db") as store:
        await new_run(store, "r1")
        await store.append_events(
            [
                asked("r1", "ap-a", 1),
                asked("r1", "ap-a", 2),  # the master's copy of the agent's request
                asked("r1", "ap-b", 3),
                decided("r1", "ap-a", "approved", 4),
                decided("r1", "ap-a", "rejected", 5),  # decided once: a late one is ignored
                asked("r1", "ap-c", 6),
                decided("r1", "ap-c", "withdrawn", 7),
                decided("r1", "ap-unknown", "approved", 7),
            ]
        )
        record = await store.get_run("r1")
        assert record is not None
        assert [(a.request.id, a.state) for a in record.approvals] == [
            ("ap-a", "approved"),
            ("ap-b", "pending"),
            ("ap-c", "withdrawn"),
        ]
        assert record.approvals[0].request.created_at == at(1)
        view = record.view()
        assert [(a.id, a.state, a.tool) for a in view.pending_approvals] == [
            ("ap-b", "pending", "execute_code")
        ]

        # What a resumed run is given: the decided and the pending, not the withdrawn.
        checkpoint = _checkpoint_of(record)
        assert [(a.request.id, a.state) for a in checkpoint.approvals] == [
            ("ap-a", "approved"),
            ("ap-b", "pending"),
        ]

        # Asked again after it was withdrawn (the run resumed): open again, in its place.
        await store.append_events([asked("r1", "ap-c", 8)])
        record = await store.get_run("r1")
        assert record is not None
        assert [(a.request.id, a.state) for a in record.approvals][2] == ("ap-c", "pending")
        assert record.approvals[2].request.created_at == at(8)

        # The run ends: what nobody decided is withdrawn with it.
        await store.append_events(
            [NewEvent("r1", "task.done", "task.r1.done", at(9), done_data("r1"))]
        )
        record = await store.get_run("r1")
        assert record is not None
        assert [a.state for a in record.approvals] == ["approved", "withdrawn", "withdrawn"]
        # A late event changes nothing of an ended run.
        await store.append_events([decided("r1", "ap-b", "approved", 10)])
        again = await store.get_run("r1")
        assert again is not None and again.approvals == record.approvals


async def test_a_store_before_approvals_is_upgraded_with_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in _SCHEMA_V1.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute("PRAGMA user_version=1")
        conn.execute(
            "INSERT INTO runs (id, status, request, request_hash, has_webhook, created_at, "
            "updated_at, last_seq) VALUES ('old', 'running', ?, 'h', 0, ?, ?, 1)",
            ('{"task": "from before"}', at(0).isoformat(), at(0).isoformat()),
        )
    finally:
        conn.close()
    async with await RunStore.open(path) as store:
        record = await store.get_run("old")
        assert record is not None and record.request.task == "from before"
        assert record.approvals == []
        await store.append_events([asked("old", "ap-a", 1)])
        record = await store.get_run("old")
        assert record is not None and [a.state for a in record.approvals] == ["pending"]
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone() == (2,)
    finally:
        check.close()
