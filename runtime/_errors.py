"""The typed error hierarchy a user of relay sees.

Every error carries a one-line ``str()`` that says what went wrong and, where it helps, what
to do about it. The full detail (status codes, response bodies) goes to the log, never into
the message, so a message is safe to print, publish as an event or store in a result.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base class of every error relay raises on purpose."""


class ModelError(RelayError):
    """A call to a model endpoint failed.

    Besides the one-line message: ``status`` (the HTTP status, or the one the provider named
    inside a body or stream), ``code`` and ``provider_message`` (the provider's own words),
    each ``None`` where the endpoint gave none; ``attempts``, how many times relay sent the
    call; ``retryable``, whether trying again later could help.
    """

    def __init__(
        self,
        message: str = "the model call failed",
        *,
        status: int | None = None,
        code: str | None = None,
        provider_message: str | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.provider_message = provider_message
        self.attempts = attempts
        self.retryable = retryable


class ModelAuthenticationError(ModelError):
    """The endpoint refused the credentials (HTTP 401/403)."""


class ModelRateLimitError(ModelError):
    """The endpoint kept answering 429 after the client's retries were spent."""


class ModelQuotaError(ModelError):
    """The account behind the key has no quota or credit left (``insufficient_quota``,
    billing errors): retrying cannot help, so relay does not retry."""


class ModelBadRequestError(ModelError):
    """The endpoint rejected the request as malformed (HTTP 400/404/422)."""


class ModelTimeoutError(ModelError):
    """The endpoint did not answer within the configured timeout."""


class ModelServerError(ModelError):
    """The endpoint failed (HTTP 5xx), could not be reached, or sent something unreadable."""


class ModelConfigError(RelayError):
    """A model could not be configured from what was given (bad model string, no key...)."""
