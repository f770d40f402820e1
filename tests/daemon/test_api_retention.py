"""Retention: finished runs older than ``retention_s`` go, with their events and files; runs
still in flight and younger runs stay. ``prune(now=...)`` runs the sweep at a chosen time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from api_helpers import error_of, running_api

from agent_relay.bus import utc_now

pytestmark = pytest.mark.anyio


async def test_old_finished_runs_are_removed_with_their_events_and_files(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path, retention_s=3600, max_concurrent_runs=1) as api:
        old = await api.create()
        await api.finished(old)
        api.model.close_gate()  # the next run stays in flight
        live = await api.create({"task": "Draw a cat and make a web page that shows it"})
        await api.in_flight(live)
        service = api.service
        assert (api.workspace / old).is_dir()

        assert await service.prune(now=utc_now() + timedelta(seconds=60)) == 0
        assert (await api.view(old))["status"] == "completed"

        assert await service.prune(now=utc_now() + timedelta(hours=2)) == 1
        async with api.http.get(f"/v1/runs/{old}") as reply:
            assert (await error_of(reply))[:2] == (404, "not_found")
        assert not (api.workspace / old).exists()
        assert await service.store.events_after(old, 0) == []
        assert (await api.view(live))["status"] in ("planning", "running")

        api.model.gate.set()
        await api.finished(live)
        assert await service.prune(now=utc_now() + timedelta(minutes=30)) == 0
        assert await service.prune(now=utc_now() + timedelta(days=1)) == 1
        assert (await api.state())[0] == 0
