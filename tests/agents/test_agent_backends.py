"""Choosing where the agents' runs happen: the same task through the real master with the file
and code agents on the local backend and on the responses backend (the real openai SDK
against the fake server's /v1/responses), the agent's own choice over the runtime's, a
factory per step, and every bad choice refused before anything runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from agent_scripts import FAST_LIMITS, plan_text

from agent_relay.agents import CodeAgent, FileAgent, ImageAgent
from agent_relay.runtime import (
    ChatModel,
    OpenAIChatModel,
    Runtime,
    RuntimeSettings,
    RuntimeUsageError,
    TaskResult,
)
from agent_relay.runtime.assistants import (
    Backend,
    BackendNotAvailableError,
    BedrockAgentsBackend,
    ResponsesBackend,
)
from agent_relay.runtime.testing import (
    FakeAgentTurn,
    FakeBedrockAgentsServer,
    FakeFunctionInvocation,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    ScriptedModel,
    SlowFault,
)

WRITE = "write a.txt saying hello"
SAVE = "save hello.py printing the text of a.txt"
FILE_THEN_CODE = plan_text(("s1", "file", WRITE, []), ("s2", "code", SAVE, ["s1"]))
CODE = "print(open('a.txt').read())\n"
ALIAS_ARN = "arn:aws:bedrock:us-east-1:123456789012:agent-alias/AGENT12345/ALIAS12345"


def _script(server: FakeOpenAIServer) -> None:
    """The plan, then each step's turns: the steps run one after the other, so whichever
    route (chat or responses) a step's run takes, the replies come in this order."""
    server.add_reply(
        FILE_THEN_CODE,
        FakeReply(tool_calls=[FakeToolCall("write_file", {"path": "a.txt", "content": "hello"})]),
        "Wrote a.txt.",
        FakeReply(tool_calls=[FakeToolCall("save_code", {"path": "hello.py", "code": CODE})]),
        "Saved hello.py.",
    )


@pytest.fixture
async def model(fake_openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAIChatModel]:
    async with OpenAIChatModel(
        "gpt-4.1-mini", base_url=fake_openai_server.base_url, api_key="sk-test-not-real"
    ) as model:
        yield model


async def _run(runtime: Runtime) -> TaskResult:
    with anyio.fail_after(60):
        async with runtime as rt:
            return await rt.run("write a file, then code that reads it")


def _runtime(model: ChatModel, workspace: Path, **options: Any) -> Runtime:
    agents = options.pop("agents", None) or [FileAgent(), CodeAgent(limits=FAST_LIMITS)]
    return Runtime(
        model,
        agents=agents,
        workspace=workspace,
        settings=RuntimeSettings(summarize="never"),
        **options,
    )


def _tool_names(body: dict[str, Any]) -> list[str]:
    """The tools a chat request or a response creation offered, by name."""
    return sorted(t.get("name") or t["function"]["name"] for t in body.get("tools") or [])


def _shape(result: TaskResult) -> dict[str, Any]:
    """What a task's result says, without what differs from run to run (ids, times, the
    working directory, token counts: the fakes' two APIs count differently)."""
    data = result.model_dump(mode="json")
    for volatile in ("task_id", "started_at", "finished_at", "workdir", "usage", "planning_usage"):
        data.pop(volatile)
    for step in data["steps"]:
        for volatile in ("started_at", "finished_at", "usage"):
            step.pop(volatile)
    return data


async def test_the_same_task_gives_the_same_result_on_local_and_on_responses(
    fake_openai_server: FakeOpenAIServer, model: OpenAIChatModel, tmp_path: Path
) -> None:
    _script(fake_openai_server)
    local = await _run(_runtime(model, tmp_path / "local"))
    assert len(fake_openai_server.chat_requests) == 5
    assert fake_openai_server.response_creations == []

    _script(fake_openai_server)
    remote = await _run(_runtime(model, tmp_path / "remote", assistant_backend="responses"))

    assert remote.status == "completed", remote.error
    assert _shape(remote) == _shape(local)
    assert [s.output for s in remote.steps] == ["Wrote a.txt.", "Saved hello.py."]
    assert {a.path for a in remote.artifacts} == {"a.txt", "hello.py"}
    workdir = Path(remote.workdir)
    assert (workdir / "a.txt").read_text() == "hello"
    assert (workdir / "hello.py").read_text() == CODE
    # Only the plan was a chat call; each step's two turns were responses, each step's usage
    # the responses' own (the run's result), with the step's tools offered to the endpoint.
    assert len(fake_openai_server.chat_requests) == 6
    creates = fake_openai_server.response_creations
    assert len(creates) == 4
    assert all(c["background"] and c["model"] == "gpt-4.1-mini" for c in creates)
    assert "write_file" in _tool_names(creates[0]) and "save_code" in _tool_names(creates[2])
    assert [s.usage.calls for s in remote.steps] == [2, 2]
    assert all(s.usage.total_tokens > 0 for s in remote.steps)


