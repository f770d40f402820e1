"""Per-agent models: the planner keeps ``model``, an agent named in ``agent_models`` gets its
own, given as a flag, in the environment or in relay.toml, and through ``Runtime(...)``. The
fake server's request log shows which model each call asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error

from agent_relay.agents import FileAgent
from agent_relay.runtime import AgentRegistryError, Runtime, RuntimeUsageError, TaskResult
from agent_relay.runtime.testing import (
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    ScriptedModel,
    tool_call,
)

PLAN = json.dumps(
    {"plan": [{"id": "s1", "agent": "file", "prompt": "Write a.txt", "depends_on": []}]}
)


def _script() -> list[FakeReply | str]:
    write = FakeToolCall("write_file", {"path": "a.txt", "content": "hello"})
    return [PLAN, FakeReply(tool_calls=[write]), "Wrote a.txt."]


@pytest.mark.parametrize("given_by", ["flag", "environment", "relay.toml"])
def test_an_agent_gets_its_own_model(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path, given_by: str
) -> None:
    args: list[str] = []
    env: dict[str, str] = {}
    if given_by == "flag":
        args = ["--agent-models", "file=openai:file-model"]
    elif given_by == "environment":
        env = {"RELAY_AGENT_MODELS": "file=openai:file-model"}
    else:
        (tmp_path / "relay.toml").write_text('agent_models = {file = "openai:file-model"}\n')
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        proc = relay_main(
            "run", "Write a.txt", "--model", "openai:planner-model",
            "--base-url", server.base_url, *args, env=env,
        )  # fmt: skip
        asked = [r.json["model"] for r in server.chat_requests if r.json]
    assert proc.returncode == 0, proc.stderr
    assert asked == ["planner-model", "file-model", "file-model"]
    assert (
        proc.stdout.splitlines()[0].startswith("model: openai:planner-model at 127.0.0.1:")
        and "; file: openai:file-model at 127.0.0.1:" in proc.stdout.splitlines()[0]
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("file", "agent_models"),
        ("painter=openai:x", "'painter', which is not one of the agents that run: code, file"),
        ("file=nosuch:thing", "the model for 'file': unknown model provider 'nosuch'"),
    ],
)
def test_bad_agent_models_are_one_line_errors(
    relay_main: RelayMain, tmp_path: Path, value: str, says: str
) -> None:
    env = {"OPENAI_API_KEY": "sk-x"}
    line = assert_one_line_error(relay_main("run", "x", "--agent-models", value, env=env))
    assert says in line
    assert not (tmp_path / "relay-workspace").exists()  # nothing ran


async def test_runtime_takes_agents_by_name_and_a_model_per_agent(tmp_path: Path) -> None:
    planner = ScriptedModel([PLAN])
    write = tool_call("write_file", {"path": "a.txt", "content": "hello"})
    file_model = ScriptedModel([write, "Wrote a.txt with its own model."])
    async with Runtime(
        planner, agents=["file"], workspace=tmp_path, agent_models={"file": file_model}
    ) as rt:
        assert [type(a) for a in rt.agents] == [FileAgent]
        result: TaskResult = await rt.run("Write a.txt")
    assert result.status == "completed"
    assert result.answer == "Wrote a.txt with its own model."
    assert (tmp_path / result.task_id / "a.txt").read_text() == "hello"


def test_runtime_refuses_unknown_agent_names_and_models_for_agents_that_do_not_run() -> None:
    model = ScriptedModel([])
    with pytest.raises(AgentRegistryError, match="unknown agent 'painter'; known agents: code"):
        Runtime(model, agents=["file", "painter"])
    with pytest.raises(RuntimeUsageError, match="'code', which is not one of the agents that run"):
        Runtime(model, agents=["file"], agent_models={"code": model})
    with pytest.raises(TypeError, match=r"agent_models\['file'\] must be a ChatModel"):
        Runtime(model, agents=["file"], agent_models={"file": "openai:gpt-4.1"})  # type: ignore[dict-item]
