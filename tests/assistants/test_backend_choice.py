"""A backend chosen by a factory ``(model) -> Backend``: AgentManager builds it from its model,
and what cannot be built (no model, not a Backend, a shared instance) is refused clearly."""

from __future__ import annotations

import pytest

from agent_relay.runtime import ChatModel
from agent_relay.runtime.assistants import (
    AgentManager,
    Backend,
    BackendNotAvailableError,
    LocalBackend,
    RunAgentRequest,
    RunStatus,
    check_backend_choice,
    check_backend_model,
)
from agent_relay.runtime.testing import ScriptedModel


async def test_a_factory_builds_the_managers_backend_from_its_model() -> None:
    built: list[ChatModel] = []

    def local(model: ChatModel) -> Backend:
        built.append(model)
        return LocalBackend(model)

    model = ScriptedModel(["Hello."])
    async with AgentManager(model, backend=local) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))
        result = await manager.retrieve_result(run, timeout=30)
    assert built == [model]
    assert (result.run_status, result.text) == (RunStatus.completed, "Hello.")


def test_what_cannot_be_built_is_refused() -> None:
    with pytest.raises(ValueError, match="a backend factory needs a chat model"):
        AgentManager(backend=LocalBackend)
    with pytest.raises(TypeError, match="returned a str, not a Backend"):
        AgentManager(ScriptedModel([]), backend=lambda model: "local")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="cannot be shared"):
        check_backend_choice(LocalBackend(ScriptedModel([])))
    with pytest.raises(TypeError, match="not by a value of type int"):
        check_backend_choice(7)
    with pytest.raises(BackendNotAvailableError, match="available: local, responses"):
        check_backend_choice("bedrock")
    assert check_backend_choice(" Local") == "local"
    with pytest.raises(BackendNotAvailableError, match="ScriptedModel has none"):
        check_backend_model("responses", ScriptedModel([]))
    check_backend_model("local", ScriptedModel([]))