async def test_an_agents_own_backend_beats_the_runtimes(
    fake_openai_server: FakeOpenAIServer, model: OpenAIChatModel, tmp_path: Path
) -> None:
    _script(fake_openai_server)
    agents = [FileAgent(assistant_backend="local"), CodeAgent(limits=FAST_LIMITS)]
    result = await _run(_runtime(model, tmp_path, agents=agents, assistant_backend="responses"))

    assert result.status == "completed", result.error
    chat = fake_openai_server.chat_requests
    # The plan and the file agent's two turns went to chat completions...
    assert len(chat) == 3
    assert "write_file" in _tool_names(chat[1].json) and "write_file" in _tool_names(chat[2].json)
    # ...the code agent's two to the Responses API.
    creates = fake_openai_server.response_creations
    assert len(creates) == 2
    assert all("save_code" in _tool_names(c) for c in creates)


async def test_a_factory_builds_a_backend_for_each_step_from_the_agents_model(
    fake_openai_server: FakeOpenAIServer, model: OpenAIChatModel, tmp_path: Path
) -> None:
    given: list[ChatModel] = []

    def responses(step_model: ChatModel) -> Backend:
        given.append(step_model)
        return ResponsesBackend.from_model(step_model, max_reconnects=2)

    _script(fake_openai_server)
    result = await _run(_runtime(model, tmp_path, assistant_backend=responses))

    assert result.status == "completed", result.error
    # One backend per step (a manager closes its own), built on the model itself, not the
    # engine's meter around it.
    assert given == [model, model]
    assert len(fake_openai_server.response_creations) == 4


async def test_a_factory_that_builds_no_backend_fails_its_step_saying_so(
    fake_openai_server: FakeOpenAIServer, model: OpenAIChatModel, tmp_path: Path
) -> None:
    fake_openai_server.add_reply(plan_text(("s1", "file", WRITE, [])))

    def broken(step_model: ChatModel) -> Any:
        return "not a backend"

    result = await _run(_runtime(model, tmp_path, assistant_backend=broken))

    assert result.status == "failed"
    (step,) = result.steps
    assert step.status == "failed"
    assert step.error is not None and "returned a str, not a Backend" in step.error
    assert not (Path(result.workdir) / "a.txt").exists()
    assert len(fake_openai_server.chat_requests) == 1  # the plan; no step reached a model


