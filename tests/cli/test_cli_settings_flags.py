"""Each setting is defined once: its flag, its environment variable and its ``relay.toml`` key
all come from the field's ``Setting``, and the image agent gets its backend and credentials
from the settings through the runtime's agent options, never through the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, clean_env

from agent_relay.runtime import ChatModel, RuntimeSettings, TaskResult
from agent_relay.runtime.cli._app import build_parser
from agent_relay.runtime.cli._config import RelaySettings, load_settings, user_settings
from agent_relay.runtime.cli._model import build_model, build_runtime
from agent_relay.runtime.cli._settings_views import flag_of
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, ScriptedModel

SECRET = "sk-image-secret"
COMMANDS = ("run", "demo", "batch", "agents")


@pytest.fixture
def environ() -> Iterator[None]:
    """A scrubbed environment, restored afterwards (.env files write into it)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "RELAY_", "AZURE_", "REPLICATE_")):
            del os.environ[name]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _options_of(command: str) -> set[str]:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return {flag for action in sub._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_the_flags_its_settings_name(command: str) -> None:
    flags = _options_of(command)
    for s in user_settings().values():
        flag = flag_of(s)
        if flag is None:
            assert s.setting.env_only and f"--{s.key.replace('_', '-')}" not in flags
        elif command in s.setting.commands:
            assert flag in flags, (command, s.key)
        else:
            assert flag not in flags, (command, s.key)


def test_every_engine_setting_a_person_can_give_is_a_runtime_field() -> None:
    engine = {s.name for s in user_settings().values() if s.name in RuntimeSettings.model_fields}
    assert engine == {
        "max_steps",
        "max_parallel_steps",
        "replan",
        "step_timeout_s",
        "task_timeout_s",
        "allow_code_execution",
        "unconfined_code_execution",
        "approve_plan",
        "approve_tools",
        "approval_timeout_s",
        "on_approval_expiry",
        "stream_deltas",
        "delta_interval_s",
        "delta_max_chars",
    }
    # The one the command restates: streaming is on in the command, off in Python by default.
    restated = {"stream_deltas"}
    assert RuntimeSettings().stream_deltas is False
    assert RelaySettings().stream_deltas is True
    for s in user_settings().values():
        if s.name in engine - restated:  # inherited from the engine's one definition
            assert s.name not in vars(RelaySettings).get("__annotations__", {}), s.name
            assert repr(s.field) == repr(RuntimeSettings.model_fields[s.name])


@pytest.mark.usefixtures("environ")
def test_flags_parse_into_the_settings_by_key(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["run", "x", "--step-timeout", "12", "--no-code-execution", "--replan", "--max-steps", "3"]
    )
    flags = {k: v for k, v in vars(args).items() if k in user_settings()}
    runtime = load_settings(flags, cwd=tmp_path).runtime_settings()
    assert (runtime.step_timeout_s, runtime.allow_code_execution) == (12.0, False)
    assert (runtime.replan, runtime.max_steps) == (True, 3)
    assert runtime.unconfined_code_execution is False  # off unless asked for by name
    args = build_parser().parse_args(["run", "x", "--unconfined-code-execution"])
    flags = {k: v for k, v in vars(args).items() if k in user_settings()}
    assert load_settings(flags, cwd=tmp_path).runtime_settings().unconfined_code_execution


@pytest.mark.usefixtures("environ")
def test_environment_names_come_from_the_keys(tmp_path: Path) -> None:
    os.environ["RELAY_CODE_EXECUTION"] = "false"
    os.environ["RELAY_TASK_TIMEOUT"] = "90"
    os.environ["REPLICATE_API_TOKEN"] = "r8_secret"
    settings = load_settings({}, cwd=tmp_path)
    assert settings.allow_code_execution is False and settings.task_timeout_s == 90
    assert settings.replicate_api_token is not None
    assert settings.replicate_api_token.get_secret_value() == "r8_secret"
    (tmp_path / "relay.toml").write_text('REPLICATE_API_TOKEN = "r8_in_a_file"\n')
    with pytest.raises(Exception, match="unknown setting"):  # keys belong in the environment
        load_settings({}, cwd=tmp_path)


@pytest.mark.usefixtures("environ")
def test_the_image_backend_reaches_the_agent_through_its_options(tmp_path: Path) -> None:
    """The image agent follows the model endpoint unless told otherwise; a Replicate token in
    the environment no longer chooses Replicate by itself (issue 12: keys around must not
    pick a billed backend)."""

    def image_agent(settings_flags: dict[str, object], model: ChatModel | None = None) -> Any:
        settings = load_settings(settings_flags, cwd=tmp_path)
        runtime = build_runtime(model or build_model(settings), settings)
        return next(a for a in runtime.agents if a.name == "image")

    before = dict(os.environ)
    assert image_agent({}, ScriptedModel([])).backend_name == "offline"
    os.environ["OPENAI_API_KEY"] = SECRET
    agent = image_agent({})
    assert agent.backend_name == "openai"
    assert agent.backend_options["api_key"] == SECRET
    assert agent.backend_options["base_url"].startswith("https://api.openai.com/")
    agent = image_agent({"base_url": "http://127.0.0.1:9/v1"})
    assert agent.backend_options["base_url"].startswith("http://127.0.0.1:9/v1")
    os.environ["REPLICATE_API_TOKEN"] = "r8_secret"
    assert image_agent({}, ScriptedModel([])).backend_name == "offline"
    agent = image_agent({"image_backend": "replicate"})
    assert agent.backend_name == "replicate"
    assert agent.backend_options == {"token": "r8_secret"}
    assert image_agent({"image_backend": "offline"}).backend_name == "offline"
    del os.environ["OPENAI_API_KEY"], os.environ["REPLICATE_API_TOKEN"]
    assert dict(os.environ) == before  # nothing was written to steer the agent


def test_run_draws_with_the_openai_backend_the_settings_name(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    """The key and endpoint come from OPENAI_API_KEY/OPENAI_BASE_URL, read by the settings
    and handed to the image agent; the fake server refuses any request without the key."""
    plan = json.dumps(
        {"plan": [{"id": "s1", "agent": "image", "prompt": "Draw a fox", "depends_on": []}]}
    )
    draw = FakeToolCall("generate_image", {"prompt": "a fox", "size": "256x256"})
    script: list[FakeReply | str] = [plan, FakeReply(tool_calls=[draw]), "Drew fox.png"]
    fake = FakeOpenAIServer(script, require_api_key=SECRET)
    with portal.wrap_async_context_manager(fake) as server:
        env = clean_env(OPENAI_API_KEY=SECRET, OPENAI_BASE_URL=server.base_url)
        proc = relay_main("run", "Draw a fox", "--json", env=env)
        image_requests = [r for r in server.requests if r.path.endswith("/images/generations")]
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))
    assert result.status == "completed"
    assert [a.metadata["backend"] for a in result.artifacts] == ["openai"]
    assert len(image_requests) == 1
    assert SECRET not in proc.stdout + proc.stderr
