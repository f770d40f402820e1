"""``relay serve`` as a real child process for the daemon's durability tests: started with an
environment scrubbed of the host's keys and relay settings, its stderr drained all along (a
full pipe would stall it), ready once it prints where it listens, and killable with SIGKILL."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import Process, TaskGroup

_RELAY = Path(sys.executable).with_name("relay")
RELAY = [str(_RELAY)] if _RELAY.exists() else [sys.executable, "-m", "agent_relay.runtime.cli"]
_SCRUBBED = ("OPENAI_", "RELAY_", "AZURE_", "REPLICATE_", "OPENROUTER_", "VLLM_")
_LISTENING = re.compile(r"relay serve: listening on (http://\S+)")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.update(extra)
    return env


class ServeProcess:
    """One ``relay serve`` process; ``async with`` starts it and waits until it listens, and
    leaving the block kills it if it still runs. ``url`` is where it listens."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        self._args = [*RELAY, "serve", *args]
        self._env = env
        self._process: Process | None = None
        self._tg: TaskGroup | None = None
        self._listening = anyio.Event()
        self.url = ""
        self.stderr = ""

    async def __aenter__(self) -> Self:
        self._process = await anyio.open_process(self._args, env=self._env, stdin=None, stdout=None)
        self._tg = await anyio.create_task_group().__aenter__()
        self._tg.start_soon(self._drain)
        with anyio.fail_after(60):
            await self._listening.wait()
        if not self.url:
            await self.kill()
            raise AssertionError(f"relay serve did not start:\n{self.stderr}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.kill()
        assert self._tg is not None
        await self._tg.__aexit__(exc_type, exc, tb)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs in the daemon."""
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()
        if process is not None:
            with anyio.CancelScope(shield=True):
                await process.wait()

    async def _drain(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        try:
            async for chunk in self._process.stderr:
                self.stderr += chunk.decode(errors="replace")
                found = _LISTENING.search(self.stderr)
                if found and not self._listening.is_set():
                    self.url = found.group(1)
                    self._listening.set()
        finally:
            self._listening.set()  # ended without listening: __aenter__ reports it


def query(path: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` over the store file, read-only, with SQLite's own module (blocking:
    call it through ``anyio.to_thread``)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count(path: Path, sql: str) -> int:
    """The single number ``sql`` selects from the store file (see ``query``)."""
    return int(query(path, sql)[0][0])


async def wait_until(
    check: Callable[[], object], *, what: str, within_s: float = 60, every: float = 0.05
) -> None:
    """Until ``check()`` (run in a worker thread: it may read files) is true, at most
    ``within_s`` seconds; the pause between checks is the only sleep, not a wait."""
    try:
        with anyio.fail_after(within_s):
            while not await anyio.to_thread.run_sync(check):
                await anyio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"no {what} within {within_s:g} s") from None
