"""The relay command tunes the garbage collector of its own process; relay as a library
leaves the interpreter's settings alone. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, sys
{setup}
print(json.dumps({{"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}}))
"""


def _probe(setup: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_relay_as_a_library_leaves_the_collector_alone() -> None:
    default = _probe("")
    embedded = _probe(
        "import anyio\n"
        "from agent_relay.runtime import Runtime\n"
        "from agent_relay.agents import FileAgent\n"
        "from agent_relay.runtime.testing import ScriptedModel\n"
        "import tempfile\n"
        "async def main():\n"
        "    async with Runtime(ScriptedModel([]), [FileAgent()], tempfile.mkdtemp()):\n"
        "        pass\n"
        "anyio.run(main)\n"
    )
    assert embedded == default


def test_the_relay_command_tunes_it_after_start_up() -> None:
    tuned = _probe(
        "from agent_relay.runtime._gc_tuning import OWNED_PROCESS_THRESHOLDS\n"
        "from agent_relay.runtime.cli import _app\n"
        "_app.main = lambda argv=None: 0  # the command's own work is not the point here\n"
        "assert _app.console_main() == 0\n"
    )
    assert tuned["threshold"] == [50_000, 20, 100]
    assert isinstance(tuned["frozen"], int) and tuned["frozen"] > 0
