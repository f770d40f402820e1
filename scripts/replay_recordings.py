"""Replay recorded provider responses through relay and through the official openai SDK.

A development tool, not a test: the recordings live outside the repository. Each recording is
a JSON file with ``mode`` ("json" or "sse"), ``checks`` and ``responses[]`` (status, headers,
body byte for byte). A loopback server answers each request with the next response; relay's
``OpenAIChatModel`` and the SDK's ``AsyncOpenAI`` read the same bytes, and the script prints
every field where their readings differ: text, tool calls (id, name, arguments), finish
reason, usage and refusal; or, for error recordings, the error relay raises.

    python scripts/replay_recordings.py DIR [NAME ...]

Exit status 1 when any recording reads differently.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import openai
from aiohttp import web

from agent_relay.runtime import (
    ChatMessage,
    ModelError,
    OpenAIChatModel,
    StreamAccumulator,
)
from agent_relay.runtime.testing import serve_on_loopback


@dataclass
class Reading:
    """What one reader saw in one reply."""

    text: str = ""
    refusal: str = ""
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments)
    finish: str = ""
    usage: tuple[int, int, int] | None = None
    error: str = ""


class Replayer:
    """Serves a recording's responses in order, one per request."""

    def __init__(self, responses: list[dict[str, Any]]) -> None:
        self.responses = responses
        self.served = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        recorded = self.responses[min(self.served, len(self.responses) - 1)]
        self.served += 1
        body = recorded["body"]
        raw = (
            body.encode("utf-8", "surrogatepass")
            if isinstance(body, str)
            else json.dumps(body).encode()
        )
        headers = {
            k: v for k, v in recorded.get("headers", {}).items() if k.lower() != "content-length"
        }
        return web.Response(status=recorded["status"], body=raw, headers=headers)


THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


def answer_text(content: Any) -> str:
    """The answer in a content field as the SDK hands it over: text parts joined when it is a
    list of parts, and ``<think>`` blocks left out (relay reads those as reasoning)."""
    if isinstance(content, list):
        content = "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return THINK.sub("", content or "")


def normal_json(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), sort_keys=True)
    except ValueError:
        return arguments


async def read_with_sdk(base_url: str, stream: bool) -> Reading:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-replay", max_retries=0)
    reading = Reading()
    try:
        if not stream:
            reply = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            choice = reply.choices[0]
            reading.text = answer_text(choice.message.content)
            reading.refusal = choice.message.refusal or ""
            reading.calls = [
                (c.id or "", c.function.name, normal_json(c.function.arguments))
                for c in choice.message.tool_calls or []
            ]
            reading.finish = choice.finish_reason or ""
            if reply.usage:
                u = reply.usage
                reading.usage = (u.prompt_tokens, u.completion_tokens, u.total_tokens)
            return reading
        chunks = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        calls: dict[int, list[str]] = {}
        streamed: list[Any] = []
        async for chunk in chunks:
            if chunk.usage:
                u = chunk.usage
                reading.usage = (u.prompt_tokens, u.completion_tokens, u.total_tokens)
            for choice in chunk.choices:
                if choice.index not in (0, None):
                    continue
                delta = choice.delta
                if delta is None:
                    continue
                if isinstance(delta.content, list):
                    streamed.extend(delta.content)
                elif delta.content:
                    streamed.append({"type": "text", "text": delta.content})
                reading.refusal += delta.refusal or ""
                for call in delta.tool_calls or []:
                    slot = calls.setdefault(call.index, ["", "", ""])
                    slot[0] = call.id or slot[0]
                    if call.function:
                        slot[1] += call.function.name or ""
                        slot[2] += call.function.arguments or ""
                reading.finish = choice.finish_reason or reading.finish
        reading.calls = [(i, n, normal_json(a)) for _, (i, n, a) in sorted(calls.items())]
        reading.text = answer_text(streamed)
    except Exception as exc:  # the SDK's own verdict is part of the comparison
        reading.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        await client.close()
    return reading


