"""What went wrong in one attempt of a model call, in relay's typed, one-line errors.

Every failure is classified once, here: which ``ModelError`` it is, whether another attempt
could help, and how long the endpoint asked to wait (``Retry-After``). Messages name the
endpoint's host, keep the provider's own words (redacted, on one line) and say what to do;
none contains a credential. A fault of the endpoint (an error status, a body that is no chat
completion) is reported as the endpoint's; a fault in relay is never caught here, so it
surfaces as relay's own bug rather than being blamed on the endpoint.
"""

from __future__ import annotations

import email.utils
import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import openai
from loguru import logger

from agent_relay.bus import one_line

from .._errors import (
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConnectionError,
    ModelError,
    ModelNotFoundError,
    ModelQuotaError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)
from ._openai_clients import PLACEHOLDER_API_KEY, endpoint_host
from ._provider_errors import ProviderError, ProviderReplyError, provider_error
from ._reply_reader import ReplyCutError, ReplyTooLargeError, UnreadableReplyError

_SHORT_MESSAGE_CHARS = 200
#: Shorter "keys" are placeholders or test values; redacting them would garble messages.
_MIN_SECRET_CHARS = 8
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
#: Provider codes that another attempt cannot fix, whatever the status says (OpenAI sends
#: ``insufficient_quota`` with 429, which plain retry logic would repeat).
_QUOTA_CODES = frozenset(
    {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "quota_exceeded"}
)
_ACCOUNT_CODES = frozenset(
    {"invalid_api_key", "account_deactivated", "access_terminated", "unsupported_country"}
)
_UNKNOWN_MODEL_CODES = frozenset({"model_not_found", "model_not_available"})
#: The longest ``Retry-After`` relay honours; a longer one falls back to its own backoff.
MAX_RETRY_AFTER_S = 60.0
_MAX_CAUSE_DEPTH = 8


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and anything that follows ``Bearer``, replaced by ``***``.

    Providers quote a rejected key masked but for its last characters (``sk-ab****6789``);
    those are taken out too, since with a key's prefix they narrow it down."""
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, "***")
            text = re.sub(r"[^\s'\"`]*\*{3,}" + re.escape(secret[-4:]), "***", text)
    return _BEARER.sub(r"\1***", text)


@dataclass(frozen=True)
class ErrorContext:
    """What an error message may mention about the call that failed."""

    host: str
    timeout: float
    max_retries: int
    # Kept out of the repr: a logged traceback that shows this object must not show them.
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Failure:
    """One failed attempt: the error to raise if no attempt is left, whether another attempt
    could succeed, and the wait in seconds the endpoint asked for (``None``: it named none)."""

    error: ModelError
    retryable: bool
    retry_after_s: float | None = None


def _total_wait(ctx: ErrorContext) -> str:
    """How long relay waits for a hanging endpoint in all, when it tries more than once."""
    if ctx.max_retries < 1:
        return ""
    tries = ctx.max_retries + 1
    return f"; relay waits up to {tries} × {ctx.timeout:g} s in all, one timeout per try"


