"""Runtimes of different configurations on one bus never plan each other's tasks: each
master takes only its own group's submissions (a ``relay run`` beside a ``relay serve``)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.bus import InMemoryBus
from agent_relay.runtime import Runtime, RuntimeSettings, RuntimeUsageError
from agent_relay.runtime.testing import ScriptedModel

pytestmark = pytest.mark.anyio


def _model(marker: str) -> ScriptedModel:
    return ScriptedModel([plan_text(("s1", "sleep", marker, []))] * 4)


async def test_each_group_plans_only_its_own_tasks(tmp_path: Path) -> None:
    settings = RuntimeSettings(summarize="never")
    model_a, model_b = _model("from-a"), _model("from-b")
    async with InMemoryBus() as bus:
        a = Runtime(model_a, [SleepAgent(Journal(), latency=0)], tmp_path / "a", bus=bus,
                    settings=settings, master_group="run-a")  # fmt: skip
        b = Runtime(model_b, [SleepAgent(Journal(), latency=0)], tmp_path / "b", bus=bus,
                    settings=settings, master_group="daemon")  # fmt: skip
        async with a, b:
            with anyio.fail_after(30):
                for _ in range(3):
                    assert (await a.run("task for a")).step("s1").prompt == "from-a"
                    assert (await b.run("task for b")).step("s1").prompt == "from-b"
    assert len(model_a.calls) == 3 and len(model_b.calls) == 3


def test_a_bad_group_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeUsageError, match="master_group"):
        Runtime(_model("x"), [SleepAgent(Journal(), latency=0)], tmp_path, master_group="a.b")
