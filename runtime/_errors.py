"""The typed error hierarchy a user of relay sees, drawn once for the whole project.

Every error carries a one-line ``str()`` that says what went wrong and, where it helps, what
to do about it. The full detail (status codes, response bodies) goes to the log, never into
the message, so a message is safe to print, publish as an event or store in a result.
``except RelayError`` catches every error relay raises on purpose, from any layer. The root
lives in the bus, the lowest layer (``agent_relay.bus.RelayError``); this module re-exports
that same class. Second bases (``ValueError``, ``TimeoutError``...) are shown in brackets.

::

    RelayError                                    agent_relay.bus (re-exported here)
    ├── BusError                                  bus/_errors.py
    │   ├── BusClosedError
    │   ├── InvalidTopicError          [ValueError]
    │   ├── BusConfigError             [ValueError]
    │   ├── RequestTimeoutError        [TimeoutError]
    │   ├── NoRespondersError
    │   └── EventDataError             [TypeError]
    │
    ├── ModelError                                runtime/_errors.py (this module)
    │   ├── ModelAuthenticationError
    │   ├── ModelRateLimitError
    │   ├── ModelQuotaError
    │   ├── ModelBadRequestError
    │   │   └── ModelNotFoundError
    │   ├── ModelTimeoutError
    │   ├── ModelServerError
    │   │   └── ModelConnectionError
    │   └── ScriptExhaustedError                  runtime/testing/_scripted_model.py
    ├── ModelConfigError
    ├── PlanError                                 runtime/plans/_plan.py
    ├── PlanningError                             runtime/plans/_planner.py (the task's error)
    ├── RuntimeUsageError                         runtime/_runtime_agents.py
    ├── InputError                 [ValueError]   runtime/_inputs.py
    ├── AgentRegistryError                        runtime/engine/_registry.py
    ├── AssistantError                            runtime/assistants/_errors.py
    │   ├── NotFoundError              [LookupError]
    │   │   ├── AgentNotFoundError
    │   │   ├── ThreadNotFoundError
    │   │   └── RunNotFoundError
    │   ├── RunStateError
    │   ├── ToolOutputsMismatchError   [ValueError]
    │   ├── InvalidRequestError        [ValueError]
    │   ├── RunTimeoutError            [TimeoutError]
    │   ├── TooManyRunsError
    │   ├── ManagerClosedError
    │   └── BackendNotAvailableError
    ├── ConfigError                               runtime/cli/_config.py
    ├── BatchInputError                           runtime/cli/_batch_input.py
    ├── BatchOutputError                          runtime/cli/_batch_output.py
    ├── OutboundRefused                           runtime/outbound/_guard.py
    ├── StoreError                                runtime/daemon/_store_errors.py
    │   ├── IdempotencyConflict
    │   └── BadCursor                  [ValueError]
    │
    ├── WorkspaceError                            agents/_workspace.py
    ├── DownloadError                             agents/_download.py
    ├── AgentStepError                            agents/_base.py
    ├── ImageGenerationError                      agents/image/_backend.py
    └── SandboxError                              agents/sandbox/_types.py

Not part of the tree, on purpose: the command line's ``UsageError`` (bad arguments, turned
into exit code 2 before anything runs) and errors that never leave their room
(``HostFormError``, a ``ValueError`` that the outbound guard turns into ``OutboundRefused``;
``SetupError`` inside the sandbox's child).
Where a caller's mistake is plainly a Python one, relay raises Python's own ``TypeError`` or
``ValueError`` (say, ``Runtime(model=...)`` given something that is not a ``ChatModel``).
"""

from __future__ import annotations

from agent_relay.bus import RelayError

__all__ = [
    "ModelAuthenticationError",
    "ModelBadRequestError",
    "ModelConfigError",
    "ModelConnectionError",
    "ModelError",
    "ModelNotFoundError",
    "ModelQuotaError",
    "ModelRateLimitError",
    "ModelServerError",
    "ModelTimeoutError",
    "RelayError",
]


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


class ModelNotFoundError(ModelBadRequestError):
    """The endpoint does not know the model (HTTP 404, ``model_not_found``) or the path (a
    base URL that is not an OpenAI-compatible ``/v1``): the setup must change, not the task."""


class ModelTimeoutError(ModelError):
    """The endpoint did not answer within the configured timeout."""


class ModelServerError(ModelError):
    """The endpoint failed (HTTP 5xx), could not be reached, or sent something unreadable."""


class ModelConnectionError(ModelServerError):
    """No connection to the endpoint could be made: it refused it, or its host name did not
    resolve. Nothing the request says can change that; the base URL or the server must."""


class ModelConfigError(RelayError):
    """A model could not be configured from what was given (bad model string, no key...)."""
