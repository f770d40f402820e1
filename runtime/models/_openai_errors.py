"""Turn what the openai SDK raises into relay's typed, one-line model errors.

Each message names the endpoint's host and what to do; none contains a credential. The full
detail (status, the endpoint's error body) goes to the debug log, with credentials redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import openai
from loguru import logger

from agent_relay.bus import one_line

from .._errors import (
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)

_SHORT_MESSAGE_CHARS = 200
#: Shorter "keys" are placeholders or test values; redacting them would garble messages.
_MIN_SECRET_CHARS = 8
#: What reading a body that is not a chat completion raises.
_UNREADABLE = (
    openai.APIResponseValidationError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
)
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and anything that follows ``Bearer``, replaced by ``***``."""
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)


@dataclass(frozen=True)
class ErrorContext:
    """What an error message may mention about the call that failed."""

    host: str
    timeout: float
    max_retries: int
    # Kept out of the repr: a logged traceback that shows this object must not show them.
    secrets: tuple[str, ...] = field(default=(), repr=False)


def _endpoint_message(exc: openai.APIError, secrets: Iterable[str]) -> str:
    """The endpoint's own short error message, redacted and on one line."""
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        message = exc.message
    return one_line(redact(message, secrets), _SHORT_MESSAGE_CHARS)


def _status_error(exc: openai.APIStatusError, ctx: ErrorContext) -> ModelError:
    status = exc.status_code
    where = f"the model endpoint at {ctx.host}"
    retries = f"after {ctx.max_retries} retries" if ctx.max_retries else "(retries are off)"
    if status in (401, 403):
        return ModelAuthenticationError(
            f"{where} refused the credentials (HTTP {status}); check the API key "
            "(OPENAI_API_KEY or the key given to relay) and that it may use this model"
        )
    if status == 429:
        return ModelRateLimitError(
            f"{where} is still rate limiting {retries} (HTTP 429); "
            "wait a moment, or lower the concurrency"
        )
    if status >= 500:
        return ModelServerError(f"{where} failed {retries} (HTTP {status}); try again later")
    detail = _endpoint_message(exc, ctx.secrets)
    hint = "; check the model name and base URL" if status == 404 else ""
    return ModelBadRequestError(f"{where} rejected the request (HTTP {status}): {detail}{hint}")


def translate(exc: Exception, ctx: ErrorContext, *, streaming: bool = False) -> ModelError:
    """The relay error for ``exc``, raised while calling (or streaming from) the endpoint."""
    _log_detail(exc, ctx)
    where = f"the model endpoint at {ctx.host}"
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(
            f"{where} did not answer within {ctx.timeout:g}s; "
            "raise the timeout or check that the server is not overloaded"
        )
    if isinstance(exc, openai.APIConnectionError):
        if streaming:
            return stream_cut(ctx)
        return ModelServerError(
            f"the connection to {where} failed; check that the server is running "
            "and that the base URL is right"
        )
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, ctx)
    if isinstance(exc, _UNREADABLE):
        return unreadable(ctx)
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        detail = _endpoint_message(exc, ctx.secrets)
        return ModelServerError(f"{where} reported an error: {detail}")
    return ModelServerError(f"the call to {where} failed: {type(exc).__name__}")


def unreadable(ctx: ErrorContext) -> ModelServerError:
    return ModelServerError(
        f"the model endpoint at {ctx.host} sent a reply that is not valid Chat Completions JSON"
    )


def stream_cut(ctx: ErrorContext) -> ModelServerError:
    return ModelServerError(f"the stream from {ctx.host} ended before the reply was complete")


def _log_detail(exc: Exception, ctx: ErrorContext) -> None:
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
