"""The code agent end to end: files of code saved in the task's workspace, snippets run in the
sandbox with their output reaching the step, execution switched off by the settings, and
hostile code contained while the rest of the task carries on.

Every hostile snippet is bounded by itself (a few hundred forks, a few GB, a few hundred MB,
twenty seconds), so a broken sandbox fails the test without taking the machine down.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from agent_scripts import (
    FAST_LIMITS,
    HEALTHY_PROMPT,
    HEALTHY_STEP,
    HEALTHY_TURNS,
    AgentScript,
    TaskRecord,
    plan_text,
    run_task,
    tool_call,
)

from agent_relay.runtime import RuntimeSettings

CODE = "write and run the code"


def code_script(*turns: Any) -> AgentScript:
    return AgentScript(
        plan_text(("code", "code", CODE, []), HEALTHY_STEP),
        {CODE: list(turns), HEALTHY_PROMPT: HEALTHY_TURNS},
    )


def run_python(code: str) -> Any:
    return tool_call("execute_code", {"language": "python", "code": code})


def executions(script: AgentScript) -> list[dict[str, Any]]:
    """What each execute_code call reported to the model: a run that failed is reported as
    an error line followed by the same report."""
    reports = [out.partition("\n")[2] if out.startswith("error:") else out for out in
               script.records[CODE].outputs]  # fmt: skip
    return [json.loads(out) for out in reports if out.startswith("{")]


def assert_healthy(record: TaskRecord, tmp_path: Path) -> None:
    result = record.result
    assert result.step("healthy").status == "completed", result.step("healthy").error
    assert (tmp_path / result.task_id / "healthy.txt").read_text() == "still standing"


async def test_saved_code_is_an_artifact_with_its_language(tmp_path: Path) -> None:
    script = code_script(
        tool_call("save_code", {"path": "app/calc.py", "code": "print(sum(range(10)))\n"}),
        tool_call("save_code", {"path": "site/style.css", "code": "body { margin: 0 }\n"}),
        tool_call("save_code", {"path": "query", "code": "select 1;", "language": "sql"}),
    )
    record = await run_task(tmp_path, script.model())
    result = record.result

    assert result.status == "completed", result.error
    artifacts = {a.path: a for a in result.step("code").artifacts}
    assert set(artifacts) == {"app/calc.py", "site/style.css", "query"}
    assert {a.kind for a in artifacts.values()} == {"code"}
    assert artifacts["app/calc.py"].metadata == {"language": "python", "filename": "calc.py"}
    assert artifacts["site/style.css"].metadata["language"] == "css"
    assert artifacts["query"].metadata["language"] == "sql"
    task_dir = tmp_path / result.task_id
    assert (task_dir / "app" / "calc.py").read_text() == "print(sum(range(10)))\n"
    assert (task_dir / "site" / "style.css").read_text() == "body { margin: 0 }\n"
    assert "saved app/calc.py (22 bytes)" in result.step("code").output


async def test_executed_code_output_reaches_the_step(tmp_path: Path) -> None:
    script = code_script(
        run_python("print('answer', 6 * 7)\nopen('report.txt', 'w').write('made in the sandbox')"),
        tool_call("execute_code", {"language": "shell", "code": "echo shell says $((2 + 3))"}),
    )
    record = await run_task(tmp_path, script.model())
    result = record.result

    assert result.status == "completed", result.error
    step = result.step("code")
    python, shell = executions(script)
    assert python["exit_code"] == 0 and python["stdout"] == "answer 42\n"
    assert shell["stdout"] == "shell says 5\n"
    assert "answer 42" in step.output and "shell says 5" in step.output
    [produced] = step.artifacts
    assert produced.kind == "file" and produced.path is not None
    assert produced.path.startswith(".sandbox/run-") and produced.path.endswith("/report.txt")
    assert (tmp_path / result.task_id / produced.path).read_text() == "made in the sandbox"
    progress = [str(e.data["message"]) for e in record.events if e.topic.endswith(".code.progress")]
    assert len(progress) == 2
    assert progress[0].startswith("ran python: exited 0")
    assert progress[1].startswith("ran shell: exited 0")


async def test_without_code_execution_the_tool_is_absent(tmp_path: Path) -> None:
    script = code_script(
        run_python("print('should never run')"),
        tool_call("save_code", {"path": "kept.py", "code": "x = 1\n"}),
    )
    settings = RuntimeSettings(allow_code_execution=False, summarize="never")
    record = await run_task(tmp_path, script.model(), settings=settings)
    result = record.result

    assert script.records[CODE].tool_names == ["save_code"]
    refused, saved = script.records[CODE].outputs
    assert refused == "error: unknown tool 'execute_code'; available tools: save_code"
    assert saved == "saved kept.py (6 bytes)"
    step = result.step("code")
    # the refused call did not stop the step: the file it saved is the work it was asked for
    assert step.status == "completed" and "unknown tool 'execute_code'" in step.output
    assert not (tmp_path / result.task_id / ".sandbox").exists()
    assert "should never run" not in record.events_json()
    assert_healthy(record, tmp_path)


# -- hostile code ---------------------------------------------------------------------------

LOOP = """\
import time
t0 = time.time()
while time.time() < t0 + 20:
    pass
