"""Agents as plugins: one package that fails to import does not disable relay (the others
load, the broken one is reported once), and ``agents`` chooses the agents a run may plan with
(flag, environment, relay.toml), an unknown name being a one-line exit-2 error."""

from __future__ import annotations

import json
from pathlib import Path

from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error, install_broken_agent, relay

from agent_relay.agents import CodeAgent, FileAgent
from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall

FILE_PLAN = json.dumps(
    {"plan": [{"id": "s1", "agent": "file", "prompt": "Write a.txt", "depends_on": []}]}
)
IMAGE_DESCRIPTION = "creates an image"


def _file_script() -> list[FakeReply | str]:
    write = FakeToolCall("write_file", {"path": "a.txt", "content": "hello"})
    return [FILE_PLAN, FakeReply(tool_calls=[write]), "Wrote a.txt."]


def test_a_broken_agent_package_is_one_warning_and_the_run_goes_on(
    tmp_path: Path, portal: BlockingPortal
) -> None:
    env = install_broken_agent(tmp_path)
    with portal.wrap_async_context_manager(FakeOpenAIServer(_file_script())) as server:
        proc = relay("run", "Write a.txt", "--json", "--base-url", server.base_url, cwd=tmp_path,
                      env=env)  # fmt: skip
        planning = server.chat_requests[0].json
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))
    assert result.status == "completed"
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("relay: warning: agent entry point 'broken'")
    assert "RuntimeError: this agent is broken" in warnings[0]
    assert "broken-agent 1.0" in warnings[0] and "relay runs without it" in warnings[0]
    assert IMAGE_DESCRIPTION in json.dumps(planning)  # the other agents are all there


def test_agents_lists_the_broken_package_and_exits_non_zero(tmp_path: Path) -> None:
    proc = relay("agents", cwd=tmp_path, env=install_broken_agent(tmp_path))
    assert proc.returncode == 1
    names = {line.split(":", 1)[0] for line in proc.stdout.splitlines()}
    assert {"image", "code", "file", "broken"} <= names
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [
        "relay: error: agent entry point 'broken' (broken_agent_mod:Nope, broken-agent 1.0) "
        "failed to load: RuntimeError: this agent is broken"
    ]


def test_asking_for_the_broken_agent_by_name_is_its_error(tmp_path: Path) -> None:
    env = install_broken_agent(tmp_path)
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"  # never called: the run stops first
    line = assert_one_line_error(
        relay("run", "x", "--agents", "file,broken", cwd=tmp_path, env=env)
    )
    assert "agent entry point 'broken'" in line and "this agent is broken" in line


def test_agents_flag_limits_what_the_planner_is_offered(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(_file_script())) as server:
        proc = relay_main(
            "run", "Write a.txt", "--base-url", server.base_url, "--agents", "code,file"
        )
        planning = json.dumps(server.chat_requests[0].json)
    assert proc.returncode == 0, proc.stderr
    assert IMAGE_DESCRIPTION not in planning
    assert "images:" not in proc.stdout  # no image agent, no image backend to state
    assert list((tmp_path / "relay-workspace").glob("*/a.txt"))


def test_agents_from_the_environment_and_relay_toml(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    (tmp_path / "relay.toml").write_text('agents = ["code"]\n')
    with portal.wrap_async_context_manager(FakeOpenAIServer(_file_script())) as server:
        # relay.toml's ["code"] alone would reject the file step: the environment wins.
        proc = relay_main("run", "Write a.txt", "--json", "--base-url", server.base_url,
                          env={"RELAY_AGENTS": "file"})  # fmt: skip
        planning = json.dumps(server.chat_requests[0].json)
    assert proc.returncode == 0, proc.stderr
    assert CodeAgent.description not in planning and FileAgent.description in planning
    assert IMAGE_DESCRIPTION not in planning
    assert TaskResult.model_validate(json.loads(proc.stdout)).status == "completed"


def test_an_unknown_agent_name_lists_the_known_ones(relay_main: RelayMain) -> None:
    line = assert_one_line_error(
        relay_main("run", "x", env={"RELAY_AGENTS": "code,painter", "OPENAI_API_KEY": "sk-x"})
    )
    assert "unknown agent 'painter'; known agents: code, file, image" in line
