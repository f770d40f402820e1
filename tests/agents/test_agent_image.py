"""The image agent end to end: planned by the master, run over the bus through the assistant
layer, its image saved in the task's workspace and reported as an artifact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agent_scripts import (
    HEALTHY_STEP,
    HEALTHY_TURNS,
    AgentScript,
    default_agents,
    fake_server_responder,
    plan_text,
    run_task,
    tool_call,
)

from agent_relay.agents import FileAgent, ImageAgent
from agent_relay.agents._image_types import image_dimensions
from agent_relay.agents.image import PLACEHOLDER_NOTE
from agent_relay.runtime import OpenAIChatModel
from agent_relay.runtime.testing import FakeOpenAIServer

KEY = "sk-test-e2e-image-key-0123456789"
DRAW = "draw a sunset over the hills"


def image_script(arguments: dict[str, object]) -> AgentScript:
    return AgentScript(
        plan_text(("img", "image", DRAW, []), HEALTHY_STEP),
        {DRAW: [tool_call("generate_image", arguments)], HEALTHY_STEP[2]: HEALTHY_TURNS},
    )


async def test_offline_image_lands_in_the_workspace_as_an_artifact(tmp_path: Path) -> None:
    script = image_script(
        {"prompt": "a sunset over hills", "size": "256x256", "filename": "sun.png"}
    )
    record = await run_task(tmp_path, script.model())
    result = record.result

    assert result.status == "completed", result.error
    step = result.step("img")
    [artifact] = step.artifacts
    assert (artifact.kind, artifact.path, artifact.mime_type) == ("image", "sun.png", "image/png")
    assert artifact.metadata["placeholder"] is True
    assert artifact.metadata["note"] == PLACEHOLDER_NOTE
    assert artifact.metadata["backend"] == "offline"
    assert artifact.description == PLACEHOLDER_NOTE
    saved = tmp_path / result.task_id / "sun.png"
    assert image_dimensions(saved.read_bytes()) == (256, 256)
    # the model read what the tool did, and its answer is the step's output
    assert '"placeholder":true' in script.records[DRAW].outputs[0]
    assert "sun.png" in step.output
    assert script.records[DRAW].tool_names == ["generate_image"]
    progress = [e for e in record.events if e.topic.endswith(".step.img.progress")]
    assert [e.data["path"] for e in progress] == ["sun.png"]


async def test_a_name_is_derived_from_the_prompt_when_none_is_given(tmp_path: Path) -> None:
    script = image_script({"prompt": "a red kite", "size": "256x256"})
    result = (await run_task(tmp_path, script.model())).result

    [artifact] = result.step("img").artifacts
    assert artifact.path is not None and artifact.path.startswith("image-a-red-kite-")
    assert (tmp_path / result.task_id / artifact.path).is_file()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompt": "p", "filename": "../escape.png"}, "escapes the workspace"),
        ({"prompt": "p", "filename": "/etc/passwd"}, "is absolute"),
        ({"prompt": "p", "filename": "a/../../x.png"}, "escapes the workspace"),
        ({"prompt": "p", "filename": "bad\x00.png"}, "NUL byte"),
        ({"prompt": "p", "size": "99999x99999"}, "argument 'size': input should be"),
        ({"prompt": "   "}, "the image prompt is empty"),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "nul", "huge-size", "empty-prompt"],
)
async def test_bad_image_requests_are_refused_and_the_task_goes_on(
    tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    script = image_script(arguments)
    result = (await run_task(tmp_path, script.model())).result

    seen = script.records[DRAW].outputs
    assert len(seen) == 1 and seen[0].startswith("error:") and message in seen[0]
    step = result.step("img")
    # no image was made: the step failed, with the refusal as its reason, and the task is
    # partial, not completed
    assert step.status == "failed" and message in step.output
    assert step.error is not None and "no image was made" in step.error and message in step.error
    assert step.artifacts == [] and result.status == "partial"
    assert result.step("healthy").status == "completed"
    assert (tmp_path / result.task_id / "healthy.txt").read_text() == "still standing"
    # nothing was written outside the task's workspace, nor any image inside it
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "x.png").exists()
    assert list((tmp_path / result.task_id).glob("*.png")) == []


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(require_api_key=KEY) as fake:
        yield fake


async def test_through_the_openai_wire_with_the_real_client(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    script = image_script(
        {"prompt": "a lighthouse at dusk", "size": "512x512", "filename": "l.png"}
    )
    server.responder = fake_server_responder(script)
    image_agent = ImageAgent(backend="openai", base_url=server.base_url, api_key=KEY, max_retries=0)
    [_, code_agent, _] = default_agents()
    async with OpenAIChatModel(
        "gpt-4.1-mini", base_url=server.base_url, api_key=KEY, max_retries=0
    ) as model:
        record = await run_task(tmp_path, model, [image_agent, code_agent, FileAgent()])
    result = record.result

    assert result.status == "completed", result.error
    [artifact] = result.step("img").artifacts
    assert (artifact.kind, artifact.path, artifact.mime_type) == ("image", "l.png", "image/png")
    assert artifact.metadata == {
        "backend": "openai",
        "width": 512,
        "height": 512,
        "placeholder": False,
    }
    assert image_dimensions((tmp_path / result.task_id / "l.png").read_bytes()) == (512, 512)
    [generation] = [r for r in server.requests if r.path == "/v1/images/generations"]
    assert generation.body["prompt"] == "a lighthouse at dusk"
    assert generation.body["size"] == "512x512"
    chats = [r for r in server.requests if r.path == "/v1/chat/completions"]
    # one plan, and two turns for each of the two steps
    assert len(chats) == 5
    assert any(r.stream and r.body.get("response_format") for r in chats)
    assert {t["function"]["name"] for r in chats for t in r.body.get("tools", [])} >= {
        "generate_image",
        "write_file",
    }
    assert KEY not in record.events_json()
    assert KEY not in result.model_dump_json()