def test_a_bad_choice_is_refused_at_construction_and_nothing_is_made(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    scripted = ScriptedModel(["unused"])
    with pytest.raises(
        RuntimeUsageError,
        match=r"^assistant_backend: no backend named 'bedrock'; available: local, responses",
    ):
        _runtime(scripted, workspace, assistant_backend="bedrock")
    with pytest.raises(RuntimeUsageError, match=r"^the file agent: the responses backend calls"):
        _runtime(scripted, workspace, assistant_backend="responses")
    with pytest.raises(TypeError, match=r"^assistant_backend: a ResponsesBackend instance cannot"):
        _runtime(scripted, workspace, assistant_backend=_instance())
    with pytest.raises(TypeError, match=r"^assistant_backend: a backend is chosen by name"):
        _runtime(scripted, workspace, assistant_backend=3)
    # An agent's own responses on a model without an OpenAI endpoint, the runtime's local.
    agents = [FileAgent(), CodeAgent(limits=FAST_LIMITS, assistant_backend="responses")]
    with pytest.raises(RuntimeUsageError, match=r"^the code agent: .*ScriptedModel has none"):
        _runtime(scripted, workspace, agents=agents)
    assert not workspace.exists()
    assert scripted.call_count == 0


def test_every_assistant_agent_takes_the_option_and_refuses_a_bad_one() -> None:
    assert CodeAgent(assistant_backend="Responses ").assistant_backend == "responses"
    assert FileAgent(max_read_bytes=10, assistant_backend="local").assistant_backend == "local"
    assert FileAgent().assistant_backend is None
    # The image agent's ``backend`` is the image backend; the assistant one is its own option.
    image = ImageAgent(backend="offline", assistant_backend="responses")
    assert (image.backend_name, image.assistant_backend) == ("offline", "responses")
    assert image.backend_options == {}
    with pytest.raises(BackendNotAvailableError, match="no backend named 'nope'"):
        FileAgent(assistant_backend="nope")
    with pytest.raises(TypeError, match="give a factory instead"):
        CodeAgent(assistant_backend=_instance())


def test_remote_workers_check_their_own_agents(tmp_path: Path) -> None:
    """With workers="remote" no agent runs here, so the runtime's model is not checked
    against the backend (``relay worker`` checks its own agents)."""
    runtime = _runtime(
        ScriptedModel(["unused"]), tmp_path, assistant_backend="responses", workers="remote"
    )
    assert runtime.assistant_backend == "responses"


def _instance() -> ResponsesBackend:
    # A client that is never used: building one makes no request.
    import openai

    return ResponsesBackend(openai.AsyncOpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9"))


async def test_a_step_cancelled_mid_run_on_responses_keeps_the_tokens_its_run_used(
    fake_openai_server: FakeOpenAIServer, model: OpenAIChatModel, tmp_path: Path
) -> None:
    write = FakeToolCall("write_file", {"path": "a.txt", "content": "hello"})
    fake_openai_server.add_reply(
        plan_text(("s1", "file", WRITE, [])),
        FakeReply(tool_calls=[write]),
        SlowFault(delay=600, reply="never sent"),  # the second response hangs
    )
    with anyio.fail_after(60):
        async with _runtime(model, tmp_path, assistant_backend="responses") as rt:
            handle = await rt.submit("write a file", task_id="t1")
            while len(fake_openai_server.response_creations) < 2:
                await anyio.sleep(0.01)
            await rt.bus.emit("task.t1.step.s1.cancel", "step.cancel", {})
            result = await handle.result()
    step = result.step("s1")
    assert step.status == "cancelled"
    first, second = fake_openai_server.responses.values()
    assert second.status == "cancelled"  # stopped at the provider as well
    used = first.events[-1]["response"]["usage"]
    # The first response's tokens were reported when it ended; the cancelled one reported none.
    assert (step.usage.prompt_tokens, step.usage.completion_tokens) == (
        used["input_tokens"],
        used["output_tokens"],
    )
    assert result.usage.total_tokens >= step.usage.total_tokens > 0


async def test_an_agent_runs_its_steps_as_a_bedrock_agent_named_by_its_alias(
    fake_openai_server: FakeOpenAIServer, model: OpenAIChatModel, tmp_path: Path
) -> None:
    fake_openai_server.add_reply(plan_text(("s1", "file", WRITE, [])))
    write = FakeFunctionInvocation("files", "write_file", {"path": "a.txt", "content": "hello"})
    async with FakeBedrockAgentsServer() as bedrock:
        bedrock.add(
            FakeAgentTurn(invocations=(write,), invocation_id="inv-1", usage=(40, 9)),
            FakeAgentTurn(text="Wrote a.txt.", usage=(60, 4)),
        )
        client = bedrock.create_client(read_timeout=30)
        try:
            agent = FileAgent(
                assistant_backend=lambda m: BedrockAgentsBackend(client, enable_trace=True),
                agent_alias=ALIAS_ARN,
            )
            result = await _run(_runtime(model, tmp_path, agents=[agent]))
        finally:
            client.close()
        calls = list(bedrock.requests)
    assert result.status == "completed", result.error
    step = result.step("s1")
    assert step.output == "Wrote a.txt."
    assert (Path(result.workdir) / "a.txt").read_text() == "hello"
    assert (step.usage.prompt_tokens, step.usage.completion_tokens) == (100, 13)
    assert [(c.agent_id, c.agent_alias_id) for c in calls] == [("AGENT12345", "ALIAS12345")] * 2
    answer = calls[1].body["sessionState"]["returnControlInvocationResults"]
    assert answer[0]["functionResult"]["function"] == "write_file"
