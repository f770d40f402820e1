"""One daemon per store: a second one would resume the first one's runs and run them twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_relay.runtime import Runtime
from agent_relay.runtime.cli._demo import QUICK, demo_model
from agent_relay.runtime.daemon import Daemon, DaemonConfig, DaemonConfigError

pytestmark = pytest.mark.anyio


def _daemon(tmp_path: Path, workspace: str) -> Daemon:
    runtime = Runtime(
        demo_model(QUICK),
        workspace=tmp_path / workspace,
        agent_options={"image": {"backend": "offline"}},
    )
    return Daemon(runtime, DaemonConfig(port=0, store=tmp_path / "runs.sqlite3"))


async def test_a_second_daemon_on_the_same_store_is_refused_in_one_line(tmp_path: Path) -> None:
    async with _daemon(tmp_path, "one") as first:
        assert first.service is not None
        with pytest.raises(DaemonConfigError) as refused:
            async with _daemon(tmp_path, "two"):
                pass
        message = str(refused.value)
        assert "is in use by another relay serve" in message and "\n" not in message
        assert first.service.ready  # the first one is untouched
    # Once the first has stopped, the store is free again.
    async with _daemon(tmp_path, "two") as second:
        assert second.url