async def read_with_relay(base_url: str, stream: bool) -> Reading:
    model = OpenAIChatModel("m", base_url=base_url, api_key="sk-replay", max_retries=0)
    reading = Reading()
    messages = [ChatMessage.user("hi")]
    try:
        if stream:
            acc = StreamAccumulator()
            async for delta in model.stream(messages):
                acc.add(delta)
            response = acc.response()
        else:
            response = await model.complete(messages)
        reading.text = response.message.text
        reading.refusal = response.message.refusal or ""
        reading.calls = [
            (c.id, c.name, normal_json(c.arguments)) for c in response.message.tool_calls
        ]
        reading.finish = response.finish_reason
        u = response.usage
        reading.usage = (u.prompt_tokens, u.completion_tokens, u.total_tokens)
    except ModelError as exc:
        reading.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        await model.aclose()
    return reading


def differences(relay: Reading, sdk: Reading) -> Iterator[str]:
    """Where relay's reading departs from the SDK's, in the SDK's own terms."""
    if sdk.error or relay.error:
        if bool(sdk.error) != bool(relay.error):
            yield f"error: relay {relay.error or 'none'!r} / sdk {sdk.error or 'none'!r}"
        return  # both refused the reply; relay's error is printed as information
    if relay.text != sdk.text:
        yield f"text: relay {relay.text[:80]!r} / sdk {sdk.text[:80]!r}"
    if relay.refusal != sdk.refusal:
        yield f"refusal: relay {relay.refusal[:60]!r} / sdk {sdk.refusal[:60]!r}"
    if [(n, a) for _, n, a in relay.calls] != [(n, a) for _, n, a in sdk.calls]:
        yield f"tool calls: relay {relay.calls} / sdk {sdk.calls}"
    else:
        for (rid, _, _), (sid, _, _) in zip(relay.calls, sdk.calls, strict=False):
            if sid and rid != sid:
                yield f"tool call id: relay {rid!r} / sdk {sid!r}"
    expected_finish = {"": relay.finish}.get(sdk.finish, sdk.finish)
    if sdk.refusal and sdk.finish == "stop":
        expected_finish = "refusal"
    if sdk.finish == "function_call":
        expected_finish = "tool_calls"
    if relay.finish != expected_finish:
        yield f"finish reason: relay {relay.finish!r} / sdk {sdk.finish!r}"
    if sdk.usage is not None and relay.usage != sdk.usage:
        yield f"usage: relay {relay.usage} / sdk {sdk.usage}"


async def replay(path: Path) -> list[str]:
    """Every response of one recording, each read by both readers."""
    recording = json.loads(await anyio.Path(path).read_text(encoding="utf-8"))
    stream = recording["mode"] == "sse"
    found: list[str] = []
    for number, response in enumerate(recording["responses"], 1):
        readings = []
        for reader in (read_with_relay, read_with_sdk):
            app = web.Application()
            app.router.add_post("/v1/chat/completions", Replayer([response]).handle)
            runner, port = await serve_on_loopback(app)
            try:
                readings.append(await reader(f"http://127.0.0.1:{port}/v1", stream))
            finally:
                await runner.cleanup()
        relay, sdk = readings
        where = f"response {number}: " if len(recording["responses"]) > 1 else ""
        if response["status"] >= 400 or "error" in recording.get("checks", []):
            if not relay.error:
                found.append(f"{where}relay read an error reply as a success: {relay}")
            else:
                print(f"       {where}relay raised {relay.error[:160]!r}")
            continue
        found.extend(where + line for line in differences(relay, sdk))
        if relay.error and not found:
            print(f"       {where}an error inside the reply; relay raised {relay.error[:140]!r}")
    return found


async def replay_all(files: list[Path]) -> int:
    bad = 0
    for path in files:
        found = await replay(path)
        bad += bool(found)
        print(f"{'ok  ' if not found else 'DIFF'} {path.name}")
        for line in found:
            print(f"       {line}")
    print(f"{len(files) - bad}/{len(files)} recordings read the same through relay and the SDK")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    every = sorted(Path(sys.argv[1]).glob("*.json"))
    wanted = sys.argv[2:]
    chosen = [p for p in every if not wanted or any(w in p.name for w in wanted)]
    if not chosen:
        sys.exit(f"no recordings (*.json) in {sys.argv[1]} match; see --help\n\n{__doc__}")
    sys.exit(anyio.run(replay_all, chosen))
