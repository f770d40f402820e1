"""``OpenAIChatModel``: the ``ChatModel`` for any OpenAI-compatible Chat Completions endpoint.

It drives ``openai.AsyncOpenAI`` (or ``AsyncAzureOpenAI``). Retries with backoff, honouring
``Retry-After``, are the SDK's own; this class adds a per-endpoint concurrency limit, explicit
timeouts, the mapping to relay's types and relay's typed one-line errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Literal, TypeVar

import anyio
import openai
from loguru import logger
from openai import AsyncStream, Omit, not_given, omit
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from .._errors import ModelConfigError
from . import _openai_wire as wire
from ._chat_model import ChatModel
from ._chat_types import (
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ModelSettings,
    ResponseFormat,
    ToolDefinition,
    Usage,
)
from ._openai_clients import PLACEHOLDER_API_KEY, azure_client, endpoint_host, openai_client
from ._openai_errors import ErrorContext, stream_cut, translate, unreadable

_T = TypeVar("_T")

MaxTokensParam = Literal["max_completion_tokens", "max_tokens"]


def _given(value: _T | None) -> _T | Omit:
    return omit if value is None else value


class OpenAIChatModel(ChatModel):
    """A chat model behind an OpenAI-compatible endpoint: OpenAI, Azure OpenAI, vLLM, Ollama,
    llama.cpp server, LM Studio, OpenRouter...

    The key and base URL come from the arguments or OPENAI_API_KEY / OPENAI_BASE_URL; a local
    endpoint needs only its base URL. ``max_retries`` goes to the SDK, whose retries back off
    and honour ``Retry-After``. At most ``max_concurrency`` calls run at once (or as many as
    a ``limiter`` shared with other models allows). ``timeout`` (seconds) bounds each HTTP
    phase of a call; ``ModelSettings.timeout`` overrides it per call. Pass ``client`` to use
    an SDK client you configured yourself (the model then does not close it).

    ``max_tokens_param`` names the field ``ModelSettings.max_tokens`` is sent as: OpenAI wants
    ``max_completion_tokens``, some compatible servers know only ``max_tokens``.

    Raises:
        ModelConfigError: (constructor) the model name is empty, a limit is out of range, the
            base URL is not http(s), or no key is found for an endpoint that needs one.
        ModelError: (``complete``, ``stream``) as :class:`ChatModel` says.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_concurrency: int = 16,
        limiter: anyio.CapacityLimiter | None = None,
        client: openai.AsyncOpenAI | None = None,
        supports_structured_output: bool = True,
        stream_usage: bool = True,
        max_tokens_param: MaxTokensParam = "max_completion_tokens",
        name: str | None = None,
    ) -> None:
        if not model.strip():
            raise ModelConfigError("the model name is empty; name a model, e.g. gpt-4.1-mini")
        if timeout <= 0 or max_retries < 0 or max_concurrency < 1:
            raise ModelConfigError(
                "timeout must be positive, max_retries at least 0 and max_concurrency at least 1"
            )
        self._owns_client = client is None
        if client is None:
            client = openai_client(
                base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
            )
        self._client = client
        self.model = model
        self.name = name or f"openai:{model}"
        self.supports_structured_output = supports_structured_output
        self.stream_usage = stream_usage
        self.max_tokens_param: MaxTokensParam = max_tokens_param
        self.timeout = timeout
        self.limiter = limiter if limiter is not None else anyio.CapacityLimiter(max_concurrency)
        self.host = endpoint_host(client)
        key = client.api_key
        secrets = (key,) if key and key != PLACEHOLDER_API_KEY else ()
        self._errors = ErrorContext(
            host=self.host, timeout=timeout, max_retries=client.max_retries, secrets=secrets
        )

    @classmethod
    def azure(
        cls,
        deployment: str,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        api_version: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_concurrency: int = 16,
        limiter: anyio.CapacityLimiter | None = None,
        supports_structured_output: bool = True,
        stream_usage: bool = True,
        max_tokens_param: MaxTokensParam = "max_completion_tokens",
        name: str | None = None,
    ) -> OpenAIChatModel:
        """A model for one Azure OpenAI deployment; endpoint, key and API version default to
        AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION.

        Raises:
            ModelConfigError: no endpoint or key is given or found, or the
                client cannot be set up.
        """
        client = azure_client(
            deployment,
            endpoint=endpoint,
            api_key=api_key,
            api_version=api_version,
            timeout=timeout,
            max_retries=max_retries,
        )
        model = cls(
            deployment,
            timeout=timeout,
            max_concurrency=max_concurrency,
            limiter=limiter,
            client=client,
            supports_structured_output=supports_structured_output,
            stream_usage=stream_usage,
            max_tokens_param=max_tokens_param,
            name=name or f"azure:{deployment}",
        )
        model._owns_client = True
        return model

    def __repr__(self) -> str:
        return f"OpenAIChatModel({self.model!r}, host={self.host!r}, name={self.name!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    # -- the two calls --------------------------------------------------------------------

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> ChatResponse:
        settings = settings or ModelSettings()
        errors = self._error_context(settings)
        async with self.limiter:
            try:
                reply = await self._send(messages, tools, response_format, settings, stream=False)
            except Exception as exc:
                raise translate(exc, errors) from None
        if not isinstance(reply, ChatCompletion):
            raise unreadable(errors)
        try:
            return wire.from_completion(reply)
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise translate(exc, errors) from None

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ChatDelta]:
        settings = settings or ModelSettings()
        errors = self._error_context(settings)
        # Borrow the slot for a token rather than for the current task: an abandoned stream
        # is closed by the event loop in another task, and must still give the slot back.
        token = object()
        await self.limiter.acquire_on_behalf_of(token)
        try:
            try:
                reply = await self._send(messages, tools, response_format, settings, stream=True)
            except Exception as exc:
                raise translate(exc, errors) from None
            if not isinstance(reply, AsyncStream):
                raise unreadable(errors)
            try:
                async for delta in self._deltas(reply, errors):
                    yield delta
            finally:
                with anyio.CancelScope(shield=True):
                    await reply.close()
        finally:
            self.limiter.release_on_behalf_of(token)

    # -- machinery ------------------------------------------------------------------------

    def _error_context(self, settings: ModelSettings) -> ErrorContext:
        if settings.timeout is None:
            return self._errors
        return ErrorContext(
            host=self._errors.host,
            timeout=settings.timeout,
            max_retries=self._errors.max_retries,
            secrets=self._errors.secrets,
        )

    async def _send(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        response_format: ResponseFormat | None,
        settings: ModelSettings,
        *,
        stream: bool,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        structured = response_format is not None and self.supports_structured_output
        if response_format is not None and not structured:
            messages = wire.with_schema_instruction(messages, response_format)
        has_tools = bool(tools)
        max_tokens = settings.max_tokens
        logger.debug(
            "model call to {host}: model={model} messages={count} tools={tools} stream={stream}",
            host=self.host,
            model=self.model,
            count=len(messages),
            tools=len(tools),
            stream=stream,
        )
        return await self._client.chat.completions.create(
            model=self.model,
            messages=wire.to_wire_messages(messages),
            tools=wire.to_wire_tools(tools) if has_tools else omit,
            tool_choice=_given(settings.tool_choice) if has_tools else omit,
            parallel_tool_calls=_given(settings.parallel_tool_calls) if has_tools else omit,
            response_format=(
                wire.to_wire_response_format(response_format)
                if structured and response_format is not None
                else omit
            ),
            temperature=_given(settings.temperature),
            top_p=_given(settings.top_p),
            seed=_given(settings.seed),
            stop=_given(settings.stop),
            max_completion_tokens=(
                _given(max_tokens) if self.max_tokens_param == "max_completion_tokens" else omit
            ),
            max_tokens=_given(max_tokens) if self.max_tokens_param == "max_tokens" else omit,
            stream=stream,
            stream_options=({"include_usage": True} if stream and self.stream_usage else omit),
            timeout=not_given if settings.timeout is None else settings.timeout,
        )

    async def _deltas(
        self, chunks: AsyncStream[ChatCompletionChunk], errors: ErrorContext
    ) -> AsyncIterator[ChatDelta]:
        """Relay the stream's fragments, then one last delta with finish reason and usage."""
        raw_finish: str | None = None
        usage: Usage | None = None
        has_calls = has_refusal = False
        iterator = chunks.__aiter__()
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except Exception as exc:
                if raw_finish is not None and isinstance(exc, openai.APIConnectionError):
                    # The reply was complete; only the trailing usage chunk was lost.
                    logger.debug("the stream from {host} broke after its finish", host=self.host)
                    break
                raise translate(exc, errors, streaming=True) from None
            try:
                if chunk.usage is not None:
                    usage = wire.to_usage(chunk.usage)
                fragment, finish = wire.from_chunk(chunk)
            except (ValueError, LookupError, TypeError, AttributeError) as exc:
                raise translate(exc, errors, streaming=True) from None
            raw_finish = finish or raw_finish
            if fragment is not None:
                has_calls = has_calls or bool(fragment.tool_calls)
                has_refusal = has_refusal or bool(fragment.refusal)
                yield fragment
        if raw_finish is None:
            raise stream_cut(errors)
        reason = wire.finish_reason(raw_finish, has_calls=has_calls, has_refusal=has_refusal)
        yield ChatDelta(finish_reason=reason, usage=usage)