print('LOOPED 20s')
"""
FORK_BOMB = (
    "import os, time\n"
    "forked = 0\n"
    "try:\n"
    "    for _ in range(300):\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(5)\n"
    "            os._exit(0)\n"
    "        forked += 1\n"
    "except OSError as exc:\n"
    "    print('FORK REFUSED', exc.errno)\n"
    "print('FORKED', forked)\n"
)
ALLOCATE = (
    "blocks = []\n"
    "for i in range(32):\n"
    "    blocks.append(bytearray(64 * 2**20))\n"
    "    print('ALLOCATED', (i + 1) * 64, 'MiB', flush=True)\n"
    "print('ALLOCATED 2048 MiB DONE')\n"
)
FILL_DISK = (
    "import time\n"
    "for i in range(200):\n"
    "    with open(f'part{i}.bin', 'wb') as f:\n"
    "        f.write(b'x' * 2**20)\n"
    "    time.sleep(0.005)\n"
    "print('WROTE 200 MiB')\n"
)


@pytest.mark.parametrize(
    ("code", "limit", "summary", "never"),
    [
        (LOOP, "cpu", "killed: CPU time limit 1s", "LOOPED"),
        (ALLOCATE, "memory", "memory limit 256MiB reached", "DONE"),
        (FILL_DISK, "disk", "killed: disk limit 16MiB", "WROTE"),
    ],
    ids=["endless-loop", "endless-allocation", "disk-filler"],
)
async def test_runaway_code_is_stopped_by_a_limit(
    tmp_path: Path, code: str, limit: str, summary: str, never: str
) -> None:
    script = code_script(run_python(code))
    record = await run_task(tmp_path, script.model())

    [run] = executions(script)
    assert run["limit_hit"] == limit
    assert summary in run["summary"]
    assert never not in run["stdout"]
    # the only run failed, so the step did nothing it was asked for: failed, with the run's
    # report in its error and its output
    [said] = script.records[CODE].outputs
    assert said.startswith("error: the code failed (") and summary in said.partition("\n")[0]
    step = record.result.step("code")
    assert step.status == "failed" and summary in (step.error or "") and summary in step.output
    assert_healthy(record, tmp_path)
    task_dir = tmp_path / record.result.task_id
    assert sum(p.stat().st_size for p in task_dir.rglob("*") if p.is_file()) < 16 * 2**20


async def test_a_fork_bomb_is_stopped_by_the_process_limit(tmp_path: Path) -> None:
    script = code_script(run_python(FORK_BOMB))
    record = await run_task(tmp_path, script.model())

    [run] = executions(script)
    forked = int(run["stdout"].split("FORKED ")[1].split()[0])
    assert forked < FAST_LIMITS.max_processes
    assert "FORK REFUSED 11" in run["stdout"]
    assert "FORK REFUSED 11" in record.result.step("code").output
    assert_healthy(record, tmp_path)


async def test_the_parents_environment_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-xyz-{secrets.token_hex(8)}"
    monkeypatch.setenv("RELAY_TEST_SECRET", secret)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    snoop = (
        "import os, glob\n"
        "print('ENV', dict(os.environ))\n"
        f"for path in ['/proc/{os.getpid()}/environ', '/proc/1/environ',\n"
        "             *glob.glob('/proc/[0-9]*/environ')]:\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print(path, 'REFUSED', exc.errno)\n"
    )
    script = code_script(
        run_python(snoop),
        tool_call("execute_code", {"language": "shell", "code": "env; cat /proc/*/environ"}),
    )
    record = await run_task(tmp_path, script.model())

    python, shell = executions(script)
    assert python["exit_code"] == 0 and "ENV {" in python["stdout"]
    assert "PATH" in shell["stdout"]
    assert secret not in record.result.model_dump_json()
    assert secret not in record.events_json()
    assert "RELAY_TEST_SECRET" not in record.events_json()
    assert_healthy(record, tmp_path)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""
    accepted: list[str] = []
    server = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        accepted.append(str(stream.extra(anyio.abc.SocketAttribute.remote_address)))
        await stream.aclose()

    async with server, anyio.create_task_group() as tg:
        tg.start_soon(server.serve, serve)
        yield server.extra(anyio.abc.SocketAttribute.local_port), accepted
        tg.cancel_scope.cancel()


async def test_code_cannot_reach_a_local_server(
    tmp_path: Path, listener: tuple[int, list[str]]
) -> None:
    port, accepted = listener
    probe = (
        "import socket\n"
        "s = socket.socket()\n"
        "s.settimeout(2)\n"
        "try:\n"
        f"    s.connect(('127.0.0.1', {port}))\n"
        "    print('CONNECTED')\n"
        "except OSError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    script = code_script(run_python(probe))
    record = await run_task(tmp_path, script.model())

    [run] = executions(script)
    assert "CONNECTED" not in run["stdout"] and "REFUSED" in run["stdout"]
    assert accepted == []
    assert "REFUSED" in record.result.step("code").output
    assert_healthy(record, tmp_path)