def classify(exc: BaseException, ctx: ErrorContext, *, streaming: bool = False) -> Failure:
    """The ``Failure`` for what one attempt raised. Exceptions that are not about the
    endpoint (relay's own bugs, cancellation) are not passed here: the caller lets them out."""
    _log_detail(exc, ctx)
    where = f"the model endpoint at {ctx.host}"
    if isinstance(exc, ModelError):
        return Failure(exc, retryable=exc.retryable)
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return Failure(
            ModelTimeoutError(
                f"{where} did not answer within {ctx.timeout:g}s (from connecting to the last "
                f"byte){_total_wait(ctx)}; raise the request timeout or check that the server "
                "is not overloaded",
                retryable=True,
            ),
            retryable=True,
        )
    if isinstance(exc, ReplyTooLargeError):
        # Not retried: the same request would most likely bring the same endless reply.
        return Failure(
            ModelServerError(
                f"the reply from {ctx.host} passed the {_size(exc.cap)} cap for one reply; "
                "relay stopped reading it. The endpoint may be sending an endless stream; if "
                "replies this large are expected, raise max_reply_bytes",
                retryable=False,
            ),
            retryable=False,
        )
    if isinstance(exc, ReplyCutError):
        return Failure(
            ModelServerError(
                f"the stream from {ctx.host} ended before the reply was complete"
                if streaming
                else f"the connection to {where} broke before the reply was complete",
                retryable=True,
            ),
            retryable=True,
        )
    if isinstance(exc, openai.APIConnectionError) and not streaming and _never_connected(exc):
        return Failure(
            ModelConnectionError(
                f"could not connect to {where}; check that the server is running and that "
                "the base URL is right",
                retryable=True,
            ),
            retryable=True,
        )
    if isinstance(exc, openai.APIConnectionError):
        message = (
            f"the stream from {ctx.host} broke before the reply was complete"
            if streaming
            else f"the connection to {where} failed; check that the server is running and "
            "that the base URL is right"
        )
        return Failure(ModelServerError(message, retryable=True), retryable=True)
    if isinstance(exc, openai.APIStatusError):
        found = provider_error(exc.body) or ProviderError(
            one_line(str(exc.message), _SHORT_MESSAGE_CHARS)
        )
        return _provider_failure(
            found.with_status(exc.status_code), ctx, retry_after_s=_retry_after(exc.response)
        )
    if isinstance(exc, ProviderReplyError):
        return _provider_failure(exc.error, ctx)
    if isinstance(exc, UnreadableReplyError):
        # The endpoint sent a body that is not a chat completion (or not JSON at all). Often
        # one garbled reply of a working endpoint, so it is retried like a cut stream; a
        # wrong base URL fails every try, and the message then points at it.
        why = one_line(redact(str(exc), ctx.secrets), 120)
        return Failure(
            ModelServerError(
                f"{where} sent a reply that is not valid Chat Completions JSON ({why}); check "
                "that the base URL points at an OpenAI-compatible /v1 endpoint",
                retryable=True,
            ),
            retryable=True,
        )
    if isinstance(exc, openai.APIError):  # an error the SDK read from a reply, no status
        found = provider_error(exc.body) or ProviderError(
            one_line(str(exc.message), _SHORT_MESSAGE_CHARS)
        )
        return _provider_failure(found, ctx)
    detail = one_line(redact(str(exc), ctx.secrets), _SHORT_MESSAGE_CHARS)
    return Failure(ModelError(f"the call to {where} failed: {detail}"), retryable=False)


