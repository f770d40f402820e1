"""A reply's text, finish and usage read the same however a provider shapes them: ``delta:
null`` or no delta, a chunk with no choices first, ``content`` as a list of parts, a stream
with no finish reason before ``[DONE]``, usage in ``x_groq``, keep-alive comments, the other
mode than the one asked for; and text no encoder can take (a lone surrogate) never crashes
relay, its JSON output or its terminal views."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from model_helpers import (
    LOOK,
    MODES,
    RELAY,
    Mode,
    ask,
    clean_env,
    model_for,
    plan_text,
    run_task,
)
from rich.console import Console

from agent_relay.runtime import ModelServerError, Usage
from agent_relay.runtime.testing import (
    CutStreamFault,
    FakeOpenAIServer,
    FakeReply,
    FakeUsage,
    Quirk,
)

TEXT = "The quick brown fox jumps over the lazy dog."
REPLY = FakeReply(text=TEXT, usage=FakeUsage(prompt_tokens=11, completion_tokens=9))
SHAPE_QUIRKS = [
    (Quirk.NULL_DELTA,),
    (Quirk.NO_DELTA,),
    (Quirk.FILTER_CHUNK_FIRST,),
    (Quirk.CONTENT_AS_PARTS,),
    (Quirk.NO_FINISH_REASON,),
    (Quirk.USAGE_IN_X_GROQ,),
    (Quirk.KEEPALIVE_COMMENTS,),
    (Quirk.SSE_FOR_JSON,),
    (Quirk.JSON_FOR_SSE,),
    (Quirk.FILTER_CHUNK_FIRST, Quirk.NO_DELTA, Quirk.NO_FINISH_REASON, Quirk.USAGE_IN_X_GROQ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("quirks", SHAPE_QUIRKS, ids=lambda q: "+".join(q))
async def test_text_finish_and_usage_read_the_same_in_every_shape(
    mode: Mode, quirks: tuple[Quirk]
) -> None:
    async with (
        FakeOpenAIServer([REPLY], quirks=quirks, chunk_size=7) as server,
        model_for(server) as model,
    ):
        reply = await ask(model, mode)
    assert reply.message.text == TEXT
    assert reply.finish_reason == "stop"
    assert reply.usage == Usage(prompt_tokens=11, completion_tokens=9, total_tokens=20, calls=1)
    assert reply.model == "gpt-4.1-mini" or mode == "stream"


@pytest.mark.parametrize(
    ("quirk", "asked_stream", "answered"),
    [
        (Quirk.SSE_FOR_JSON, False, "text/event-stream"),
        (Quirk.JSON_FOR_SSE, True, "application/json"),
    ],
)
async def test_the_server_answers_in_the_other_mode(
    quirk: Quirk, asked_stream: bool, answered: str
) -> None:
    """The quirk is real: the body comes in the mode that was not asked for."""
    import aiohttp

    async with FakeOpenAIServer([REPLY], quirks=[quirk]) as server:
        body = {"model": "m", "messages": [], "stream": asked_stream}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.base_url}/chat/completions", json=body) as response,
        ):
            assert response.headers["Content-Type"].startswith(answered)


@pytest.mark.parametrize("quirks", [(), (Quirk.NO_FINISH_REASON,)], ids=["plain", "no-finish"])
async def test_a_stream_that_stops_without_done_is_cut_not_finished(
    quirks: tuple[Quirk, ...],
) -> None:
    """``[DONE]`` without a finish reason is complete; neither of them is a cut reply, and
    what arrived is not passed off as the answer."""
    cut = CutStreamFault(after_chunks=3, reply=REPLY, graceful=True)
    async with (
        FakeOpenAIServer([cut], quirks=quirks, chunk_size=7) as server,
        model_for(server) as model,
    ):
        with pytest.raises(ModelServerError, match="ended before the reply was complete"):
            await ask(model, "stream")


@pytest.mark.parametrize("mode", MODES)
async def test_parts_with_thinking_give_the_text_and_keep_the_reasoning_apart(mode: Mode) -> None:
    reply = FakeReply(text=TEXT, reasoning="Let me think about foxes.")
    async with (
        FakeOpenAIServer([reply], quirks=[Quirk.CONTENT_AS_PARTS], chunk_size=6) as server,
        model_for(server) as model,
    ):
        read = await ask(model, mode)
    assert read.message.text == TEXT
    assert read.message.reasoning == "Let me think about foxes."


# -- text that cannot be encoded --------------------------------------------------------------

HALF_EMOJI = "half an emoji: \ud83d!"  # a lone surrogate, as a token limit leaves it


@pytest.mark.parametrize("mode", MODES)
async def test_a_lone_surrogate_becomes_a_replacement_character(mode: Mode) -> None:
    reply = FakeReply(text=HALF_EMOJI, reasoning="thinking \udc00")
    async with FakeOpenAIServer([reply], chunk_size=4) as server, model_for(server) as model:
        read = await ask(model, mode)
    assert read.message.text == "half an emoji: \ufffd!"
    assert read.message.reasoning == "thinking \ufffd"
    read.model_dump_json().encode("utf-8")  # no UnicodeEncodeError anywhere


def _surrogate_script() -> list[FakeReply | str]:
    return [plan_text(("s1", "Say something odd")), LOOK, FakeReply(text=HALF_EMOJI)]


async def test_a_lone_surrogate_in_an_answer_keeps_the_task_result_valid_json(
    tmp_path: Path,
) -> None:
    async with FakeOpenAIServer(_surrogate_script()) as server, model_for(server) as model:
        record = await run_task(tmp_path, model)
    result = record.result
    assert result.status == "completed", result.error
    dumped = result.model_dump_json()
    dumped.encode("utf-8")
    assert "\ufffd" in json.loads(dumped)["answer"]
    for event in record.events:
        event.to_json()  # every event serializes too


async def test_a_lone_surrogate_through_the_terminal_view_in_process(tmp_path: Path) -> None:
    from agent_relay.runtime.cli._config import load_settings
    from agent_relay.runtime.cli._live import LiveView
    from agent_relay.runtime.cli._run import execute, finish

    settings = load_settings({"workspace": str(tmp_path / "ws")}, cwd=tmp_path)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, highlight=False)
    async with FakeOpenAIServer(_surrogate_script()) as server:
        model = model_for(server)
        outcome = await execute("Say something odd", model, settings, LiveView(console, "x"))
        code = finish(outcome, console, settings, json_output=False)
    assert code == 0
    assert "\ufffd" in screen.getvalue()
    screen.getvalue().encode("utf-8")


@pytest.mark.parametrize("json_output", [True, False], ids=["json", "plain"])
async def test_a_lone_surrogate_through_relay_run_in_a_subprocess(
    tmp_path: Path, json_output: bool
) -> None:
    import anyio

    from agent_relay.runtime import TaskResult

    async with FakeOpenAIServer(_surrogate_script(), default_reply="summary") as server:
        args = ["run", "Say something odd", "--model", "openai:x", "--base-url", server.base_url]
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [*RELAY, *args, *(["--json"] if json_output else [])],
                cwd=tmp_path,
                env=clean_env(OPENAI_API_KEY="sk-test-key-0123456789"),
                check=False,
            )
    stdout = done.stdout.decode("utf-8")  # strict: invalid UTF-8 would raise here
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in done.stderr.decode("utf-8")
    if json_output:
        assert "\ufffd" in TaskResult.model_validate_json(stdout).answer
    else:
        assert "\ufffd" in stdout
