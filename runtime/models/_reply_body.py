"""One attempt of a Chat Completions call: send it, then read whatever body comes back.

The SDK sends the request (its auth, headers and error statuses); the body is read here, by
its content type rather than by what was asked for, because servers answer a stream request
with JSON and a plain request with SSE. Either way the caller gets ``ChatDelta``s: a whole
reply becomes the deltas a stream of it would have given.

The attempt has one deadline, from connecting to the last byte: every read of the body is
bounded by what is left of it, so keep-alive comments or a body that trickles in byte by byte
cannot keep a call open.

The body has a size cap too (``max_reply_bytes``): past it reading stops and the call fails
with ``ReplyTooLargeError``, so an endless stream cannot buffer until memory runs out. The
body is read as bytes and cut into lines here, so a single endless line is bounded as well.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import anyio
import openai

from agent_relay.bus import one_line

from ._chat_types import ChatDelta, ChatResponse, ToolCallDelta
from ._provider_errors import ProviderError, ProviderReplyError, provider_error
from ._reply_reader import (
    ReplyCutError,
    ReplyTooLargeError,
    StreamReader,
    UnreadableReplyError,
    read_completion,
)
from ._sse import ServerSentEvent, decode_events

_T = TypeVar("_T")


async def read_reply(
    client: openai.AsyncOpenAI,
    request: dict[str, Any],
    timeout_s: float,
    model_name: list[str],
    max_reply_bytes: int,
    *,
    streamed: list[bool] | None = None,
) -> AsyncIterator[ChatDelta]:
    """Send ``request`` (keyword arguments of ``chat.completions.create``; keys starting with
    ``_`` are not sent) and yield the reply's deltas. The model name the endpoint reported is
    appended to ``model_name``. Raises ``TimeoutError`` past ``timeout_s`` seconds, the SDK's
    errors for error statuses and connection failures, ``ProviderReplyError``,
    ``UnreadableReplyError`` and ``ReplyCutError`` for bodies, and ``ReplyTooLargeError``
    once the body passes ``max_reply_bytes`` bytes (nothing more is read). Whether the body
    was a stream (SSE) is appended to ``streamed``."""
    told = streamed if streamed is not None else []
    deadline = anyio.current_time() + timeout_s
    sent = {k: v for k, v in request.items() if not k.startswith("_")}
    async with AsyncExitStack() as stack:
        with anyio.fail_after(timeout_s):
            response = await stack.enter_async_context(
                client.chat.completions.with_streaming_response.create(**sent)
            )
        content_type = response.headers.get("content-type", "").lower()
        chunks = _capped(_bounded(response.iter_bytes(), deadline), max_reply_bytes)
        if "event-stream" in content_type:
            told.append(True)
            events = decode_events(_lines_of(chunks))
        else:
            raw = b"".join([chunk async for chunk in chunks])
            text = raw.decode("utf-8", errors="replace")
            if "json" in content_type or not _looks_like_sse(text):
                told.append(False)
                reply = read_completion(_parse_json(text))
                model_name.append(reply.model)
                for delta in _as_deltas(reply):
                    yield delta
                return
            told.append(True)
            events = decode_events(_lines(text))
        async for delta in _read_events(events, model_name):
            yield delta


async def _read_events(
    events: AsyncIterator[ServerSentEvent], model_name: list[str]
) -> AsyncIterator[ChatDelta]:
    reader = StreamReader()
    done = False
    async for event in events:
        if event.data.strip() == "[DONE]":
            done = True
            break
        if event.event == "error":
            body = _parse_json(event.data) if event.data.lstrip().startswith("{") else event.data
            raise ProviderReplyError(provider_error(body) or ProviderError(event.data))
        chunk = _parse_json(event.data)
        if isinstance(chunk, dict) and not model_name and chunk.get("model"):
            model_name.append(str(chunk["model"]))
        delta = reader.feed(chunk)
        if delta is not None:
            yield delta
    for delta in reader.finish(done=done):
        yield delta


async def _bounded(items: AsyncIterator[_T], deadline: float) -> AsyncIterator[_T]:
    """``items``, each awaited for no longer than what is left until ``deadline``."""
    iterator = aiter(items)
    while True:
        with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
            try:
                line = await _transport(anext(iterator))
            except StopAsyncIteration:
                return
        yield line


async def _capped(chunks: AsyncIterator[bytes], cap: int) -> AsyncIterator[bytes]:
    """``chunks`` until they pass ``cap`` bytes in all; then ``ReplyTooLargeError``."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise ReplyTooLargeError(cap)
        yield chunk


async def _lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The lines of a body (ended by LF, CRLF or CR, as SSE allows), without their ends.
    A line is held only until its end arrives: ``_capped`` bounds how long that can be."""
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        end = pending.rfind(b"\n")
        if end < 0:
            continue
        # Split on LF only while a CR may still be followed by its LF in the next chunk.
        whole, pending = bytes(pending[:end]), pending[end + 1 :]
        for line in whole.split(b"\n"):
            for part in line.removesuffix(b"\r").split(b"\r"):
                yield part.decode("utf-8", errors="replace")
    if pending:
        for part in bytes(pending).splitlines():
            yield part.decode("utf-8", errors="replace")


async def _transport(read: Awaitable[_T]) -> _T:
    """Await one read of the body. Whatever the HTTP library raises while bytes are read
    (the SDK does not wrap it then) means the connection failed mid-reply."""
    try:
        return await read
    except (StopAsyncIteration, TimeoutError, anyio.get_cancelled_exc_class()):
        raise
    except Exception as exc:
        raise ReplyCutError(f"{type(exc).__name__}: {exc}") from exc


async def _lines(text: str) -> AsyncIterator[str]:
    for line in text.splitlines():
        yield line


def _looks_like_sse(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.startswith(("data:", "event:", ":"))


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise UnreadableReplyError(f"the body is not JSON: {one_line(text, 80)!r}") from None


def _as_deltas(reply: ChatResponse) -> list[ChatDelta]:
    """The deltas a stream of ``reply`` would have given."""
    message = reply.message
    calls = [
        ToolCallDelta(
            index=i,
            id=call.id,
            name=call.name,
            arguments=call.arguments,
            provider_state=call.provider_state,
        )
        for i, call in enumerate(message.tool_calls)
    ]
    return [
        ChatDelta(
            content=message.text,
            refusal=message.refusal or "",
            reasoning=message.reasoning or "",
            tool_calls=calls,
        ),
        ChatDelta(
            finish_reason=reply.finish_reason,
            usage=reply.usage,
            provider_state=message.provider_state,
        ),
    ]
