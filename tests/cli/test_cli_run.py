"""``relay run`` against a fake OpenAI-compatible endpoint on loopback, driven by the real
OpenAI client inside ``relay``: in-process through ``main(argv)`` (the fake served from a
thread of its own), and Ctrl-C through the real ``relay`` process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import anyio
from anyio.from_thread import BlockingPortal
from cli_helpers import ANSI_ESCAPE, RELAY, RelayMain, assert_one_line_error, clean_env

from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import AuthFault, FakeOpenAIServer, FakeReply, FakeToolCall

SECRET = "sk-test-secret"
PLAN = json.dumps(
    {
        "plan": [
            {
                "id": "s1",
                "agent": "file",
                "prompt": "Write notes.txt saying hello",
                "depends_on": [],
            }
        ]
    }
)


def _script() -> list[FakeReply | str]:
    return [
        PLAN,
        FakeReply(
            tool_calls=[FakeToolCall("write_file", {"path": "notes.txt", "content": "hello"})]
        ),
        "Wrote notes.txt.",
    ]


def test_run_json_against_a_fake_endpoint_never_shows_the_key(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    fake = FakeOpenAIServer(_script(), require_api_key=SECRET)
    with portal.wrap_async_context_manager(fake) as server:
        proc = relay_main(
            "run", "Write a note", "--json", "--log-level", "DEBUG",
            "--model", "openai:x", "--base-url", server.base_url,
            env={"OPENAI_API_KEY": SECRET},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))  # nothing else on stdout
    assert result.status == "completed" and result.answer == "Wrote notes.txt."
    assert [a.path for a in result.artifacts] == ["notes.txt"]
    notes = tmp_path / "relay-workspace" / result.task_id / "notes.txt"
    assert notes.read_text() == "hello"
    # the result names its working directory, absolute: a script finds the artifacts there
    assert result.workdir == str(notes.parent.resolve())
    assert (Path(result.workdir) / result.artifacts[0].path).read_text() == "hello"
    assert {r.body.get("model") for r in server.chat_requests} == {"x"}
    assert "DEBUG" in proc.stderr  # the debug log was really on
    for stream in (proc.stdout, proc.stderr):
        assert SECRET not in stream and "test-secret" not in stream


def test_run_plain_output_and_settings_from_relay_toml(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        (tmp_path / "relay.toml").write_text(
            f'model = "openai:from-toml"\nbase_url = "{server.base_url}"\nworkspace = "ws"\n'
        )
        proc = relay_main("run", "Write a note")
    assert proc.returncode == 0, proc.stderr
    assert {r.body.get("model") for r in server.chat_requests} == {"from-toml"}
    assert not ANSI_ESCAPE.search(proc.stdout)
    lines = proc.stdout.splitlines()
    assert "plan: s1 file: Write notes.txt saying hello" in lines
    assert "s1 file: started" in lines
    assert "Wrote notes.txt." in proc.stdout
    written = list((tmp_path / "ws").glob("*/notes.txt"))
    assert len(written) == 1
    # the artifact is named by its path relative to the current directory
    assert str(written[0].relative_to(tmp_path)) in proc.stdout
    # and the task's working directory in full
    assert f"Working directory {written[0].parent.resolve()}" in lines


def test_refused_key_is_one_line_exit_2_and_never_echoed(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer([AuthFault()] * 3)) as server:
        proc = relay_main(
            "run", "Write a note", "--model", "openai:x", "--base-url", server.base_url,
            env={"OPENAI_API_KEY": SECRET},
        )  # fmt: skip
    # exit 2, as for a bad setting: the key must change, not the task (issue 12)
    line = assert_one_line_error(proc, code=2)
    assert "refused the credentials" in line
    assert SECRET not in proc.stdout + proc.stderr


def test_unreachable_endpoint_is_one_line(relay_main: RelayMain, portal: BlockingPortal) -> None:
    # A port nobody listens on: bind one, note it, close it.
    with portal.wrap_async_context_manager(FakeOpenAIServer()) as server:
        url = server.base_url
    proc = relay_main("run", "Write a note", "--base-url", url, "--max-retries", "0", "--json")
    line = assert_one_line_error(proc, code=1)
    assert "planning failed" in line
    assert TaskResult.model_validate(json.loads(proc.stdout)).status == "failed"


async def test_ctrl_c_cancels_the_task_and_exits_130(tmp_path: Path) -> None:
    # The endpoint takes far longer to answer than the test waits: Ctrl-C must end it.
    async with FakeOpenAIServer(_script(), latency=60) as server:
        args = [*RELAY, "run", "Write a note", "--base-url", server.base_url]
        async with await anyio.open_process(args, cwd=tmp_path, env=clean_env()) as process:
            assert process.stdout is not None and process.stderr is not None
            with anyio.fail_after(30):
                seen = b""
                while b"relay: task " not in seen:
                    seen += await process.stdout.receive()
                while not server.chat_requests:  # planning has begun
                    await anyio.sleep(0.02)
                process.send_signal(signal.SIGINT)
                out = seen + b"".join([chunk async for chunk in process.stdout])
                err = b"".join([chunk async for chunk in process.stderr])
                code = await process.wait()
    assert code == 130, (out, err)
    assert b"cancelled" in out and b"interrupted by the user" in out
    assert b"relay: interrupted; the task was cancelled" in err
    assert b"Traceback" not in out + err
