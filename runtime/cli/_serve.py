"""``relay serve``: the daemon, until SIGTERM or Ctrl-C; runs in flight when it stops are
resumed the next time it starts on the same store."""

from __future__ import annotations

import sys

import anyio

from ..daemon._daemon import Daemon
from ..models._chat_model import ChatModel
from ._config import ConfigError, RelaySettings
from ._model import build_runtime, opened, setup_lines
from ._signals import watch_stop_signals


async def serve_command(model: ChatModel, settings: RelaySettings) -> int:
    try:
        config = settings.daemon_config()
    except OSError as exc:
        where = settings.token_file
        raise ConfigError(f"cannot read the token file {where}: {exc.strerror or exc}") from None
    if settings.token_file is not None and not config.tokens:
        raise ConfigError(f"the token file {settings.token_file} holds no tokens (one per line)")
    config.check_exposure()  # before anything is built: a refused setup leaves nothing
    # Tasks from the network run code only where the server says so.
    settings = settings.model_copy(update={"allow_code_execution": settings.daemon_code_execution})
    settings, approval_line = daemon_approvals(settings)
    # Daemons on one bus share their runs' work; other masters never take them.
    runtime = build_runtime(model, settings, master_group="daemon")
    stop = anyio.Event()
    async with model, opened(runtime.agent_models), Daemon(runtime, config) as daemon:
        assert daemon.service is not None
        for line in [*setup_lines(runtime, settings), *approval_line]:
            sys.stderr.write(f"relay serve: {line}\n")
        store = config.store_path(runtime.workspace)
        resumed = daemon.service.queue_depth
        sys.stderr.write(
            f"relay serve: listening on {daemon.url} (store {store}"
            + (f"; {resumed} unfinished run{'s' * (resumed != 1)} resumed" if resumed else "")
            + ("" if config.tokens else "; no tokens: loopback only")
            + ")\n"
        )
        sys.stderr.flush()
        async with anyio.create_task_group() as tg:
            await tg.start(watch_stop_signals, lambda _signum: stop.set())
            await stop.wait()
            tg.cancel_scope.cancel()
        sys.stderr.write("relay serve: stopping; runs in flight resume at the next start\n")
    return 0


def daemon_approvals(settings: RelaySettings) -> tuple[RelaySettings, list[str]]:
    """With code execution on, runs from the network wait for a person before their risky
    tool calls (running code, downloads, writing over a file), unless the person who started
    the daemon set ``approve_tools`` themselves (a flag, ``RELAY_APPROVE_TOOLS``, relay.toml).
    The settings to run with, and the line that says so at start-up (none when it is off)."""
    if settings.daemon_code_execution and "approve_tools" not in settings.model_fields_set:
        settings = settings.model_copy(update={"approve_tools": "risky"})
        return settings, [
            "code execution is on: risky tool calls (running code, downloads, writing over a "
            "file) wait for approval (relay approve / relay reject); --approve-tools never "
            "turns this off"
        ]
    if settings.approve_tools != "never":
        return settings, [f"tool calls that wait for approval: {settings.approve_tools}"]
    return settings, []
