"""A finished task's objects are freed by reference counting as soon as it ends, not left in
reference cycles for the garbage collector: each cycle left behind costs every later
collection a walk over it, and under load collections were half the engine's CPU."""

from __future__ import annotations

import gc
from collections import Counter
from pathlib import Path

from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.testing import ScriptedModel

PLAN = plan_text(
    ("a", "sleep", "one", []),
    ("b", "sleep", "two", []),
    ("c", "sleep", "three", ["a", "b"]),
)


def _relay_garbage() -> Counter[str]:
    """The objects of relay's own classes that only the cyclic collector could free."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return Counter(
            type(o).__qualname__
            for o in gc.garbage
            if type(o).__module__.startswith("agent_relay.")
        )
    finally:
        gc.garbage.clear()
        gc.set_debug(0)


async def test_a_finished_task_leaves_nothing_for_the_garbage_collector(tmp_path: Path) -> None:
    settings = RuntimeSettings(summarize="never")
    runtime = Runtime(
        ScriptedModel(lambda m, t: PLAN), [SleepAgent(Journal())], tmp_path, settings=settings
    )
    async with runtime as rt:
        await rt.run("warm up")  # imports, caches and the runtime's own objects
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()
        try:
            for n in range(5):
                result = await rt.run(f"task {n}")
                assert result.status == "completed", result.error
            left = _relay_garbage()
        finally:
            if enabled:
                gc.enable()
    assert left == Counter(), f"objects freed only by the cyclic collector: {left}"
