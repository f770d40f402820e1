"""The three agents together through the master: the demo's shape (an image and a stylesheet
in parallel, then a page that uses both), secrets kept off the bus, and a model that
misbehaves failing only its own step."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from agent_scripts import (
    HEALTHY_PROMPT,
    HEALTHY_STEP,
    HEALTHY_TURNS,
    AgentScript,
    TaskRecord,
    default_agents,
    fake_server_responder,
    plan_text,
    run_task,
    tool_call,
)
from loguru import logger
from proc_helpers import processes_with

from agent_relay.agents import CodeAgent, FileAgent, ImageAgent
from agent_relay.agents._image_types import image_dimensions
from agent_relay.runtime import ChatMessage, ModelServerError, OpenAIChatModel, RuntimeSettings
from agent_relay.runtime.testing import BadRequestFault, FakeOpenAIServer, Refusal

DRAW = "draw a hero image of mountains at sunset"
STYLE = "write a stylesheet for the page"
PAGE = "write index.html showing the image, styled by the stylesheet"

DEMO_PLAN = plan_text(
    ("img", "image", DRAW, []),
    ("css", "code", STYLE, []),
    ("page", "file", PAGE, ["img", "css"]),
)
CSS = "body { background: #123; }\nimg { max-width: 100%; }\n"


def write_page(conversation: list[ChatMessage]) -> object:
    """The file agent's first turn: a page that links what its dependencies made, found in
    the artifacts listed in its step message."""
    given = next(m.text for m in conversation if m.role == "user")
    image = re.search(r"- artifact image: (\S+)", given)
    css = re.search(r"- artifact code: (\S+)", given)
    assert image and css, given
    html = f'<link rel="stylesheet" href="{css[1]}">\n<img src="{image[1]}" alt="mountains">\n'
    return tool_call("write_file", {"path": "index.html", "content": html})


def demo_script() -> AgentScript:
    return AgentScript(
        DEMO_PLAN,
        {
            DRAW: [
                tool_call(
                    "generate_image",
                    {"prompt": "mountains at sunset", "size": "512x512", "filename": "hero.png"},
                )
            ],
            STYLE: [tool_call("save_code", {"path": "style.css", "code": CSS})],
            PAGE: [write_page, "index.html shows hero.png, styled by style.css"],
        },
        summary="a page with a sunset image",
    )


def assert_demo_done(record: TaskRecord, tmp_path: Path) -> None:
    result = record.result
    assert result.status == "completed", result.error
    task_dir = tmp_path / result.task_id
    by_path = {a.path: a for a in result.artifacts}
    assert set(by_path) == {"hero.png", "style.css", "index.html"}
    assert [by_path[p].kind for p in ("hero.png", "style.css", "index.html")] == [
        "image",
        "code",
        "file",
    ]
    assert image_dimensions((task_dir / "hero.png").read_bytes()) == (512, 512)
    assert (task_dir / "style.css").read_text() == CSS
    page = (task_dir / "index.html").read_text()
    assert 'href="style.css"' in page and 'src="hero.png"' in page


async def test_image_and_css_in_parallel_then_the_page(tmp_path: Path) -> None:
    script = demo_script()
    record = await run_task(tmp_path, script.model(), settings=RuntimeSettings())

    assert_demo_done(record, tmp_path)
    result = record.result
    # the page was given both outputs, and started only after both had completed
    message = script.records[PAGE].user_message
    assert "Result of step img (image)" in message and "Result of step css (code)" in message
    topics = [e.topic.split(".", 2)[2] for e in record.events if e.topic.startswith("task.")]
    page_started = topics.index("step.page.started")
    assert topics.index("step.img.completed") < page_started
    assert topics.index("step.css.completed") < page_started
    # one step ends the plan, so its output is the answer
    assert result.answer == "index.html shows hero.png, styled by style.css"
    assert result.usage.total_tokens > 0


async def test_tasks_run_side_by_side_in_their_own_workspaces(tmp_path: Path) -> None:
    from agent_relay.runtime import Runtime

    script = demo_script()
    async with Runtime(model=script.model(), agents=default_agents(), workspace=tmp_path) as rt:
        results = await rt.run_many(["first site", "second site"], concurrency=2)

    assert [r.status for r in results] == ["completed", "completed"]
    assert results[0].task_id != results[1].task_id
    for result in results:
        assert (tmp_path / result.task_id / "index.html").is_file()
        assert (tmp_path / result.task_id / "hero.png").is_file()


# -- secrets --------------------------------------------------------------------------------

KEY = f"sk-e2e-{secrets.token_hex(12)}"
SNOOP = "look around the machine"


@pytest.fixture
async def chat_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(require_api_key=KEY) as fake:
        yield fake


@pytest.fixture
async def leaky_image_server() -> AsyncIterator[FakeOpenAIServer]:
    """An image endpoint that rejects the request with a message echoing the key it got."""
    async with FakeOpenAIServer(require_api_key=KEY) as fake:
        fake.fail_next(BadRequestFault(message=f"no images for key {KEY} today"))
        yield fake


async def test_secrets_never_reach_the_bus(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chat_server: FakeOpenAIServer,
    leaky_image_server: FakeOpenAIServer,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("RELAY_TEST_SECRET", KEY)
    script = AgentScript(
        plan_text(("img", "image", DRAW, []), ("snoop", "code", SNOOP, []), HEALTHY_STEP),
        {
            DRAW: [tool_call("generate_image", {"prompt": "anything", "size": "256x256"})],
            SNOOP: [
                tool_call(
                    "execute_code",
                    {"language": "shell", "code": "env; cat /proc/*/environ; echo SNOOPED"},
                )
            ],
            HEALTHY_PROMPT: HEALTHY_TURNS,
        },
    )
    chat_server.responder = fake_server_responder(script)
    agents = [
        ImageAgent(backend="openai", base_url=leaky_image_server.base_url, max_retries=0),
        default_agents()[1],
        FileAgent(),
    ]
    logged: list[str] = []
    # Logged as loguru's default handler logs: tracebacks with the values of variables.
    sink = logger.add(logged.append, level="DEBUG", backtrace=True, diagnose=True)
    try:
        async with OpenAIChatModel("gpt-4.1-mini", base_url=chat_server.base_url) as model:
            record = await run_task(tmp_path, model, agents)
    finally:
        logger.remove(sink)
    result = record.result

    # the key was in use (the servers demand it) and the failure was reported: the image step
    # made no image, so it failed and the task is partial...
    assert result.status == "partial", result.error
    assert result.step("img").status == "failed"
    assert result.step("snoop").status == "completed"
    [refusal] = script.records[DRAW].outputs
    assert refusal.startswith("error:") and "no images for key" in refusal
    assert "SNOOPED" in result.step("snoop").output
    # ...but nowhere on the bus, in the result, or in what the model was shown
    everything = record.events_json() + result.model_dump_json()
    assert KEY not in everything
    assert KEY[-12:] not in everything
    assert not any(KEY in str(r.json) for r in chat_server.requests)
    assert any("generate_image refused" in line for line in logged)
    assert not any(KEY in line for line in logged)
    assert len(record.events) > 10 and any(e.topic.startswith("agent.") for e in record.events)


# -- a misbehaving model fails only its own step ---------------------------------------------

BAD = "the step whose model misbehaves"


def keep_listing(conversation: list[ChatMessage]) -> object:
    return tool_call("list_files", {})


@pytest.mark.parametrize(
    ("turns", "error"),
    [
        ([keep_listing], "still calling tools after max_turns=12 turns"),
        ([Refusal("I will not touch files")], "the model refused: I will not touch files"),
        ([ModelServerError("the endpoint fell over")], "model error: the endpoint fell over"),
        ([tool_call("no_such_tool", {}), ""], "the model returned an empty reply"),
    ],
    ids=["endless-tool-calls", "refusal", "model-error", "empty-reply"],
)
async def test_a_failed_run_fails_its_step_clearly(
    tmp_path: Path, turns: list[object], error: str
) -> None:
    script = AgentScript(
        plan_text(("bad", "file", BAD, []), HEALTHY_STEP),
        {BAD: turns, HEALTHY_PROMPT: HEALTHY_TURNS},  # type: ignore[dict-item]
    )
    record = await run_task(tmp_path, script.model())
    result = record.result

    assert result.status == "partial"
    bad = result.step("bad")
    assert bad.status == "failed"
    assert bad.error is not None and bad.error.startswith("file agent: ")
    assert error in bad.error
    assert "\n" not in bad.error
    assert result.step("healthy").status == "completed"
    assert (tmp_path / result.task_id / "healthy.txt").is_file()
    failed = [e for e in record.events if e.topic.endswith(".step.bad.failed")]
    assert [e.data["error"] for e in failed] == [bad.error]


async def test_a_step_timeout_stops_a_long_run_and_its_processes(tmp_path: Path) -> None:
    token = f"relay-e2e-{secrets.token_hex(6)}"
    # Bounded by itself: the sleeper ends after 20 s even if nothing killed it.
    sleeper = f"sleep 20; : {token}"
    script = AgentScript(
        plan_text(("slow", "code", BAD, []), HEALTHY_STEP),
        {
            BAD: [
                tool_call(
                    "execute_code",
                    {"language": "shell", "code": f"sh -c '{sleeper}' & sh -c '{sleeper}'"},
                )
            ],
            HEALTHY_PROMPT: HEALTHY_TURNS,
        },
    )
    settings = RuntimeSettings(step_timeout_s=1.0, summarize="never")
    agents = [ImageAgent(backend="offline"), CodeAgent(), FileAgent()]
    record = await run_task(tmp_path, script.model(), agents, settings=settings)
    result = record.result

    assert result.step("slow").status == "failed"
    assert result.step("slow").error == "timed out after 1s"
    assert result.step("healthy").status == "completed"
    # SIGKILLed with their pid namespace; the kernel may take a moment to reap them. Killed
    # or not, they would be gone after 20 s, so waiting up to 10 s still tells the two apart.
    with anyio.fail_after(10):
        while processes_with(token):
            await anyio.sleep(0.05)
