"""Reading the event stream of one background response to its end.

The reader keeps the ``sequence_number`` of every event it took. When the stream drops (a
connection error, a read timeout, a stream that ends before the response does) it resumes
with ``responses.retrieve(id, stream=True, starting_after=<last>)``, so no event is lost, and
it skips any event it already took, so none is repeated. It gives up after
``max_reconnects`` attempts in a row that brought no new event, pausing between them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import openai
from loguru import logger
from openai import AsyncStream
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputMessage,
    ResponseRefusalDeltaEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
)

from .._errors import ModelError, ModelServerError
from ..models._call_progress import backoff_s
from ..models._chat_types import Usage
from ..models._openai_errors import ErrorContext, classify
from ..models._provider_errors import ProviderError, ProviderReplyError
from ..models._text_watch import TextSink

_TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled"})
#: The events that end a response, each carrying the whole response.
_ENDING_EVENTS = (ResponseCompletedEvent, ResponseIncompleteEvent, ResponseFailedEvent)


@dataclass
class OutputItem:
    """One output item as its events wrote it: an assistant ``message`` (``text`` or
    ``refusal``), a ``function_call`` (``call_id``, ``name``, ``arguments``), or another
    kind the backend does not act on."""

    type: str
    text: str = ""
    refusal: str = ""
    call_id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class ResponseOutcome:
    """How a response ended: ``status`` is ``completed``, ``incomplete``, ``failed`` or
    ``cancelled``; ``error`` is set when it failed, ``incomplete_reason`` when it was cut."""

    response_id: str
    status: str
    items: list[OutputItem] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    error: ModelError | None = None
    incomplete_reason: str | None = None


class ResponseReader:
    """Follows one response's events through ``client`` until it ends: ``await_name``, then
    ``follow`` (or ``follow`` alone).

    ``on_created`` is awaited with the response id as soon as the first event names it.
    ``text``, when given, is written the answer's text as its deltas come (a resumed stream
    repeats no event, so nothing is written twice). ``resumed_after`` lists the
    ``starting_after`` of every resumed stream, in order.

    Raises (from ``await_name`` and ``follow``):
        ModelError: the response could not be created, the stream broke before it named
            the response, or it could not be resumed (``max_reconnects`` attempts in a row
            without a new event, or an error no retry can fix).
    """

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        errors: ErrorContext,
        *,
        max_reconnects: int,
        on_created: Callable[[str], Awaitable[None]],
        text: TextSink | None = None,
    ) -> None:
        self._text = text
        self._client = client
        self._errors = errors
        self._max_reconnects = max_reconnects
        self._on_created = on_created
        self.response_id: str | None = None
        self.last_sequence: int | None = None
        self.resumed_after: list[int] = []
        self._items: dict[int, OutputItem] = {}

    async def await_name(self, stream: AsyncStream[ResponseStreamEvent]) -> ResponseOutcome | None:
        """Read ``stream`` until its first event names the response (so that the response
        can be cancelled on the provider's side); the outcome if the response ended there
        too. ``follow`` reads the rest of the same stream. A stream that breaks or ends
        first is left to ``follow``, which says so."""
        while self.response_id is None:
            try:
                event = await stream.__anext__()
            except StopAsyncIteration:
                raise self._unnamed("the stream ended before the response did") from None
            except openai.APIConnectionError as exc:  # a timeout is one too
                error = classify(exc, self._errors, streaming=True).error
                raise self._unnamed(str(error)) from None
            except openai.APIError as exc:  # an error event the SDK raised
                raise classify(exc, self._errors, streaming=True).error from None
            outcome = await self._take(event)
            if outcome is not None:
                return outcome
        return None

    async def follow(self, stream: AsyncStream[ResponseStreamEvent]) -> ResponseOutcome:
        current: AsyncStream[ResponseStreamEvent] | None = stream
        failures = 0
        reason = ""
        while True:
            seen = self.last_sequence
            ended = False
            if current is not None:
                try:
                    async with current:
                        async for event in current:
                            outcome = await self._take(event)
                            if outcome is not None:
                                return outcome
                    ended = True
                    reason = "the stream ended before the response did"
                except openai.APIConnectionError as exc:  # a timeout is one too
                    reason = str(classify(exc, self._errors, streaming=True).error)
                except openai.APIError as exc:  # an error event the SDK raised
                    raise classify(exc, self._errors, streaming=True).error from None
            if self.response_id is None:
                raise self._unnamed(reason)
            failures = 1 if self.last_sequence != seen else failures + 1
            if failures > self._max_reconnects:
                raise ModelServerError(
                    f"lost the stream of response {self.response_id} and could not resume it "
                    f"({self._max_reconnects} attempts brought nothing new): {reason}",
                    retryable=False,
                )
            await anyio.sleep(backoff_s(failures))
            current = None
            try:
                current, settled = await self._resume(ended)
            except openai.APIError as exc:
                failure = classify(exc, self._errors)
                if not failure.retryable:
                    raise failure.error from None
                reason = str(failure.error)
                continue
            if settled is not None:
                return settled

    def _unnamed(self, reason: str) -> ModelServerError:
        return ModelServerError(
            f"the stream from {self._errors.host} broke before it named the response "
            f"({reason}); the response may still run on the provider's side",
            retryable=False,
        )

    async def _resume(
        self, ended: bool
    ) -> tuple[AsyncStream[ResponseStreamEvent] | None, ResponseOutcome | None]:
        """A stream of the events after the last one taken; or, when the response has ended
        (a stream that ended cleanly may mean it was cancelled), its outcome."""
        assert self.response_id is not None
        assert self.last_sequence is not None
        if ended:
            response = await self._client.responses.retrieve(self.response_id)
            if response.status in _TERMINAL:
                return None, self._outcome(response, from_events=False)
        logger.debug(
            "resuming the stream of response {} after event {}",
            self.response_id,
            self.last_sequence,
        )
        self.resumed_after.append(self.last_sequence)
        stream = await self._client.responses.retrieve(
            self.response_id, stream=True, starting_after=self.last_sequence
        )
        return stream, None

    async def _take(self, event: ResponseStreamEvent) -> ResponseOutcome | None:
        """Take one event (skipping one already taken); the outcome when it ends the
        response."""
        if self.last_sequence is not None and event.sequence_number <= self.last_sequence:
            return None
        self.last_sequence = event.sequence_number
        if isinstance(event, ResponseCreatedEvent) and self.response_id is None:
            self.response_id = event.response.id
            await self._on_created(event.response.id)
        elif isinstance(event, ResponseOutputItemAddedEvent):
            item = event.item
            added = OutputItem(type=item.type)
            if isinstance(item, ResponseFunctionToolCall):
                added.call_id, added.name = item.call_id, item.name
            self._items[event.output_index] = added
        elif isinstance(event, ResponseTextDeltaEvent):
            self._item(event.output_index).text += event.delta
            if self._text is not None and event.delta:
                self._text.write(event.delta)
        elif isinstance(event, ResponseRefusalDeltaEvent):
            self._item(event.output_index).refusal += event.delta
        elif isinstance(event, ResponseFunctionCallArgumentsDeltaEvent):
            self._item(event.output_index).arguments += event.delta
        elif isinstance(event, ResponseFunctionCallArgumentsDoneEvent):
            self._item(event.output_index).arguments = event.arguments
        elif isinstance(event, _ENDING_EVENTS):
            return self._outcome(event.response, from_events=True)
        elif isinstance(event, ResponseErrorEvent):
            found = ProviderError(event.message, code=event.code, param=event.param)
            error = classify(ProviderReplyError(found), self._errors).error
            return ResponseOutcome(self.response_id or "", "failed", error=error)
        return None

    def _item(self, index: int) -> OutputItem:
        return self._items.setdefault(index, OutputItem(type="message"))

    def _outcome(self, response: Response, *, from_events: bool) -> ResponseOutcome:
        """The outcome of an ended ``response``; its output as the events wrote it, or (when
        it was read whole) as the response holds it."""
        items = (
            [self._items[i] for i in sorted(self._items)]
            if from_events
            else [_output_item(o) for o in response.output]
        )
        usage = Usage()
        if response.usage is not None:
            usage = Usage(
                prompt_tokens=response.usage.input_tokens,
                completion_tokens=response.usage.output_tokens,
                total_tokens=response.usage.total_tokens,
                calls=1,
            )
        outcome = ResponseOutcome(response.id, str(response.status), items, usage)
        if response.error is not None:
            found = ProviderError(response.error.message, code=str(response.error.code))
            outcome.error = classify(ProviderReplyError(found), self._errors).error
        if response.incomplete_details is not None:
            outcome.incomplete_reason = response.incomplete_details.reason
        return outcome


def _output_item(item: object) -> OutputItem:
    if isinstance(item, ResponseOutputMessage):
        text = "".join(getattr(p, "text", "") for p in item.content if p.type == "output_text")
        refusal = "".join(getattr(p, "refusal", "") for p in item.content if p.type == "refusal")
        return OutputItem(type="message", text=text, refusal=refusal)
    if isinstance(item, ResponseFunctionToolCall):
        return OutputItem(
            type="function_call", call_id=item.call_id, name=item.name, arguments=item.arguments
        )
    return OutputItem(type=str(getattr(item, "type", "unknown")))
