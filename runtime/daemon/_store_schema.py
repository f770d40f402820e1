"""The run store's file: its schema, and opening it so that only a relay store of a version
this relay knows is ever written to.

A relay store is marked twice in the SQLite header: ``application_id`` says "relay run store"
and ``user_version`` says which schema. A file with another mark, or no database at all, is
refused before anything is written to it, so pointing the daemon at a wrong file loses
nothing. A schema change adds a step to ``_MIGRATIONS`` and bumps ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import aiosqlite
import anyio

from ._store_errors import StoreError

#: "rlRS" (relay run store), in the header's application_id.
APPLICATION_ID = 0x726C5253
SCHEMA_VERSION = 2

# Runs keep in columns what the store needs to update them without reading them whole: the
# status, the last sequence number, the plan flags; a step's state is one row of ``steps``
# (its StepResult as JSON). Times are ISO 8601 text in UTC with microseconds, so they sort.
_SCHEMA_V1 = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    has_webhook INTEGER NOT NULL,
    webhook_delivered INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    plan TEXT NOT NULL DEFAULT '[]',
    plan_complete INTEGER NOT NULL DEFAULT 0,
    replanned INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    answer TEXT NOT NULL DEFAULT '',
    error TEXT,
    usage TEXT,
    last_seq INTEGER NOT NULL
);
CREATE INDEX runs_by_created ON runs (created_at, id);
CREATE INDEX runs_by_status ON runs (status, created_at, id);
CREATE INDEX runs_by_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX runs_webhook_due ON runs (finished_at)
    WHERE has_webhook = 1 AND webhook_delivered = 0;

CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);

CREATE TABLE events (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    topic TEXT NOT NULL,
    time TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE deliveries (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    PRIMARY KEY (run_id, attempt)
);
"""

# A run's approvals, one row each, as its approval events tell them (kept like ``steps``:
# read by id when a decision comes, updated by the batch that brings one). ``position`` is the
# sequence number of the event that first asked; ``announced``/``announce_attempts`` track the
# webhook that announces a request.
_APPROVALS = """
CREATE TABLE approvals (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    approval_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    request TEXT NOT NULL,
    decision TEXT,
    announced INTEGER NOT NULL DEFAULT 0,
    announce_attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, approval_id)
);
CREATE INDEX approvals_to_announce ON approvals (run_id)
    WHERE decision IS NULL AND announced = 0;
"""

# version it upgrades from -> the SQL that brings it one version up.
_MIGRATIONS: dict[int, str] = {1: _APPROVALS}


async def connect(path: Path) -> aiosqlite.Connection:
    """An open connection to the store at ``path``, created (0600, in a 0700 directory if the
    directory has to be made) when missing, checked and brought to ``SCHEMA_VERSION``.

    Raises:
        StoreError: the file cannot be opened, is not a relay store, or is of a newer relay.
    """
    await anyio.to_thread.run_sync(_create_file, path)
    try:
        # Autocommit: the store opens its transactions itself (BEGIN IMMEDIATE), so that a
        # transaction is exactly what the code says.
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the run store {path}: {exc}") from exc
    try:
        await _prepare(conn, path)
    except BaseException:
        await conn.close()
        raise
    return conn


def _create_file(path: Path) -> None:
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=0o700)
        # An empty file is a new database to SQLite; made here so that it is 0600 from the
        # start (SQLite gives its -wal and -shm files the same mode).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Opened here first so that a file the store cannot write (a directory, another
        # user's file) is told in one line, before SQLite would open it read-only.
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise StoreError(f"cannot open the run store {path}: {exc.strerror}") from exc
    except OSError as exc:
        raise StoreError(f"cannot create the run store {path}: {exc.strerror}") from exc
    os.close(fd)


async def _prepare(conn: aiosqlite.Connection, path: Path) -> None:
    try:
        # Read before anything is written: a file that is not a database fails here, intact.
        app_id = await _pragma(conn, "application_id")
        version = await _pragma(conn, "user_version")
        objects = await _scalar(conn, "SELECT count(*) FROM sqlite_master")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a relay run store ({exc})") from exc
    if app_id != APPLICATION_ID and not (app_id == 0 and version == 0 and objects == 0):
        raise StoreError(
            f"{path} is not a relay run store (an SQLite database of another program); "
            "point relay at a new file"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} is a run store of a newer relay (schema {version}, this relay knows up "
            f"to {SCHEMA_VERSION}); upgrade relay or use another file"
        )
    try:
        # WAL: readers do not block the writer. synchronous=NORMAL: a commit survives the
        # process crashing (the WAL is written before commit returns), though not the machine
        # losing power before the OS flushes it, which is what the daemon promises.
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        # Another process briefly holding the file (a backup, a second reader) is waited for.
        await conn.execute("PRAGMA busy_timeout=5000")
        if version < SCHEMA_VERSION:
            await _upgrade(conn, path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot prepare the run store {path}: {exc}") from exc


async def _upgrade(conn: aiosqlite.Connection, path: Path) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again inside the transaction: another process may have set it up meanwhile.
        version = await _pragma(conn, "user_version")
        if version == 0:
            for statement in _statements(_SCHEMA_V1):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            version = 1
        while version < SCHEMA_VERSION:
            if version not in _MIGRATIONS:
                raise StoreError(
                    f"{path} is a run store of schema {version}, which this relay cannot upgrade"
                )
            for statement in _statements(_MIGRATIONS[version]):
                await conn.execute(statement)
            version += 1
        await conn.execute(f"PRAGMA user_version={version}")
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    # executescript would commit the open transaction first; one statement at a time keeps
    # the schema and its version in one transaction.
    return [s.strip() for s in script.split(";") if s.strip()]


async def _pragma(conn: aiosqlite.Connection, name: str) -> int:
    return await _scalar(conn, f"PRAGMA {name}")


async def _scalar(conn: aiosqlite.Connection, sql: str) -> int:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])
