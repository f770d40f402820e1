"""Helpers for the tests that drive ``OpenAIChatModel`` (the real ``AsyncOpenAI`` client)
against ``FakeOpenAIServer``: a model for a server, a call read both ways, loguru captured,
and a whole ``Runtime`` run with every event recorded."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
from loguru import logger
from task_record import TaskRecord, record_task

from agent_relay.agents import FileAgent
from agent_relay.runtime import (
    ChatMessage,
    ChatResponse,
    OpenAIChatModel,
    RuntimeSettings,
    StreamAccumulator,
)
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall

KEY = "sk-test-0123456789abcdef"
_RELAY = Path(sys.executable).with_name("relay")
#: The ``relay`` command of this environment.
RELAY = [str(_RELAY)] if _RELAY.exists() else [sys.executable, "-m", "agent_relay.runtime.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without keys or relay settings, plus ``extra``."""
    prefixes = ("OPENAI_", "RELAY_", "AZURE_", "REPLICATE_", "OPENROUTER_", "VLLM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


Mode = Literal["complete", "stream"]
MODES: tuple[Mode, ...] = ("complete", "stream")


def model_for(server: FakeOpenAIServer, **options: Any) -> OpenAIChatModel:
    options.setdefault("timeout", 10.0)
    options.setdefault("max_retries", 0)
    return OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key=KEY, **options)


async def ask(
    model: OpenAIChatModel, mode: Mode, messages: Sequence[ChatMessage] | None = None, **kw: Any
) -> ChatResponse:
    """One call, by ``complete`` or by ``stream`` (its deltas put together)."""
    messages = list(messages or [ChatMessage.user("go")])
    with anyio.fail_after(30):
        if mode == "complete":
            return await model.complete(messages, **kw)
        reply = StreamAccumulator()
        async for delta in model.stream(messages, **kw):
            reply.add(delta)
        return reply.response()


def arguments(response: ChatResponse) -> list[tuple[str, Any]]:
    """(name, parsed arguments) of each tool call of a response."""
    return [(c.name, json.loads(c.arguments)) for c in response.message.tool_calls]


@contextmanager
def captured_logs(level: str = "DEBUG") -> Iterator[list[str]]:
    """Every log message relay writes in the block, formatted as its text."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m.record["message"])), level=level)
    try:
        yield lines
    finally:
        logger.remove(sink)


async def run_task(
    workspace: Path,
    model: OpenAIChatModel,
    task: str = "do the work",
    *,
    settings: RuntimeSettings | None = None,
) -> TaskRecord:
    """One task through a ``Runtime`` with the file agent, every bus event recorded; the
    model is closed at the end."""
    async with model:
        return await record_task(workspace, model, [FileAgent()], task=task, settings=settings)


#: A file step's first turn: it lists the workspace. A file step that touches no file did
#: nothing a file agent exists to do, and fails; these tests are about the model's wire, so
#: their steps do this much file work before they answer.
LOOK = FakeReply(tool_calls=[FakeToolCall("list_files")])


def plan_text(*steps: tuple[str, str]) -> str:
    """A one-level plan for the file agent, from (id, prompt) pairs."""
    return json.dumps(
        {
            "plan": [
                {"id": sid, "agent": "file", "prompt": prompt, "depends_on": []}
                for sid, prompt in steps
            ]
        }
    )
