"""The typed error hierarchy a user of relay sees.

Every error carries a one-line ``str()`` that says what went wrong and, where it helps, what
to do about it. The full detail (status codes, response bodies) goes to the log, never into
the message, so a message is safe to print, publish as an event or store in a result.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base class of every error relay raises on purpose."""


class ModelError(RelayError):
    """A call to a model endpoint failed."""


class ModelAuthenticationError(ModelError):
    """The endpoint refused the credentials (HTTP 401/403)."""


class ModelRateLimitError(ModelError):
    """The endpoint kept answering 429 after the client's retries were spent."""


class ModelBadRequestError(ModelError):
    """The endpoint rejected the request as malformed (HTTP 400/404/422)."""


class ModelTimeoutError(ModelError):
    """The endpoint did not answer within the configured timeout."""


class ModelServerError(ModelError):
    """The endpoint failed (HTTP 5xx), could not be reached, or sent something unreadable."""


class ModelConfigError(RelayError):
    """A model could not be configured from what was given (bad model string, no key...)."""
