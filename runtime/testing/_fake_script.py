"""What a test scripts the fake OpenAI server to answer: replies and faults.

Plain dataclasses, so a script reads like the conversation it stands for:
``FakeReply(text="hi")``, ``FakeReply(tool_calls=[FakeToolCall("search", {"q": "x"})])``,
``RateLimitFault(retry_after=0.01)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import anyio


@dataclass(frozen=True)
class FakeToolCall:
    """One function call in a scripted reply. ``arguments`` may be a mapping (sent as JSON)
    or the raw text to send, which may deliberately be broken JSON."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments))


@dataclass(frozen=True)
class FakeUsage:
    """Token counts to report instead of the server's own estimate."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class FakeReply:
    """One assistant reply. ``finish_reason`` defaults to what the real API would send:
    ``tool_calls`` when there are calls, else ``stop``. ``reasoning`` is the model's thinking;
    it is sent in ``reasoning_content`` (as DeepSeek and vLLM do) unless one of the server's
    quirks writes it elsewhere (see ``Quirk``)."""

    text: str | None = None
    tool_calls: Sequence[FakeToolCall] = field(default_factory=tuple)
    refusal: str | None = None
    finish_reason: str | None = None
    usage: FakeUsage | None = None
    reasoning: str | None = None

    @property
    def effective_finish_reason(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


class Fault:
    """Base of the failures the server can act out instead of replying."""


@dataclass(frozen=True)
class RateLimitFault(Fault):
    """HTTP 429 with a ``Retry-After`` header (seconds; keep it small in tests)."""

    retry_after: float | None = 0.01
    message: str = "Rate limit reached for requests. Please try again shortly."


@dataclass(frozen=True)
class ServerErrorFault(Fault):
    """An HTTP 5xx error (500 by default; 502, 503...), with ``Retry-After`` when given
    (a small one keeps the client's retries fast in tests)."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    retry_after: float | None = None


@dataclass(frozen=True)
class AuthFault(Fault):
    """HTTP 401 (or 403) as for a wrong API key."""

    status: int = 401
    message: str = "Incorrect API key provided. You can find your API key in your account."


@dataclass(frozen=True)
class BadRequestFault(Fault):
    """An HTTP 4xx rejection of the request (400 by default; 404 for an unknown model...)."""

    message: str = "Invalid request."
    status: int = 400
    param: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class ProviderErrorFault(Fault):
    """An error in a provider's own shape: ``body`` (a JSON value, or text sent as
    ``text/plain``) with HTTP ``status``, e.g. vLLM's ``{"object": "error", ...}``,
    FastAPI's ``{"detail": ...}`` or a bare ``"Internal Server Error"``."""

    status: int
    body: Any


@dataclass(frozen=True)
class SlowFault(Fault):
    """Wait ``delay`` seconds before sending ``reply`` - past a short client timeout."""

    delay: float
    reply: FakeReply | str = "a reply that arrives too late"


@dataclass(frozen=True)
class TrickleFault(Fault):
    """Send ``reply`` (a JSON body or a stream, as asked) one byte at a time, ``byte_delay``
    seconds apart: each read arrives well within a timeout, the whole body does not."""

    byte_delay: float = 0.01
    reply: FakeReply | str = "a reply that trickles in byte by byte"


@dataclass
class FloodFault(Fault):
    """A reply that never ends, ``total_bytes`` long, sent as fast as the client reads it:
    ``shape`` ``"chunks"`` is a stream of ordinary chunks, ``"line"`` one SSE line that never
    ends, ``"json"`` a JSON body that never ends. ``sent`` counts the bytes the client took
    before it hung up."""

    total_bytes: int = 50 << 20
    shape: Literal["chunks", "line", "json"] = "chunks"
    sent: int = field(default=0, compare=False)


@dataclass(frozen=True)
class MalformedBodyFault(Fault):
    """HTTP 200 whose body (or, for a stream, whose first event) is not valid JSON."""

    body: str = '{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess'


@dataclass(frozen=True)
class CutStreamFault(Fault):
    """Send ``after_chunks`` chunks of ``reply``, then drop the connection - or, with
    ``graceful``, end the response properly but without the rest (no finish, no ``[DONE]``).
    A non-streaming request gets half of its body before the connection drops."""

    after_chunks: int = 2
    reply: FakeReply | str = "this reply is cut off before it is finished"
    graceful: bool = False


@dataclass(frozen=True)
class PausedStreamFault(Fault):
    """Send ``after_chunks`` chunks of ``reply`` (a stream request only; a plain request
    gets nothing before the pause), set ``paused``, wait for ``resume`` to be set, then send
    the rest: a test sees the reply half written, for as long as it likes, and goes on
    when it says so. Make a fresh fault (its two events) for each use."""

    resume: anyio.Event
    after_chunks: int = 2
    reply: FakeReply | str = "this reply stops half-way until the test lets it go on"
    paused: anyio.Event = field(default_factory=anyio.Event)


#: One scripted answer: a reply, a bare text reply, or a fault.
ScriptItem: TypeAlias = FakeReply | str | Fault


def as_reply(item: FakeReply | str) -> FakeReply:
    return FakeReply(text=item) if isinstance(item, str) else item
