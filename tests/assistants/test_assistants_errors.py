"""Bad input and failures: each ends in a clear status or error, nothing lost, nothing hangs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent_relay.runtime import (
    ChatMessage,
    ChatResponse,
    ChatToolCall,
    ModelRateLimitError,
    ModelServerError,
    RelayError,
    ToolDefinition,
)
from agent_relay.runtime.assistants import (
    AgentManager,
    AgentNotFoundError,
    BackendNotAvailableError,
    CreateAgentRequest,
    FunctionTool,
    ImageFile,
    ImageFileContent,
    InvalidRequestError,
    LocalBackend,
    ManagerClosedError,
    Message,
    RunAgentRequest,
    RunNotFoundError,
    RunStateError,
    RunStatus,
    RunTimeoutError,
    ThreadNotFoundError,
    ToolOutput,
    ToolOutputsMismatchError,
    run_to_completion,
    tool,
)
from agent_relay.runtime.assistants._run_state import mismatches
from agent_relay.runtime.testing import ScriptedModel, tool_call


async def forever(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
    await anyio.sleep_forever()
    return "never"


def tool_messages(model: ScriptedModel, call_index: int) -> list[str]:
    return [str(m.content) for m in model.calls[call_index].messages if m.role == "tool"]


# -- what the model writes --


async def test_malformed_arguments_and_unknown_tools_reach_the_model_as_errors(
    weather: FunctionTool[..., Any],
) -> None:
    model = ScriptedModel(
        [
            [
                tool_call("get_temperature", '{"location": "Par'),
                tool_call("get_temperature", {"city": "Paris"}),
                tool_call("get_humidity", {"location": "Paris"}),
            ],
            [tool_call("get_temperature", {"location": "Paris"})],
            "It is 15 °C.",
        ]
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[weather]))
        result = await run_to_completion(
            manager, RunAgentRequest.from_agent(agent, messages=["Paris?"]), [weather]
        )
    assert result.run_status is RunStatus.completed
    assert result.text == "It is 15 °C."
    bad_json, bad_args, unknown = tool_messages(model, 1)
    assert bad_json.startswith("error: arguments are not valid JSON (EOF while parsing")
    assert bad_args == (
        "error: argument 'location': field required; "
        "argument 'city': extra inputs are not permitted"
    )
    assert unknown == "error: unknown tool 'get_humidity'; available tools: get_temperature"
    assert json.loads(tool_messages(model, 2)[-1]) == {"location": "Paris", "celsius": 15}


async def test_a_tool_that_raises_or_hangs_gives_an_error_output_and_the_run_goes_on() -> None:
    @tool
    def explode() -> str:
        raise RuntimeError("disk on fire")

    @tool(timeout=0.05)
    async def stall() -> str:
        await anyio.sleep_forever()
        return "never"

    model = ScriptedModel([[tool_call("explode"), tool_call("stall")], "Both failed."])
    async with AgentManager(model) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[explode, stall]))
        with anyio.fail_after(30):
            result = await run_to_completion(
                manager, RunAgentRequest.from_agent(agent, messages=["go"]), [explode, stall]
            )
    assert result.run_status is RunStatus.completed
    assert tool_messages(model, 1) == [
        "error: tool 'explode' raised RuntimeError: disk on fire",
        "error: tool 'stall' timed out after 0.05 s",
    ]


async def test_a_model_that_never_stops_calling_tools_fails_after_max_turns(
    weather: FunctionTool[..., Any],
) -> None:
    def again(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> ChatToolCall:
        return tool_call("get_temperature", {"location": "Paris"})

    model = ScriptedModel(again)
    async with AgentManager(model, max_turns=3) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[weather]))
        with anyio.fail_after(30):
            result = await run_to_completion(
                manager, RunAgentRequest.from_agent(agent, messages=["go"]), [weather]
            )
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert "still calling tools after max_turns=3 turns" in result.last_error
    assert "\n" not in result.last_error
    assert len(model.calls) == 3


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ModelRateLimitError("rate limited by the endpoint;\nretry in a minute"),
            "model error: rate limited by the endpoint; retry in a minute",
        ),
        (ModelServerError("HTTP 503 from the endpoint"), "model error: HTTP 503 from the endpoint"),
    ],
)
async def test_model_errors_fail_the_run_with_one_line(error: Exception, expected: str) -> None:
    async with AgentManager(ScriptedModel([error])) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["hi"]))
        result = await manager.retrieve_result(run, timeout=10)
        assert result.run_status is RunStatus.failed
        assert result.last_error == expected
        assert (await manager.get_run(run)).failed_at is not None
        # the user's message is still on the thread
        assert [m.text for m in await manager.list_messages(run.thread_id)] == ["hi"]


async def test_a_script_that_runs_out_fails_the_run_clearly() -> None:
    async with AgentManager(ScriptedModel([])) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        result = await manager.retrieve_result(run, timeout=10)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert "ran out of replies" in result.last_error


async def test_an_unexpected_crash_in_the_model_fails_the_run() -> None:
    def buggy(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        raise ZeroDivisionError("division by zero")

    async with AgentManager(ScriptedModel(buggy)) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        result = await manager.retrieve_result(run, timeout=10)
    assert result.run_status is RunStatus.failed
    assert result.last_error == "internal error: ZeroDivisionError: division by zero"


@pytest.mark.parametrize(
    ("reply", "finish"),
    [
        ("", "stop"),
        ("   \n ", "stop"),
        (ChatResponse(message=ChatMessage.assistant(None), finish_reason="length"), "length"),
    ],
)
async def test_an_empty_reply_fails_the_run(reply: str | ChatResponse, finish: str) -> None:
    async with AgentManager(ScriptedModel([reply])) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        result = await manager.retrieve_result(run, timeout=10)
    assert result.run_status is RunStatus.failed
    if finish == "length":  # an empty reply cut at the limit says so, and what to do
        assert result.last_error == (
            "the model's answer was cut off at its output token limit (finish_reason "
            "length); ask for less, or use a model with a larger output limit"
        )
    else:
        assert result.last_error == f"the model returned an empty reply (finish_reason={finish})"
    assert result.messages == []


async def test_empty_and_repeated_tool_call_ids_from_the_model_are_made_unique() -> None:
    calls = [ChatToolCall(id="same", name="a"), ChatToolCall(id="same", name="b")]
    model = ScriptedModel(
        [ChatResponse(message=ChatMessage.assistant(None, calls), finish_reason="tool_calls"), "ok"]
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["go"]})
        result = await manager.retrieve_result(run, timeout=10)
        assert result.required_action is not None
        ids = [c.id for c in result.required_action.tool_calls]
        assert ids[0] == "same"
        assert len(set(ids)) == 2
        outputs = [ToolOutput(tool_call_id=i, output=i) for i in ids]
        await manager.submit_tool_outputs(
            RunAgentRequest(agent_id=agent.agent_id, run_id=run.run_id, tool_outputs=outputs)
        )
        assert (await manager.retrieve_result(run, timeout=10)).text == "ok"


# -- tool outputs that do not match --


async def test_wrong_or_missing_tool_output_ids_are_refused_and_nothing_is_lost() -> None:
    model = ScriptedModel(
        [[tool_call("a", id="call_a"), tool_call("b", id="call_b")], "Thanks for both."]
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["go"]})
        await manager.retrieve_result(run, timeout=10)

        def submit(*outputs: tuple[str | None, str]) -> RunAgentRequest:
            return RunAgentRequest(
                agent_id=agent.agent_id,
                run_id=run.run_id,
                tool_outputs=[ToolOutput(tool_call_id=i, output=o) for i, o in outputs],
            )

        bad = {
            "missing ids call_b": submit(("call_a", "A")),
            "unknown ids call_x; missing ids call_b": submit(("call_a", "A"), ("call_x", "X")),
            "repeated ids call_a": submit(("call_a", "A"), ("call_a", "A"), ("call_b", "B")),
            "a tool output has no tool_call_id": submit(("call_a", "A"), (None, "B")),
            "missing ids call_a, call_b": submit(),
        }
        for problem, request in bad.items():
            with pytest.raises(ToolOutputsMismatchError) as caught:
                await manager.submit_tool_outputs(request)
            message = str(caught.value)
            assert problem in message
            assert "expected one output for each of call_a, call_b" in message
            assert "the run still requires action" in message
            after = await manager.retrieve_result(run, timeout=10)
            assert after.run_status is RunStatus.requires_action
            assert after.required_action is not None
            assert [c.id for c in after.required_action.tool_calls] == ["call_a", "call_b"]

        await manager.submit_tool_outputs(submit(("call_b", "B"), ("call_a", "A")))
        result = await manager.retrieve_result(run, timeout=10)
    assert result.text == "Thanks for both."
    assert [str(m.content) for m in model.calls[1].messages if m.role == "tool"] == ["A", "B"]


async def test_submitting_to_a_run_that_does_not_require_action_is_a_state_error() -> None:
    async with AgentManager(ScriptedModel(["done"])) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        await manager.retrieve_result(run, timeout=10)
        with pytest.raises(RunStateError, match="is completed, not requires_action"):
            await manager.submit_tool_outputs(
                {"agent_id": agent.agent_id, "run_id": run.run_id, "tool_outputs": []}
            )


async def test_submit_tool_outputs_checks_the_request() -> None:
    async with AgentManager(ScriptedModel([tool_call("a", id="c1")])) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        await manager.retrieve_result(run, timeout=10)
        outputs = [{"tool_call_id": "c1", "output": "x"}]
        with pytest.raises(InvalidRequestError, match="needs the run_id"):
            await manager.submit_tool_outputs({"agent_id": agent.agent_id, "tool_outputs": outputs})
        with pytest.raises(InvalidRequestError, match="belongs to agent"):
            await manager.submit_tool_outputs(
                {"agent_id": "asst_other", "run_id": run.run_id, "tool_outputs": outputs}
            )
        with pytest.raises(InvalidRequestError, match="is on thread"):
            await manager.submit_tool_outputs(
                {
                    "agent_id": agent.agent_id,
                    "run_id": run.run_id,
                    "thread_id": "thread_other",
                    "tool_outputs": outputs,
                }
            )
        with pytest.raises(InvalidRequestError, match="not messages"):
            await manager.submit_tool_outputs(
                {"agent_id": agent.agent_id, "run_id": run.run_id, "messages": ["more"]}
            )
        assert (await manager.get_run(run)).status is RunStatus.requires_action


# -- cancelling, expiring, timeouts --


async def test_cancel_a_running_run_then_retrieve_it() -> None:
    async def first_hangs(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        if messages[-1].text == "hi":
            await anyio.sleep_forever()
        return "back"

    async with AgentManager(ScriptedModel(first_hangs)) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        cancelled = await manager.cancel_run(run.run_id)
        assert cancelled.status is RunStatus.cancelled
        assert cancelled.cancelled_at is not None
        result = await manager.retrieve_result(run, timeout=10)
        assert result.run_status is RunStatus.cancelled
        assert result.last_error == "cancelled on request"
        with pytest.raises(RunStateError, match="already ended \\(cancelled\\)"):
            await manager.cancel_run(run)
        # the thread is free for the next run at once
        again = await manager.run_agent(
            {"agent_id": agent.agent_id, "thread_id": run.thread_id, "messages": ["again"]}
        )
        assert (await manager.retrieve_result(again, timeout=10)).text == "back"


async def test_cancel_a_run_waiting_for_tool_outputs() -> None:
    async with AgentManager(ScriptedModel([tool_call("a")])) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        assert (
            await manager.retrieve_result(run, timeout=10)
        ).run_status is RunStatus.requires_action
        await manager.cancel_run(run)
        result = await manager.retrieve_result(run, timeout=10)
        assert result.run_status is RunStatus.cancelled
        assert result.required_action is None
        with pytest.raises(RunStateError, match="is cancelled, not requires_action"):
            await manager.submit_tool_outputs(
                {"agent_id": agent.agent_id, "run_id": run.run_id, "tool_outputs": []}
            )


async def test_retrieve_result_times_out_and_the_run_goes_on() -> None:
    gate = anyio.Event()

    async def held(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        await gate.wait()
        return "finally"

    async with AgentManager(ScriptedModel(held)) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        with pytest.raises(
            RunTimeoutError, match=r"is still in_progress after 0\.05 s; it goes on"
        ):
            await manager.retrieve_result(run, timeout=0.05)
        with pytest.raises(TimeoutError):
            await manager.retrieve_result(run, timeout=0.01)
        gate.set()
        result = await manager.retrieve_result(run, timeout=10)
    assert result.text == "finally"


async def test_a_run_over_run_timeout_expires() -> None:
    async with AgentManager(ScriptedModel(forever), run_timeout=0.1) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        result = await manager.retrieve_result(run, timeout=10)
    assert result.run_status is RunStatus.expired
    assert result.last_error == "run took longer than run_timeout=0.1 s"


async def test_unanswered_tool_calls_expire_the_run() -> None:
    async with AgentManager(ScriptedModel([tool_call("a")]), action_timeout=0.05) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        assert (
            await manager.retrieve_result(run, timeout=10)
        ).run_status is RunStatus.requires_action
        for _ in range(1000):  # poll: retrieve_result returns at once on requires_action
            if (await manager.get_run(run)).status is not RunStatus.requires_action:
                break
            await anyio.sleep(0.01)
        result = await manager.retrieve_result(run, timeout=10)
    assert result.run_status is RunStatus.expired
    assert result.last_error == "no tool outputs were submitted within action_timeout=0.05 s"


async def test_run_to_completion_timeout_cancels_its_run() -> None:
    async with AgentManager(ScriptedModel(forever)) as manager:
        agent = await manager.create_agent({})
        request = RunAgentRequest.from_agent(agent, messages=["hi"])
        with pytest.raises(
            RunTimeoutError, match=r"did not end within 0\.05 s and was cancelled"
        ) as caught:
            await run_to_completion(manager, request, timeout=0.05)
        assert caught.value.run_id is not None
        run = await manager.get_run(caught.value.run_id)
        assert run.status is RunStatus.cancelled


async def test_closing_the_manager_cancels_runs_in_flight() -> None:
    manager = AgentManager(ScriptedModel(forever))
    async with manager:
        agent = await manager.create_agent({})
        runs = [
            await manager.run_agent({"agent_id": agent.agent_id, "messages": [f"hi {i}"]})
            for i in range(5)
        ]
    for run in runs:
        result = await manager.retrieve_result(run, timeout=10)
        assert result.run_status is RunStatus.cancelled
        assert result.last_error == "cancelled: the agent manager closed"
    with pytest.raises(ManagerClosedError, match="async with AgentManager"):
        await manager.run_agent({"agent_id": agent.agent_id})


async def test_a_thread_takes_one_run_at_a_time() -> None:
    async with AgentManager(ScriptedModel(forever)) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        with pytest.raises(RunStateError, match="already has an active run"):
            await manager.run_agent(
                {"agent_id": agent.agent_id, "thread_id": run.thread_id, "messages": ["lost?"]}
            )
        # the refused message was not added
        assert [m.text for m in await manager.list_messages(run.thread_id)] == ["hi"]


async def test_too_many_active_runs_are_refused() -> None:
    async with AgentManager(ScriptedModel(forever), max_active_runs=2) as manager:
        agent = await manager.create_agent({})
        for _ in range(2):
            await manager.run_agent({"agent_id": agent.agent_id})
        with pytest.raises(RelayError, match="max_active_runs=2"):
            await manager.run_agent({"agent_id": agent.agent_id})


# -- unknown ids and bad requests --


async def test_ended_runs_past_the_retention_bound_are_forgotten_not_their_messages() -> None:
    backend = LocalBackend(ScriptedModel(["a", "b", "c"]), max_retained_runs=2)
    async with AgentManager(ScriptedModel([]), backend=backend) as manager:
        agent = await manager.create_agent({})
        thread = await manager.create_thread()
        runs = []
        for text in ("1", "2", "3"):
            request = RunAgentRequest.from_agent(agent, messages=[text], thread_id=thread.thread_id)
            runs.append(await manager.run_agent(request))
            await manager.retrieve_result(runs[-1], timeout=10)
        with pytest.raises(RunNotFoundError):
            await manager.get_run(runs[0])
        assert (await manager.get_run(runs[2])).status is RunStatus.completed
        messages = await manager.list_messages(thread.thread_id)
    assert [m.text for m in messages] == ["1", "a", "2", "b", "3", "c"]


async def test_threads_past_the_retention_bound_are_forgotten_least_recently_used_first() -> None:
    async def reply(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        return await forever(messages, tools) if messages[-1].text == "busy" else "b"

    backend = LocalBackend(ScriptedModel(reply), max_retained_threads=2)
    async with AgentManager(ScriptedModel([]), backend=backend) as manager:
        agent = await manager.create_agent({})
        busy = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["busy"]))
        old = await manager.create_thread()
        used = await manager.create_thread()  # three threads: one over the bound
        # The least recently used idle thread went; the one with an active run stayed.
        with pytest.raises(ThreadNotFoundError, match="past max_retained_threads=2"):
            await manager.list_messages(old.thread_id)
        await manager.list_messages(busy.thread_id)
        await manager.cancel_run(busy)
        # A run on a thread makes it the most recently used: the next new thread forgets
        # the busy one (idle now), not it.
        run = await manager.run_agent(
            RunAgentRequest.from_agent(agent, messages=["hi"], thread_id=used.thread_id)
        )
        await manager.retrieve_result(run, timeout=10)
        await manager.create_thread()
        with pytest.raises(ThreadNotFoundError):
            await manager.list_messages(busy.thread_id)
        assert [m.text for m in await manager.list_messages(used.thread_id)] == ["hi", "b"]
        # A forgotten thread's runs are still there to retrieve.
        assert (await manager.retrieve_result(busy, timeout=10)).run_status is (RunStatus.cancelled)
    with pytest.raises(ValueError, match="max_retained_threads must be positive"):
        LocalBackend(ScriptedModel([]), max_retained_threads=0)


async def test_hosted_tools_are_refused_by_the_local_backend() -> None:
    async with AgentManager(ScriptedModel([])) as manager:
        with pytest.raises(InvalidRequestError, match="function tools only, not code_interpreter"):
            await manager.create_agent({"tools": [{"type": "code_interpreter"}]})


async def test_unknown_ids_are_clear_errors() -> None:
    async with AgentManager(ScriptedModel([])) as manager:
        with pytest.raises(AgentNotFoundError, match="no agent 'asst_nope'"):
            await manager.run_agent({"agent_id": "asst_nope"})
        with pytest.raises(AgentNotFoundError):
            await manager.delete_agent("asst_nope")
        agent = await manager.create_agent({})
        with pytest.raises(ThreadNotFoundError, match="no thread 'thread_nope'"):
            await manager.run_agent({"agent_id": agent.agent_id, "thread_id": "thread_nope"})
        with pytest.raises(ThreadNotFoundError):
            await manager.list_messages("thread_nope")
        for call in (manager.get_run, manager.retrieve_result, manager.cancel_run):
            with pytest.raises(RunNotFoundError, match="no run 'run_nope'"):
                await call("run_nope")
        with pytest.raises(RunNotFoundError):
            await manager.submit_tool_outputs(
                {"agent_id": agent.agent_id, "run_id": "run_nope", "tool_outputs": []}
            )
        thread = await manager.create_thread()
        with pytest.raises(RunNotFoundError):
            await manager.list_messages(thread.thread_id, run_id="run_nope")
        await manager.delete_agent(agent.agent_id)
        with pytest.raises(AgentNotFoundError, match="never created or is deleted"):
            await manager.run_agent({"agent_id": agent.agent_id})
    assert issubclass(RunNotFoundError, LookupError)


async def test_plain_dicts_that_fail_validation_raise_pydantic_errors() -> None:
    async with AgentManager(ScriptedModel([])) as manager:
        with pytest.raises(ValidationError, match="needs a 'function' definition"):
            await manager.create_agent({"tools": [{"type": "function"}]})
        with pytest.raises(ValidationError, match="agent_id"):
            await manager.run_agent({"messages": ["hi"]})
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            await manager.run_agent({"agent_id": "a", "mesages": ["typo"]})
        with pytest.raises(ValidationError, match="output"):
            await manager.submit_tool_outputs(
                {"agent_id": "a", "run_id": "r", "tool_outputs": [{"tool_call_id": "c"}]}
            )
        with pytest.raises(ValidationError, match="url"):
            await manager.create_thread(
                [{"content": [{"type": "image_url", "image_url": {"url": "jpeg"}}]}]
            )


async def test_run_agent_refuses_continuation_fields_and_unshowable_content() -> None:
    async with AgentManager(ScriptedModel([])) as manager:
        agent = await manager.create_agent({})
        with pytest.raises(InvalidRequestError, match="call submit_tool_outputs"):
            await manager.run_agent({"agent_id": agent.agent_id, "run_id": "run_1"})
        thread = await manager.create_thread(["kept"])
        by_id = Message(content=[ImageFileContent(image_file=ImageFile(file_id="file_1"))])
        with pytest.raises(InvalidRequestError, match="known only by id"):
            await manager.run_agent(
                RunAgentRequest.from_agent(agent, messages=[by_id], thread_id=thread.thread_id)
            )
        binary = Message.user(
            "see file", attachments=[{"file_name": "x.bin", "file_content": b"\xff\xfe\x00"}]
        )
        with pytest.raises(InvalidRequestError, match="neither an image nor UTF-8 text"):
            await manager.create_thread([binary])
        # nothing was half-applied
        assert [m.text for m in await manager.list_messages(thread.thread_id)] == ["kept"]


async def test_backend_choice_and_closed_manager_are_clear() -> None:
    with pytest.raises(
        BackendNotAvailableError, match="no backend named 'bedrock'; available: local"
    ):
        AgentManager(ScriptedModel([]), backend="bedrock")
    with pytest.raises(ValueError, match="max_turns must be positive"):
        AgentManager(ScriptedModel([]), max_turns=0)
    manager = AgentManager(ScriptedModel([]))
    agent = await manager.create_agent({})
    with pytest.raises(ManagerClosedError):
        await manager.run_agent({"agent_id": agent.agent_id})
    async with manager:
        with pytest.raises(RuntimeError, match="already open"):
            await manager.__aenter__()


async def test_an_error_in_the_managers_body_comes_out_as_it_is() -> None:
    manager = AgentManager(ScriptedModel(forever))
    runs: list[str] = []

    async def body() -> None:
        async with manager:
            agent = await manager.create_agent({})
            runs.append((await manager.run_agent({"agent_id": agent.agent_id})).run_id)
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await body()
    assert (await manager.get_run(runs[0])).status is RunStatus.cancelled


@given(
    expected=st.lists(st.sampled_from(["c1", "c2", "c3", "c4"]), unique=True, max_size=4),
    given_ids=st.lists(st.sampled_from(["c1", "c2", "c3", "c4", "zz", None]), max_size=6),
)
def test_outputs_match_only_one_per_pending_call(
    expected: list[str], given_ids: list[str | None]
) -> None:
    problems = mismatches(given_ids, expected)
    exact = None not in given_ids and sorted(given_ids) == sorted(expected)  # type: ignore[type-var]
    assert (problems == []) == exact
    if not exact:
        assert all(p and "\n" not in p for p in problems)


@pytest.mark.parametrize("value", ["3", True, float("nan"), 0, -1.5])
def test_a_limit_that_is_no_positive_number_is_refused_by_name(value: object) -> None:
    with pytest.raises(ValueError, match=r"max_turns must be positive, got "):
        LocalBackend(ScriptedModel([]), max_turns=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"action_timeout must be positive, got "):
        AgentManager(ScriptedModel([]), action_timeout=value)  # type: ignore[arg-type]
