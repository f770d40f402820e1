"""The daemon's run store: every run, its events and its webhook deliveries in one SQLite
file, so that the daemon survives restarts.

One connection (aiosqlite: the calls run in its thread, off the event loop) and one lock:
every call, reads included, holds it, so that a read never sees a transaction half done and
writes are serialized. Each write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``),
shielded from cancellation so that it either commits whole or rolls back whole; a call
returns only after its commit. Per-run sequence numbers come from the run's ``last_seq``
column, never from the events still stored, so a number is never given out twice.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, get_args

import aiosqlite
import anyio

from ._api import FINAL_RUN_STATUSES, RunEvent, RunRequest, RunStatus
from ._store_derive import needs_approvals, needs_steps
from ._store_errors import IdempotencyConflict, StoreError
from ._store_rows import (
    column,
    decode_cursor,
    encode_cursor,
    encode_data,
    load_approvals,
    load_records,
    load_states,
    load_steps,
    write_states,
)
from ._store_schema import connect
from ._store_types import Delivery, NewEvent, RunRecord, db_time, from_db_time

_UNFINISHED = tuple(s for s in get_args(RunStatus) if s not in FINAL_RUN_STATUSES)


class RunStore:
    """The runs of a daemon in an SQLite file (WAL journal, ``synchronous=NORMAL``: what was
    committed survives the process crashing, which is what the daemon promises; a power loss
    may take the last commits back).

    Open it with ``await RunStore.open(path)``, or ``async with await RunStore.open(path)``.
    All times given must be timezone-aware; all times returned are in UTC. Every method
    raises ``StoreError`` (one line) when the database fails or the store is closed, and
    ``ValueError`` for a naive time or a limit below 1.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        """Use ``RunStore.open``."""
        self._conn: aiosqlite.Connection | None = conn
        self._lock = anyio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> RunStore:
        """The store in the file at ``path``, created when missing (0600; its directory
        0700 when it has to be made).

        Raises:
            StoreError: the file cannot be opened, is not a relay run store, or was written
                by a newer relay. The file is left as it was.
        """
        where = Path(path)
        return cls(await connect(where), where)

    async def close(self) -> None:
        """Close the file (after the call in progress, if any); closing twice is fine."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with anyio.CancelScope(shield=True):
                    await conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- runs --------------------------------------------------------------------------------

    async def create_run(
        self,
        run_id: str,
        request: RunRequest,
        *,
        idempotency_key: str | None,
        request_hash: str,
        now: datetime,
    ) -> tuple[RunRecord, bool]:
        """Store a new run (``queued``) with its first event ``run.queued`` (seq 1), in one
        transaction; returns after the commit. With an ``idempotency_key`` that a run has
        already, and the same ``request_hash``: that run and ``False`` (nothing stored).

        Returns:
            (the run, whether it was created now).

        Raises:
            IdempotencyConflict: the key belongs to a run of another request (another hash).
            StoreError: a run with ``run_id`` exists already, or the write failed.
        """
        stamp = db_time(now)
        async with self._write("store the run") as conn:
            if idempotency_key is not None:
                async with conn.execute(
                    "SELECT id, request_hash FROM runs WHERE idempotency_key = ?",
                    (idempotency_key,),
                ) as cursor:
                    found = await cursor.fetchone()
                if found is not None:
                    if found[1] != request_hash:
                        raise IdempotencyConflict(
                            f"the idempotency key was used for another request (run {found[0]});"
                            " use a new key for a new request",
                            run_id=found[0],
                        )
                    existing = await load_records(conn, "WHERE id = ?", (found[0],))
                    return existing[0], False
            try:
                await conn.execute(
                    "INSERT INTO runs (id, status, request, request_hash, idempotency_key, "
                    "has_webhook, created_at, updated_at, last_seq) "
                    "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, 1)",
                    (
                        run_id,
                        request.model_dump_json(),
                        request_hash,
                        idempotency_key,
                        request.webhook is not None,
                        stamp,
                        stamp,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"a run with id {run_id} exists already") from exc
            await conn.execute(
                "INSERT INTO events (run_id, seq, type, topic, time, data) "
                "VALUES (?, 1, 'run.queued', ?, ?, '{}')",
                (run_id, f"run.{run_id}.queued", stamp),
            )
        record = RunRecord(
            id=run_id,
            status="queued",
            request=request,
            idempotency_key=idempotency_key,
            created_at=from_db_time(stamp),
            updated_at=from_db_time(stamp),
            last_seq=1,
        )
        return record, True

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id; None if there is none."""
        async with self._read("read the run") as conn:
            found = await load_records(conn, "WHERE id = ?", (run_id,))
        return found[0] if found else None

    async def list_runs(
        self, *, status: RunStatus | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[RunRecord], str | None]:
        """A page of runs, newest first (by creation time, then id), only of ``status`` if
        given; the cursor of the next page, or None on the last page.

        Raises:
            BadCursor: ``cursor`` is not one this store gave out.
            ValueError: ``limit`` is below 1, or ``status`` is not a run status.
        """
        _check_limit(limit)
        if status is not None and status not in get_args(RunStatus):
            raise ValueError(f"not a run status: {status!r}")
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if cursor is not None:
            where.append("(created_at, id) < (?, ?)")
            params.extend(decode_cursor(cursor))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        params.append(limit + 1)
        async with self._read("list runs") as conn:
            records = await load_records(
                conn, f"{clause} ORDER BY created_at DESC, id DESC LIMIT ?", params
            )
        if len(records) <= limit:
            return records, None
        records = records[:limit]
        return records, encode_cursor(records[-1])

    async def unfinished_runs(self) -> list[RunRecord]:
        """The runs not in a final status (queued, planning, running), oldest first."""
        marks = ", ".join("?" * len(_UNFINISHED))
        async with self._read("list unfinished runs") as conn:
            return await load_records(
                conn, f"WHERE status IN ({marks}) ORDER BY created_at, id", _UNFINISHED
            )

    async def delete_run(self, run_id: str) -> bool:
        """Delete the run with its steps, events and deliveries; False if there was none."""
        async with self._write("delete the run") as conn:
            cursor = await conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            return cursor.rowcount > 0

    async def finished_before(self, when: datetime, limit: int) -> list[str]:
        """Ids of at most ``limit`` runs that finished before ``when``, longest ago first."""
        _check_limit(limit)
        async with self._read("list finished runs") as conn:
            return await column(
                conn,
                "SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ? "
                "ORDER BY finished_at, id LIMIT ?",
                (db_time(when), limit),
            )

    async def count_by_status(self) -> dict[str, int]:
        """How many runs there are of each status (every status present, 0 where none)."""
        counts = dict.fromkeys(get_args(RunStatus), 0)
        async with (
            self._read("count runs") as conn,
            conn.execute("SELECT status, count(*) FROM runs GROUP BY status") as cursor,
        ):
            for status, count in await cursor.fetchall():
                counts[status] = count
        return counts

    async def queued_count(self) -> int:
        """How many runs wait in ``queued``."""
        async with (
            self._read("count runs") as conn,
            conn.execute("SELECT count(*) FROM runs WHERE status = 'queued'") as cursor,
        ):
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    # -- events ------------------------------------------------------------------------------

    async def append_events(self, events: Sequence[NewEvent]) -> list[RunEvent]:
        """Store a batch of events (of any runs) in one transaction, each numbered with its
        run's next sequence number, and update each run's state from them (see
        ``_store_derive``). Events of runs that do not exist (deleted meanwhile) are dropped.

        Returns:
            The stored events, numbered, in the order given.

        Raises:
            StoreError: an event's data is not JSON, or the write failed; nothing of the batch
                was stored then.
        """
        if not events:
            return []
        # Checked before the transaction: one bad event refuses the batch, whole.
        encoded = [encode_data(i, event) for i, event in enumerate(events)]
        stored: list[RunEvent] = []
        async with self._write("store events") as conn:
            states = await load_states(conn, {e.run_id for e in events})
            await load_steps(
                conn, states, {e.run_id for e in events if e.run_id in states and needs_steps(e)}
            )
            await load_approvals(
                conn,
                states,
                {e.run_id for e in events if e.run_id in states and needs_approvals(e)},
            )
            rows: list[tuple[str, int, str, str, str, str]] = []
            for event, data_json in zip(events, encoded, strict=True):
                state = states.get(event.run_id)
                if state is None:
                    continue
                seq = state.apply(event, data_json)
                time = from_db_time(db_time(event.time))
                rows.append((event.run_id, seq, event.type, event.topic, db_time(time), data_json))
                stored.append(
                    RunEvent.model_construct(
                        run_id=event.run_id,
                        seq=seq,
                        type=event.type,
                        topic=event.topic,
                        time=time,
                        data=dict(event.data),
                    )
                )
            await conn.executemany(
                "INSERT INTO events (run_id, seq, type, topic, time, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            await write_states(conn, states.values())
        return stored

    async def events_after(self, run_id: str, after: int, limit: int = 500) -> list[RunEvent]:
        """At most ``limit`` events of the run with a sequence number above ``after``, in
        order (none for an unknown run)."""
        _check_limit(limit)
        async with (
            self._read("read events") as conn,
            conn.execute(
                "SELECT seq, type, topic, time, data FROM events "
                "WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (run_id, after, limit),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [
            RunEvent(
                run_id=run_id,
                seq=seq,
                type=kind,
                topic=topic,
                time=from_db_time(at),
                data=json.loads(data),
            )
            for seq, kind, topic, at, data in rows
        ]

    # -- webhook deliveries ------------------------------------------------------------------

    async def record_delivery(
        self, run_id: str, attempt: int, at: datetime, status: int | None, error: str | None
    ) -> bool:
        """Record attempt ``attempt`` (1, 2, ...) at delivering the run's webhook: the HTTP
        ``status`` the receiver answered (None if none), and ``error`` (None if it worked; no
        secrets, it is stored). Recording an attempt again replaces it. A 2xx status marks
        the webhook delivered. False if the run does not exist (deleted meanwhile).

        Raises:
            ValueError: ``attempt`` is below 1.
        """
        if attempt < 1:
            raise ValueError(f"delivery attempts count from 1, got {attempt}")
        stamp = db_time(at)
        async with self._write("record the delivery") as conn:
            cursor = await conn.execute(
                "INSERT INTO deliveries (run_id, attempt, at, status, error) "
                "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?) "
                "ON CONFLICT (run_id, attempt) DO UPDATE "
                "SET at = excluded.at, status = excluded.status, error = excluded.error",
                (run_id, attempt, stamp, status, error, run_id),
            )
            if cursor.rowcount == 0:
                return False
            if status is not None and 200 <= status < 300:
                await conn.execute("UPDATE runs SET webhook_delivered = 1 WHERE id = ?", (run_id,))
            return True

    async def deliveries(self, run_id: str) -> list[Delivery]:
        """The run's recorded delivery attempts, by attempt number."""
        async with (
            self._read("read deliveries") as conn,
            conn.execute(
                "SELECT attempt, at, status, error FROM deliveries WHERE run_id = ? "
                "ORDER BY attempt",
                (run_id,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [
            Delivery(run_id=run_id, attempt=n, at=from_db_time(at), status=status, error=error)
            for n, at, status, error in rows
        ]

    async def webhook_pending(self, max_attempts: int) -> list[str]:
        """Ids of the runs whose webhook is still due: the run has ended, has a webhook, no
        attempt succeeded and fewer than ``max_attempts`` were made. Longest finished first."""
        _check_limit(max_attempts)
        async with self._read("list pending webhooks") as conn:
            return await column(
                conn,
                "SELECT id FROM runs WHERE has_webhook = 1 AND webhook_delivered = 0 "
                "AND finished_at IS NOT NULL "
                "AND (SELECT count(*) FROM deliveries d WHERE d.run_id = runs.id) < ? "
                "ORDER BY finished_at, id",
                (max_attempts,),
            )

    # -- approval announcements -------------------------------------------------------------

    async def announcements_due(self, max_attempts: int) -> list[tuple[str, str]]:
        """(run id, approval id) of the pending approvals whose webhook announcement is still
        due: the run has a webhook and has not ended, no attempt succeeded and fewer than
        ``max_attempts`` were made. In the order asked."""
        _check_limit(max_attempts)
        async with (
            self._read("list approvals to announce") as conn,
            conn.execute(
                "SELECT a.run_id, a.approval_id FROM approvals a JOIN runs r ON r.id = a.run_id "
                "WHERE a.decision IS NULL AND a.announced = 0 AND a.announce_attempts < ? "
                "AND r.has_webhook = 1 AND r.finished_at IS NULL "
                "ORDER BY r.created_at, a.position",
                (max_attempts,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [(rid, aid) for rid, aid in rows]

    async def announce_attempts(self, run_id: str, approval_id: str) -> tuple[int, bool]:
        """How many attempts announced the approval, and whether one succeeded ((0, False)
        for an unknown approval)."""
        async with (
            self._read("read an announcement") as conn,
            conn.execute(
                "SELECT announce_attempts, announced FROM approvals "
                "WHERE run_id = ? AND approval_id = ?",
                (run_id, approval_id),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return (int(row[0]), bool(row[1])) if row else (0, False)

    async def record_announcement(
        self, run_id: str, approval_id: str, attempt: int, delivered: bool
    ) -> None:
        """Count attempt ``attempt`` at announcing the approval; ``delivered``: it succeeded."""
        async with self._write("record the announcement") as conn:
            await conn.execute(
                "UPDATE approvals SET announce_attempts = max(announce_attempts, ?), "
                "announced = announced OR ? WHERE run_id = ? AND approval_id = ?",
                (attempt, delivered, run_id, approval_id),
            )

    # -- machinery ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _read(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            conn = self._open_connection()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise StoreError(f"the run store could not {what}: {exc}") from exc

    @asynccontextmanager
    async def _write(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            conn = self._open_connection()
            # Shielded: a transaction that has begun commits or rolls back, whole, even when
            # its caller is cancelled meanwhile.
            with anyio.CancelScope(shield=True):
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield conn
                        await conn.execute("COMMIT")
                    except BaseException:
                        # Some failures (a full disk) end the transaction themselves.
                        if conn.in_transaction:
                            await conn.execute("ROLLBACK")
                        raise
                except sqlite3.Error as exc:
                    raise StoreError(
                        f"the run store could not {what} (nothing of it was stored): {exc}"
                    ) from exc

    def _open_connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("the run store is closed")
        return self._conn


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"a limit must be at least 1, got {limit}")
