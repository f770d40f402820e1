"""The run store's rows: runs read into records, the state a batch of events changes read and
written back, event data and pagination cursors encoded."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from ..engine._approvals import ApprovalDecision, ApprovalRecord, ApprovalRequest
from ..engine._result import StepResult, TaskResult
from ..models._chat_types import Usage
from ._api import RunRequest
from ._store_derive import Finish, RunState
from ._store_errors import BadCursor, StoreError
from ._store_types import NewEvent, RunRecord, db_time, from_db_time

_RUN_COLUMNS = (
    "id, status, request, idempotency_key, created_at, updated_at, finished_at, plan, "
    "plan_complete, replanned, result, answer, error, usage, last_seq"
)
# Ids per ``IN (...)``: well under SQLite's limit on a statement's parameters.
_CHUNK = 500


async def load_records(
    conn: aiosqlite.Connection, tail: str, params: Iterable[Any]
) -> list[RunRecord]:
    """The runs ``SELECT ... FROM runs <tail>`` finds, with their steps in plan order."""
    async with conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs {tail}", tuple(params)) as cur:
        rows = list(await cur.fetchall())
    steps: dict[str, dict[str, StepResult]] = {row[0]: {} for row in rows}
    for chunk in chunks(list(steps)):
        marks = ", ".join("?" * len(chunk))
        async with conn.execute(
            f"SELECT run_id, step_id, data FROM steps WHERE run_id IN ({marks}) "
            "ORDER BY run_id, position",
            chunk,
        ) as cur:
            for run_id, step_id, data in await cur.fetchall():
                steps[run_id][step_id] = StepResult.model_validate_json(data)
    approvals = await _approval_rows(conn, list(steps))
    return [
        run_record(row, steps[row[0]], list(approvals.get(row[0], {}).values())) for row in rows
    ]


async def _approval_rows(
    conn: aiosqlite.Connection, run_ids: Sequence[str]
) -> dict[str, dict[str, tuple[int, ApprovalRecord]]]:
    """Run id -> approval id -> (position, record), in the order asked."""
    found: dict[str, dict[str, tuple[int, ApprovalRecord]]] = {}
    for chunk in chunks(run_ids):
        marks = ", ".join("?" * len(chunk))
        async with conn.execute(
            "SELECT run_id, approval_id, position, request, decision FROM approvals "
            f"WHERE run_id IN ({marks}) ORDER BY run_id, position",
            chunk,
        ) as cur:
            for run_id, approval_id, position, request, decision in await cur.fetchall():
                record = ApprovalRecord(
                    request=ApprovalRequest.model_validate_json(request),
                    decision=ApprovalDecision.model_validate_json(decision) if decision else None,
                )
                found.setdefault(run_id, {})[approval_id] = (position, record)
    return found


def run_record(
    row: Any, steps: dict[str, StepResult], approvals: list[tuple[int, ApprovalRecord]]
) -> RunRecord:
    (rid, status, request, key, created, updated, finished, plan, complete, replanned) = row[:10]
    result, answer, error, usage, last_seq = row[10:]
    return RunRecord(
        id=rid,
        status=status,
        request=RunRequest.model_validate_json(request),
        idempotency_key=key,
        created_at=from_db_time(created),
        updated_at=from_db_time(updated),
        finished_at=from_db_time(finished) if finished else None,
        plan=json.loads(plan),
        plan_complete=bool(complete),
        replanned=bool(replanned),
        steps=steps,
        result=TaskResult.model_validate_json(result) if result else None,
        answer=answer,
        error=error,
        usage=Usage.model_validate_json(usage) if usage else Usage(),
        last_seq=last_seq,
        approvals=[record for _, record in approvals],
    )


async def load_states(conn: aiosqlite.Connection, run_ids: set[str]) -> dict[str, RunState]:
    states: dict[str, RunState] = {}
    for chunk in chunks(sorted(run_ids)):
        marks = ", ".join("?" * len(chunk))
        async with conn.execute(
            "SELECT id, status, last_seq, updated_at, plan_complete, replanned FROM runs "
            f"WHERE id IN ({marks})",
            chunk,
        ) as cursor:
            for rid, status, last_seq, updated, complete, replanned in await cursor.fetchall():
                states[rid] = RunState(
                    id=rid,
                    status=status,
                    last_seq=last_seq,
                    updated_at=updated,
                    plan_complete=bool(complete),
                    replanned=bool(replanned),
                )
    return states


async def load_steps(
    conn: aiosqlite.Connection, states: dict[str, RunState], run_ids: set[str]
) -> None:
    for rid in run_ids:
        states[rid].steps = {}
    for chunk in chunks(sorted(run_ids)):
        marks = ", ".join("?" * len(chunk))
        async with conn.execute(
            f"SELECT run_id, step_id, data FROM steps WHERE run_id IN ({marks}) "
            "ORDER BY run_id, position",
            chunk,
        ) as cursor:
            for rid, step_id, data in await cursor.fetchall():
                steps = states[rid].steps
                assert steps is not None
                steps[step_id] = StepResult.model_validate_json(data)


async def load_approvals(
    conn: aiosqlite.Connection, states: dict[str, RunState], run_ids: set[str]
) -> None:
    found = await _approval_rows(conn, sorted(run_ids))
    for rid in run_ids:
        rows = found.get(rid, {})
        states[rid].approvals = {aid: record for aid, (_, record) in rows.items()}
        states[rid].positions = {aid: position for aid, (position, _) in rows.items()}


async def write_states(conn: aiosqlite.Connection, states: Iterable[RunState]) -> None:
    runs: list[tuple[Any, ...]] = []
    finished: list[tuple[Any, ...]] = []
    replaced: list[tuple[str]] = []
    steps: list[tuple[str, str, int, str]] = []
    approvals: list[tuple[str, str, int, str, str | None]] = []
    for s in states:
        for aid in s.changed_approvals:
            assert s.approvals is not None
            record = s.approvals[aid]
            decided = record.decision.model_dump_json() if record.decision else None
            approvals.append(
                (s.id, aid, s.positions[aid], record.request.model_dump_json(), decided)
            )
        runs.append(
            (s.status, s.updated_at, s.last_seq, s.plan_complete, s.replanned, s.plan_json, s.id)
        )
        if s.finish is not None:
            finished.append(_finish_row(s.id, s.finish))
        if s.steps is None:
            continue
        if s.steps_replaced:
            replaced.append((s.id,))
        for position, (step_id, result) in enumerate(s.steps.items()):
            if s.steps_replaced or step_id in s.changed_steps:
                steps.append((s.id, step_id, position, result.model_dump_json()))
    await conn.executemany(
        "UPDATE runs SET status = ?, updated_at = ?, last_seq = ?, plan_complete = ?, "
        "replanned = ?, plan = COALESCE(?, plan) WHERE id = ?",
        runs,
    )
    if finished:
        await conn.executemany(
            "UPDATE runs SET finished_at = ?, result = ?, answer = ?, error = ?, usage = ? "
            "WHERE id = ?",
            finished,
        )
    if replaced:
        await conn.executemany("DELETE FROM steps WHERE run_id = ?", replaced)
    if approvals:
        await conn.executemany(
            "INSERT INTO approvals (run_id, approval_id, position, request, decision) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, approval_id) DO UPDATE "
            "SET request = excluded.request, decision = excluded.decision",
            approvals,
        )
    if steps:
        await conn.executemany(
            "INSERT INTO steps (run_id, step_id, position, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, step_id) DO UPDATE "
            "SET position = excluded.position, data = excluded.data",
            steps,
        )


def _finish_row(run_id: str, finish: Finish) -> tuple[Any, ...]:
    return (
        finish.finished_at,
        finish.result_json,
        finish.answer,
        finish.error,
        finish.usage_json,
        run_id,
    )


def encode_data(index: int, event: NewEvent) -> str:
    try:
        text = json.dumps(event.data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"event {index + 1} of the batch ({event.type} of run {event.run_id}) has data "
            f"that is not JSON ({exc}); nothing of the batch was stored"
        ) from exc
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (JSON allows ``"\ud800"``) cannot be UTF-8; escaped, it is kept.
            text = json.dumps(event.data, allow_nan=False, separators=(",", ":"))
    return text


def encode_cursor(last: RunRecord) -> str:
    raw = json.dumps([db_time(last.created_at), last.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, rid = json.loads(raw)
        if not isinstance(created, str) or not isinstance(rid, str):
            raise TypeError
        return db_time(from_db_time(created)), rid
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise BadCursor(
            "the cursor is not one this server gave out; list again without it"
        ) from exc


def chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


async def column(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> list[str]:
    async with conn.execute(sql, params) as cursor:
        return [row[0] for row in await cursor.fetchall()]
