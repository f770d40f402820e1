"""``Daemon``: a runtime, its run store and its HTTP API, started and stopped together.

::

    async with Daemon(Runtime(model), DaemonConfig(port=8080)) as daemon:
        print("listening on", daemon.url)
        await anyio.sleep_forever()

Stopping (leaving the block) closes the HTTP server first, then stops recording, then the
runtime: runs still in flight stay unfinished in the store and are resumed by the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

import anyio
from aiohttp import web

from .._runtime import Runtime
from ._config import DaemonConfig, DaemonConfigError
from ._http import build_app
from ._metrics_view import metrics_text
from ._service import RunService
from ._store import RunStore

# An open event stream must not hold a stop for long: its client reconnects and resumes.
_SHUTDOWN_TIMEOUT_S = 2.0


class Daemon:
    """See the module docstring. ``runtime`` is not started yet: the daemon starts it.

    Raises:
        DaemonConfigError: (entering) no tokens and a non-loopback host; the port is taken.
        StoreError: (entering) the store file cannot be opened as a relay store.
    """

    def __init__(self, runtime: Runtime, config: DaemonConfig | None = None) -> None:
        self.runtime = runtime
        self.config = config or DaemonConfig()
        self.service: RunService | None = None
        self.url = ""
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> Daemon:
        config = self.config
        config.check_exposure()
        # Raised once the stack has unwound: inside it, the task groups would wrap it in an
        # ExceptionGroup, and a person would see a traceback instead of one line.
        refused: DaemonConfigError | None = None
        async with AsyncExitStack() as stack:
            path = config.store_path(self.runtime.workspace)
            store = await RunStore.open(path)
            stack.push_async_callback(store.close)
            stack.enter_context(_sole_user(path))
            service = RunService(self.runtime, store, config)  # checks the webhook hosts
            await stack.enter_async_context(self.runtime)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            await tg.start(service.run)
            app = build_app(
                service,
                lambda: metrics_text(service),
                tokens=[t.get_secret_value() for t in config.tokens],
            )
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            # The runner carries shutdown_timeout; aiohttp deprecates it on the site.
            site = web.TCPSite(runner, config.host, config.port)
            try:
                await site.start()
            except OSError as exc:
                refused = DaemonConfigError(
                    f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
                )
            else:
                port = runner.addresses[0][1]
                host = f"[{config.host}]" if ":" in config.host else config.host
                self.url = f"http://{host}:{port}"
                self.service = service
                self._stack = stack.pop_all()
        if refused is not None:
            raise refused
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)


@contextlib.contextmanager
def _sole_user(store: Path) -> Iterator[None]:
    """Hold an exclusive lock on the store for the daemon's life: a second daemon on the same
    store would resume the first one's runs and run them twice. ``flock`` (SQLite's own
    locks are ``fcntl`` ones, which it does not touch) is dropped by the kernel however the
    process ends, so a crash never leaves a stale lock.

    Raises:
        DaemonConfigError: another process holds the store.
    """
    fd = os.open(store, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DaemonConfigError(
                f"the store {store} is in use by another relay serve; stop it first, or give "
                "this one its own --store"
            ) from None
        yield
    finally:
        os.close(fd)
