"""What went wrong in an ``InvokeAgent`` call, as one of relay's typed, one-line errors.

The service reports a failure either as an HTTP error (botocore's ``ClientError``, with the
status) or as an exception message inside the event stream (``EventStreamError``, with the
exception's event type, e.g. ``throttlingException``, and no status); both carry the same
codes, which are matched without regard to case. A stream that breaks off is a urllib3 or
botocore connection error. Messages keep the service's words on one line; none contains a
credential (botocore never puts one in an error).
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from agent_relay.bus import one_line

from .._errors import (
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConnectionError,
    ModelError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)

_PROVIDER_MESSAGE_CHARS = 200

#: (error class, what happened, what to do), by the service's error code in lower case.
_BY_CODE: dict[str, tuple[type[ModelError], str, str]] = {
    "throttlingexception": (
        ModelRateLimitError,
        "Bedrock throttled the request",
        "retry later, or ask AWS for a higher quota",
    ),
    "servicequotaexceededexception": (
        ModelRateLimitError,
        "Bedrock's service quota is exceeded",
        "retry later, or ask AWS for a higher quota",
    ),
    "accessdeniedexception": (
        ModelAuthenticationError,
        "Bedrock denied access",
        "check the credentials and that they allow bedrock:InvokeAgent on the agent alias",
    ),
    "unrecognizedclientexception": (
        ModelAuthenticationError,
        "Bedrock did not recognise the credentials",
        "check the AWS access key",
    ),
    "resourcenotfoundexception": (
        ModelNotFoundError,
        "Bedrock found no such agent or alias",
        "check the agent id, the alias id and the region",
    ),
    "validationexception": (
        ModelBadRequestError,
        "Bedrock rejected the request as invalid",
        "fix the request (ids, input text, session state)",
    ),
    "conflictexception": (
        ModelBadRequestError,
        "Bedrock reported a conflict",
        "wait for the session's other invocation to end, then retry",
    ),
    "dependencyfailedexception": (
        ModelServerError,
        "a resource the Bedrock agent depends on failed",
        "check the agent's action groups, knowledge bases and model access",
    ),
    "badgatewayexception": (ModelServerError, "Bedrock reported a bad gateway", "retry later"),
    "internalserverexception": (ModelServerError, "Bedrock failed internally", "retry later"),
    "modelnotreadyexception": (
        ModelServerError,
        "the Bedrock agent's model is not ready",
        "retry later",
    ),
}

_BY_STATUS: list[tuple[range, tuple[type[ModelError], str, str]]] = [
    (range(429, 430), _BY_CODE["throttlingexception"]),
    (range(401, 402), _BY_CODE["unrecognizedclientexception"]),
    (range(403, 404), _BY_CODE["accessdeniedexception"]),
    (range(404, 405), _BY_CODE["resourcenotfoundexception"]),
    (range(409, 410), _BY_CODE["conflictexception"]),
    (range(400, 500), _BY_CODE["validationexception"]),
    (range(500, 600), _BY_CODE["internalserverexception"]),
]

_RETRYABLE = (ModelRateLimitError, ModelServerError)


def bedrock_error(exc: BaseException) -> ModelError:
    """The ``ModelError`` for what ``invoke_agent`` raised (a botocore, urllib3 or OS error);
    the detail goes to the debug log."""
    import botocore.exceptions as aws

    logger.debug("InvokeAgent failed: {!r}", exc)
    if isinstance(exc, aws.ClientError):
        return _client_error(exc.response)
    if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
        return ModelAuthenticationError(
            f"no usable AWS credentials ({one_line(exc)}); configure them for the client "
            "(environment, profile or role)"
        )
    if isinstance(exc, aws.ConnectTimeoutError | aws.ReadTimeoutError | TimeoutError):
        return ModelTimeoutError(
            "Bedrock did not answer within the client's timeout; retry later, or raise the "
            "client's read_timeout",
            retryable=True,
        )
    if isinstance(exc, aws.EndpointConnectionError):
        return ModelConnectionError(
            f"could not connect to Bedrock: {one_line(exc)}; check the region and the network",
            retryable=True,
        )
    return ModelServerError(
        f"the connection to Bedrock broke mid-stream ({type(exc).__name__}: "
        f"{one_line(exc, _PROVIDER_MESSAGE_CHARS)}); retry later",
        retryable=True,
    )


def _client_error(response: dict[str, Any]) -> ModelError:
    error = response.get("Error", {})
    code = str(error.get("Code") or "")
    said = one_line(str(error.get("Message") or ""), _PROVIDER_MESSAGE_CHARS)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    kind = _BY_CODE.get(code.lower())
    if kind is None and isinstance(status, int):
        kind = next((k for statuses, k in _BY_STATUS if status in statuses), None)
    error_class, what, advice = kind or (ModelError, "Bedrock reported an error", "retry later")
    where = ", ".join(str(part) for part in (f"HTTP {status}" if status else None, code) if part)
    message = f"{what} ({where})" if where else what
    message += f": {said}; {advice}" if said else f"; {advice}"
    return error_class(
        message,
        status=status if isinstance(status, int) else None,
        code=code or None,
        provider_message=said or None,
        retryable=issubclass(error_class, _RETRYABLE),
    )