def _size(n: int) -> str:
    """``n`` bytes for a person: ``8 MiB``, ``1.5 KiB``, ``300 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} bytes"


def _never_connected(exc: BaseException) -> bool:
    """Whether the call failed to connect at all: the connection was refused or the host name
    did not resolve (the SDK wraps the socket's error a few causes deep)."""
    seen: BaseException | None = exc
    for _ in range(_MAX_CAUSE_DEPTH):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError | socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _provider_failure(
    found: ProviderError, ctx: ErrorContext, *, retry_after_s: float | None = None
) -> Failure:
    """The failure for an error the provider reported, by its status and its own code."""
    where = f"the model endpoint at {ctx.host}"
    words = one_line(redact(found.message, ctx.secrets), _SHORT_MESSAGE_CHARS)
    status = found.status
    what = ", ".join(p for p in (f"HTTP {status}" if status else "", found.code or "") if p)
    what = f" ({what})" if what else ""
    kind = (found.code or "").lower()
    cls: type[ModelError]
    if kind in _QUOTA_CODES or status == 402:  # 402 Payment Required: OpenRouter, others
        cls, retryable = ModelQuotaError, False
        message = (
            f"{where} says the account has no quota left{what}; add credit or use another "
            f"key - retrying cannot help. It said: {words}"
        )
    elif status in (401, 403) or kind in _ACCOUNT_CODES:
        cls, retryable = ModelAuthenticationError, False
        message = (
            f"{where} refused the credentials{what}; check the API key (OPENAI_API_KEY or "
            f"the key given to relay) and that it may use this model. It said: {words}"
        )
    elif status == 404 or kind in _UNKNOWN_MODEL_CODES:
        cls, retryable = ModelNotFoundError, False
        message = (
            f"{where} does not know this model or path{what}; check the model name and the "
            f"base URL. It said: {words}"
        )
    elif status == 429 or "rate_limit" in kind or "rate_limit" in (found.type or ""):
        cls, retryable = ModelRateLimitError, True
        message = (
            f"{where} is rate limiting{what}; wait a moment, or lower the concurrency. "
            f"It said: {words}"
        )
    elif status in (408, 409) or (status is not None and status >= 500):
        cls, retryable = ModelServerError, True
        message = f"{where} failed{what}; try again later. It said: {words}"
    elif status is not None or found.type == "invalid_request_error":
        cls, retryable = ModelBadRequestError, False
        message = f"{where} rejected the request{what}: {words}"
    else:  # an error with no status and no code we know, reported inside a reply
        cls, retryable = ModelServerError, True
        message = f"{where} reported an error{what}: {words}"
    error = cls(
        message,
        status=status,
        code=found.code,
        provider_message=words,
        retryable=retryable,
    )
    return Failure(error, retryable=retryable, retry_after_s=retry_after_s if retryable else None)


def _retry_after(response: object) -> float | None:
    """Seconds the endpoint asked to wait (``retry-after-ms``, ``retry-after`` as seconds or
    as an HTTP date), or ``None`` when it asked for none or for longer than relay waits."""
    headers = getattr(response, "headers", None)
    if not isinstance(headers, Mapping):
        return None
    seconds: float | None = None
    try:
        if "retry-after-ms" in headers:
            seconds = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            raw = str(headers["retry-after"])
            try:
                seconds = float(raw)
            except ValueError:
                when = email.utils.parsedate_to_datetime(raw)
                seconds = when.timestamp() - time.time()
    except (ValueError, TypeError, OverflowError):
        return None
    if seconds is None or not 0 <= seconds <= MAX_RETRY_AFTER_S:
        return None
    return seconds


def gave_up(failure: Failure, attempts: int, elapsed_s: float) -> ModelError:
    """The error to raise once no attempt is left: ``failure``'s, saying how many attempts
    were made over ``elapsed_s`` seconds when there was more than one."""
    error = failure.error
    error.attempts = attempts
    if attempts > 1:
        error.args = (f"{error} (gave up after {attempts} attempts in {elapsed_s:.0f} s)",)
    return error


def error_context(client: openai.AsyncOpenAI, *, timeout: float, max_retries: int) -> ErrorContext:
    """What error messages about calls through ``client`` may say: its host, the timeout
    and retries, and its key as a secret to redact (unless it is relay's placeholder)."""
    key = client.api_key
    secrets = (key,) if key and key != PLACEHOLDER_API_KEY else ()
    return ErrorContext(
        host=endpoint_host(client), timeout=timeout, max_retries=max_retries, secrets=secrets
    )


def translate(exc: Exception, ctx: ErrorContext, *, streaming: bool = False) -> ModelError:
    """The relay error for ``exc``, raised while calling (or streaming from) the endpoint."""
    return classify(exc, ctx, streaming=streaming).error


def _log_detail(exc: BaseException, ctx: ErrorContext) -> None:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    cause = exc.__cause__
    detail = f"{type(exc).__name__}: {exc}"
    if cause is not None:
        detail += f" (caused by {type(cause).__name__}: {cause})"
    # No traceback: its frames' variables could hold the client and so the key.
    logger.debug(
        "model call to {host} failed: {detail}; status={status} body={body}",
        host=ctx.host,
        detail=redact(detail, ctx.secrets),
        status=status,
        body=redact(repr(body), ctx.secrets),
    )
