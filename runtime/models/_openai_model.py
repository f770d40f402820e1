"""``OpenAIChatModel``: the ``ChatModel`` for any OpenAI-compatible Chat Completions endpoint.

It drives ``openai.AsyncOpenAI`` (or ``AsyncAzureOpenAI``) to send requests, and reads the
replies itself, through the one lenient reader (``_reply_reader``), so every provider's
dialect reads the same. Around each call it keeps:

- one deadline per attempt, from connecting to the last byte (a stream kept alive by SSE
  comments, or a body trickling in, cannot hold a call past its timeout);
- its own retries (the SDK's are off), so that errors no retry can fix (no quota, a bad
  key, an unknown model) are not repeated, errors reported inside a body are retried like
  error statuses, each attempt is reported to whoever watches the call, and the final error
  says how many attempts were made;
- a memory of the optional request features the endpoint refused (``stream_options``,
  structured output, ``parallel_tool_calls``, ``stream`` itself...): refused once, they are
  left out of every later request to it, and the refused request is sent again without them.
  An endpoint that answers a stream request with one JSON body counts as refusing ``stream``.

``complete_streamed`` is ``complete`` over a stream, writing the text to a ``TextSink`` as it
arrives; it folds the same deltas into the same ``ChatResponse``. Unlike ``stream``, it may
retry a stream cut mid-reply (the sink is told to start over), since nothing it returned yet
depends on the broken attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import anyio
import openai
from loguru import logger

from .._errors import ModelConfigError, ModelError
from . import _openai_wire as wire
from ._call_progress import ModelCallProgress, backoff_s, report_progress
from ._chat_model import ChatModel, StreamAccumulator
from ._chat_types import (
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ModelSettings,
    ResponseFormat,
    ToolDefinition,
)
from ._openai_clients import azure_client, endpoint_host, openai_client
from ._openai_errors import ErrorContext, Failure, classify, error_context, gave_up
from ._provider_errors import ProviderReplyError
from ._reply_body import read_reply
from ._reply_reader import ReplyCutError, ReplyTooLargeError, UnreadableReplyError

if TYPE_CHECKING:
    from ._text_watch import TextSink

MaxTokensParam = Literal["max_completion_tokens", "max_tokens"]

#: Optional request features, and the words by which an endpoint's refusal names each.
OPTIONAL_FEATURES: dict[str, tuple[str, ...]] = {
    "stream_options": ("stream_options", "include_usage"),
    "response_format": ("response_format", "json_schema", "structured output"),
    "parallel_tool_calls": ("parallel_tool_calls",),
    "provider_state": ("reasoning_content", "reasoning_details", "thought_signature"),
    # Last: a refusal of ``stream_options`` names "stream" too, and is that feature's.
    "stream": ("stream",),
}
#: What one attempt may raise that is about the endpoint, not about relay.
_ENDPOINT_FAULTS = (
    openai.APIError,
    TimeoutError,
    UnreadableReplyError,
    ReplyCutError,
    ReplyTooLargeError,
    ProviderReplyError,
    ModelError,
)


#: The default cap of one reply's body, in bytes: 8 MiB, far above any plan or answer.
DEFAULT_MAX_REPLY_BYTES = 8 << 20


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
    ``max_completion_tokens``, some compatible servers know only ``max_tokens`` (a refusal
    that names one switches to the other). ``supports_structured_output=False`` sends the
    schema in the prompt instead of ``response_format``.

    ``max_reply_bytes`` caps one reply's body (default :data:`DEFAULT_MAX_REPLY_BYTES`,
    8 MiB, far above any plan or answer): past it the call fails with a ``ModelServerError``
    that is not retried, instead of buffering an endless reply.

    Raises:
        ModelConfigError: (constructor) the model name is empty, a limit (``max_reply_bytes``
            included) is out of range, the
            base URL is not http(s), or no key is found for an endpoint that needs one.
        ModelError: (``complete``, ``stream``) a subclass with the provider's own words:
            ``ModelTimeoutError`` when an attempt outlives ``timeout``,
            ``ModelRateLimitError``, ``ModelQuotaError``, ``ModelAuthenticationError``,
            ``ModelBadRequestError`` or ``ModelServerError``.
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
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        if not model.strip():
            raise ModelConfigError("the model name is empty; name a model, e.g. gpt-4.1-mini")
        if timeout <= 0 or max_retries < 0 or max_concurrency < 1 or max_reply_bytes < 1:
            raise ModelConfigError(
                "timeout must be positive, max_retries at least 0, and max_concurrency and "
                "max_reply_bytes at least 1"
            )
        self.max_reply_bytes = max_reply_bytes
        self._owns_client = client is None
        if client is None:
            client = openai_client(
                base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
            )
        self._client = client
        # relay retries itself: the SDK's own retries would hide attempts from it.
        self._sender = client.with_options(max_retries=0)
        self.max_retries = max_retries
        self.refused_features: set[str] = set()
        self.model = model
        self.name = name or f"openai:{model}"
        self.supports_structured_output = supports_structured_output
        self.stream_usage = stream_usage
        self.max_tokens_param: MaxTokensParam = max_tokens_param
        self.timeout = timeout
        self.limiter = limiter if limiter is not None else anyio.CapacityLimiter(max_concurrency)
        self.host = endpoint_host(client)
        self._errors = error_context(client, timeout=timeout, max_retries=max_retries)

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
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
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
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            limiter=limiter,
            client=client,
            supports_structured_output=supports_structured_output,
            stream_usage=stream_usage,
            max_tokens_param=max_tokens_param,
            name=name or f"azure:{deployment}",
            max_reply_bytes=max_reply_bytes,
        )
        model._owns_client = True
        return model

    def __repr__(self) -> str:
        return f"OpenAIChatModel({self.model!r}, host={self.host!r}, name={self.name!r})"

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client the model calls through: its ``base_url`` and ``api_key`` are the
        endpoint's (an ``AsyncAzureOpenAI`` for Azure). The model owns it: do not close it."""
        return self._client

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
        reply = StreamAccumulator()
        model_name: list[str] = []
        async with self.limiter:
            call = self._call(messages, tools, response_format, settings, False, model_name)
            async for delta in call:
                reply.add(delta)
        return reply.response(model=model_name[0] if model_name else "")

    async def complete_streamed(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
        text: TextSink,
    ) -> ChatResponse:
        reply = StreamAccumulator()
        model_name: list[str] = []

        def restart() -> None:
            nonlocal reply
            reply = StreamAccumulator()
            model_name.clear()
            text.restart()

        async with self.limiter:
            call = self._call(
                messages, tools, response_format, settings, True, model_name, restart=restart
            )
            async for delta in call:
                reply.add(delta)
                if delta.content:
                    text.write(delta.content)
        return reply.response(model=model_name[0] if model_name else "")

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ChatDelta]:
        # Borrow the slot for a token rather than for the current task: an abandoned stream
        # is closed by the event loop in another task, and must still give the slot back.
        token = object()
        await self.limiter.acquire_on_behalf_of(token)
        try:
            model_name: list[str] = []
            named = False
            call = self._call(messages, tools, response_format, settings, True, model_name)
            async for delta in call:
                if model_name and not named:  # the reader of the stream learns who answered
                    named = True
                    delta = delta.model_copy(update={"model": model_name[0]})
                yield delta
        finally:
            self.limiter.release_on_behalf_of(token)

    # -- machinery ------------------------------------------------------------------------

    async def _call(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        response_format: ResponseFormat | None,
        settings: ModelSettings | None,
        stream: bool,
        model_name: list[str],
        *,
        restart: Callable[[], None] | None = None,
    ) -> AsyncIterator[ChatDelta]:
        """The deltas of one call, with its attempts, deadlines and refused features. A call
        that already yielded deltas is retried only when ``restart`` is given: it is called
        before the new attempt, whose deltas start the reply over."""
        settings = settings or ModelSettings()
        errors = self._error_context(settings)
        attempts = self.max_retries + 1
        attempt = 1
        started = anyio.current_time()
        while True:
            request = self._request(messages, tools, response_format, settings, stream)
            yielded = False
            streamed: list[bool] = []
            try:
                reply = read_reply(
                    self._sender,
                    request,
                    errors.timeout,
                    model_name,
                    self.max_reply_bytes,
                    streamed=streamed,
                )
                async for delta in reply:
                    yielded = True
                    yield delta
                if request["stream"] and streamed == [False]:
                    self._refuse("stream", "answered a stream request with one JSON body")
                return
            except _ENDPOINT_FAULTS as exc:
                failure = classify(exc, errors, streaming=yielded)
            if not yielded and self._drop_refused_feature(failure, request):
                continue
            if (yielded and restart is None) or not failure.retryable or attempt >= attempts:
                raise gave_up(failure, attempt, anyio.current_time() - started)
            if yielded and restart is not None:
                restart()
            wait = (
                failure.retry_after_s if failure.retry_after_s is not None else backoff_s(attempt)
            )
            attempt += 1
            await report_progress(
                ModelCallProgress(
                    model=self.name,
                    host=self.host,
                    attempt=attempt,
                    attempts=attempts,
                    elapsed_s=anyio.current_time() - started,
                    wait_s=wait,
                    reason=str(failure.error),
                    timeout_s=errors.timeout,
                )
            )
            logger.info(
                "model call to {host}: attempt {attempt} of {attempts} in {wait:.1f} s ({why})",
                host=self.host,
                attempt=attempt,
                attempts=attempts,
                wait=wait,
                why=failure.error,
            )
            await anyio.sleep(wait)

    def _drop_refused_feature(self, failure: Failure, request: dict[str, Any]) -> bool:
        """Whether ``failure`` is the endpoint refusing an optional feature ``request`` used;
        if so, leave that feature out of this and every later request to the endpoint."""
        error = failure.error
        if error.status not in (400, 422) or not error.provider_message:
            return False
        said = error.provider_message.lower()
        if self._switch_max_tokens_param(said, request):
            return True
        for feature, words in OPTIONAL_FEATURES.items():
            if feature in request["_features"] and any(word in said for word in words):
                self._refuse(feature, f"refused {feature}")
                return True
        return False

    def _refuse(self, feature: str, how: str) -> None:
        self.refused_features.add(feature)
        logger.warning(
            "the model endpoint at {host} {how}; relay sends its requests without {feature} "
            "from now on",
            host=self.host,
            how=how,
            feature=feature,
        )

    def _switch_max_tokens_param(self, said: str, request: dict[str, Any]) -> bool:
        """OpenAI's reasoning models refuse ``max_tokens``, some servers know nothing else:
        a refusal that quotes the name sent switches to the other name."""
        sent = self.max_tokens_param
        other: MaxTokensParam = (
            "max_tokens" if sent == "max_completion_tokens" else ("max_completion_tokens")
        )
        if sent not in request or (f"'{sent}'" not in said and f"`{sent}`" not in said):
            return False
        logger.warning(
            "the model endpoint at {host} refused {sent}; relay sends {other} from now on",
            host=self.host,
            sent=sent,
            other=other,
        )
        self.max_tokens_param = other
        return True

    def _error_context(self, settings: ModelSettings) -> ErrorContext:
        if settings.timeout is None:
            return self._errors
        return ErrorContext(
            host=self._errors.host,
            timeout=settings.timeout,
            max_retries=self._errors.max_retries,
            secrets=self._errors.secrets,
        )

    def _request(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        response_format: ResponseFormat | None,
        settings: ModelSettings,
        stream: bool,
    ) -> dict[str, Any]:
        """The keyword arguments of one request. ``_features`` (not sent) lists the optional
        features it uses, so that a refusal can be matched to one of them."""
        refused = self.refused_features
        structured = (
            response_format is not None
            and self.supports_structured_output
            and "response_format" not in refused
        )
        if response_format is not None and not structured:
            messages = wire.with_schema_instruction(messages, response_format)
        echo_state = "provider_state" not in refused
        stream = stream and "stream" not in refused
        request: dict[str, Any] = {
            "model": self.model,
            "messages": wire.to_wire_messages(messages, provider_state=echo_state),
            "stream": stream,
        }
        features = {"stream"} if stream else set()
        if echo_state and any(wire.carries_state(m) for m in messages):
            features.add("provider_state")
        if tools:
            request["tools"] = wire.to_wire_tools(tools)
            if settings.tool_choice is not None:
                request["tool_choice"] = settings.tool_choice
            if settings.parallel_tool_calls is not None and "parallel_tool_calls" not in refused:
                request["parallel_tool_calls"] = settings.parallel_tool_calls
                features.add("parallel_tool_calls")
        if structured and response_format is not None:
            request["response_format"] = wire.to_wire_response_format(response_format)
            features.add("response_format")
        for name in ("temperature", "top_p", "seed", "stop"):
            value = getattr(settings, name)
            if value is not None:
                request[name] = value
        if settings.max_tokens is not None:
            request[self.max_tokens_param] = settings.max_tokens
        if stream and self.stream_usage and "stream_options" not in refused:
            request["stream_options"] = {"include_usage": True}
            features.add("stream_options")
        if settings.timeout is not None:
            request["timeout"] = settings.timeout
        logger.debug(
            "model call to {host}: model={model} messages={count} tools={tools} stream={stream}",
            host=self.host,
            model=self.model,
            count=len(messages),
            tools=len(tools),
            stream=stream,
        )
        request["_features"] = features
        return request
