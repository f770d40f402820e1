"""``--backend``: where the agents' runs happen, as a flag, in the environment or relay.toml,
reaching the agents of ``relay run`` (their runs on the fake server's /v1/responses); a bad
name, or ``responses`` on a model with no OpenAI-compatible endpoint, is a one-line error
before anything runs, for every command that takes the setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error, relay
from nats_server import free_port

from agent_relay.runtime import TaskResult
from agent_relay.runtime.assistants import BACKEND_NAMES
from agent_relay.runtime.cli._config import AssistantBackendName
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall

PLAN = json.dumps(
    {"plan": [{"id": "s1", "agent": "file", "prompt": "Write a.txt", "depends_on": []}]}
)
NO_ENDPOINT = (
    "the responses backend calls an OpenAI-compatible endpoint, and ScriptedModel has none"
)


def _script() -> list[FakeReply | str]:
    write = FakeToolCall("write_file", {"path": "a.txt", "content": "hello"})
    return [PLAN, FakeReply(tool_calls=[write]), "Wrote a.txt."]


def test_the_flag_puts_the_agents_runs_on_the_responses_api(
    tmp_path: Path, portal: BlockingPortal
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        proc = relay(
            "run", "Write a.txt", "--json", "--backend", "responses", "--agents", "file",
            "--base-url", server.base_url, cwd=tmp_path,
        )  # fmt: skip
        chat, creates = server.chat_requests, server.response_creations
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))
    assert result.status == "completed", result.error
    assert result.steps[0].output == "Wrote a.txt."
    assert (Path(result.workdir) / "a.txt").read_text() == "hello"
    assert len(chat) == 1  # the plan: the planner stays on chat completions
    assert len(creates) == 2
    assert all(c["background"] is True and c["model"] == "gpt-4.1-mini" for c in creates)
    assert [t["name"] for t in creates[0]["tools"]].count("write_file") == 1


@pytest.mark.parametrize("given_by", ["environment", "relay.toml"])
def test_the_environment_and_relay_toml_choose_it_too_and_the_flag_wins(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path, given_by: str
) -> None:
    env: dict[str, str] = {}
    if given_by == "environment":
        env = {"RELAY_BACKEND": " Responses"}
    else:
        (tmp_path / "relay.toml").write_text('backend = "responses"\n')
    base = ("run", "Write a.txt", "--agents", "file", "--yes")
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        proc = relay_main(*base, "--base-url", server.base_url, env=env)
        assert (len(server.chat_requests), len(server.response_creations)) == (1, 2)
    assert proc.returncode == 0, proc.stderr
    assert "runs: responses" in proc.stdout
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        proc = relay_main(*base, "--base-url", server.base_url, "--backend", "local")
        assert (len(server.chat_requests), len(server.response_creations)) == (3, 0)
    assert proc.returncode == 0, proc.stderr
    assert "runs:" not in proc.stdout


def test_a_bad_name_is_one_line_and_nothing_runs(relay_main: RelayMain, tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-x"}
    line = assert_one_line_error(relay_main("run", "x", "--backend", "bedrock", env=env))
    assert "bad setting backend: Input should be 'local' or 'responses'" in line
    line = assert_one_line_error(relay_main("run", "x", env={**env, "RELAY_BACKEND": "nope"}))
    assert "bad setting backend" in line
    assert not (tmp_path / "relay-workspace").exists()


@pytest.mark.parametrize("command", ["batch", "serve", "worker"])
def test_responses_on_a_model_without_an_openai_endpoint_fails_at_start_up(
    relay_main: RelayMain, tmp_path: Path, command: str
) -> None:
    # --demo: every task on the demo's scripted model, which calls no endpoint.
    args = {
        "batch": ("batch", "tasks.txt", "--yes"),
        "serve": ("serve", "--port", str(free_port())),
        "worker": ("worker", "--bus", f"nats://127.0.0.1:{free_port()}"),
    }[command]
    (tmp_path / "tasks.txt").write_text("write a.txt\n")
    proc = relay_main(*args, "--demo", "--backend", "responses")
    line = assert_one_line_error(proc)
    assert NO_ENDPOINT in line
    assert "the file agent" in line or "the code agent" in line or "the image agent" in line
    assert not (tmp_path / "relay-workspace").exists()
    assert not (tmp_path / "tasks.txt.results.jsonl").exists()


def test_the_settings_names_are_the_assistant_layers() -> None:
    assert get_args(AssistantBackendName) == BACKEND_NAMES
