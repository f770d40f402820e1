"""Where the sandbox cannot give code a file system of its own, code execution is off.

The machine is made unable for real: relay runs under ``unshare --user`` with no id mapping,
where the kernel refuses both a nested user namespace and a mount namespace. There the probe
gives one line of reason, the code agent does not offer ``execute_code`` (and logs why), and
the sandbox refuses to run code, unless unconfined execution is asked for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from isolation import lacking

SCRIPT = """
import json, sys, tempfile
from pathlib import Path
import anyio
from loguru import logger
from agent_relay.agents import CodeAgent
from agent_relay.agents._base import ArtifactLog
from agent_relay.agents.sandbox import Sandbox, SandboxError, isolation_unavailable
from agent_relay.runtime import AgentContext, StepAssignment
from agent_relay.runtime.testing import ScriptedModel

warnings = []
logger.remove()
logger.enable("agent_relay")
logger.add(lambda m: warnings.append(m.record["message"]), level="WARNING")
ws = Path(sys.argv[1])
out = {"reason": isolation_unavailable()}

async def progress(message, data):
    pass

def tool_names(unconfined):
    step = StepAssignment(task_id="t", step_id="s", agent="code", prompt="p", task="t",
                          workspace=str(ws), allow_code_execution=True,
                          unconfined_code_execution=unconfined)
    ctx = AgentContext("t", "s", ws, ScriptedModel([]), progress)
    return sorted(t.name for t in CodeAgent().tools(step, ctx, ArtifactLog()))

out["tools"] = tool_names(False)
out["tools_unconfined"] = tool_names(True)
out["warnings"] = warnings

async def run(unconfined):
    try:
        result = await Sandbox(ws / ".sandbox", unconfined=unconfined).execute(
            "python", "print('ran')")
        return result.stdout
    except SandboxError as exc:
        return "refused: " + str(exc)

out["confined"] = anyio.run(run, False)
out["unconfined"] = anyio.run(run, True)
print(json.dumps(out))
"""


def test_without_namespaces_code_execution_is_off_with_one_line_of_reason(
    tmp_path: Path,
) -> None:
    if shutil.which("unshare") is None:
        lacking("needs unshare (util-linux)")
    probe = subprocess.run(["unshare", "--user", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        lacking(f"user namespaces are not allowed here: {probe.stderr.decode().strip()}")
    done = subprocess.run(
        ["unshare", "--user", sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)

    reason = out["reason"]
    assert reason.startswith("sandbox setup failed: no mount namespace")
    assert "\n" not in reason
    assert out["tools"] == ["save_code"]
    assert out["tools_unconfined"] == ["execute_code", "save_code"]
    assert len(out["warnings"]) == 1
    assert out["warnings"][0].startswith("code execution is off: the sandbox cannot isolate")
    assert "unconfined_code_execution" in out["warnings"][0]
    assert out["confined"] == "refused: " + reason
    assert out["unconfined"] == "ran\n"


@pytest.mark.usefixtures("needs_root")
def test_where_isolation_works_the_probe_says_so() -> None:
    from agent_relay.agents.sandbox import isolation_unavailable

    assert isolation_unavailable() is None
