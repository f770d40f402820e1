"""Build the SDK clients ``OpenAIChatModel`` drives, from arguments or the standard environment
variables, and turn a missing or bad configuration into one clear ``ModelConfigError``."""

from __future__ import annotations

import os

import openai

from .._errors import ModelConfigError

#: Sent as the key to local servers that need none: the SDK insists on some key.
PLACEHOLDER_API_KEY = "relay-no-key"
#: The Azure OpenAI REST API version used when neither an argument nor OPENAI_API_VERSION
#: names one (a generally available version).
DEFAULT_AZURE_API_VERSION = "2024-10-21"
_CONNECT_TIMEOUT = 10.0


def _check_base_url(base_url: str) -> str:
    # The URL itself is not echoed: it may carry credentials (user:password@host).
    if not base_url.startswith(("http://", "https://")):
        raise ModelConfigError("the model base URL must start with http:// or https://")
    return base_url


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _timeout(seconds: float) -> openai.Timeout:
    # Connecting gets at most 10 s even when a slow model is given minutes to answer, so an
    # endpoint that is down is reported quickly.
    return openai.Timeout(seconds, connect=min(seconds, _CONNECT_TIMEOUT))


def openai_client(
    *, base_url: str | None, api_key: str | None, timeout: float, max_retries: int
) -> openai.AsyncOpenAI:
    """A client for OpenAI or any OpenAI-compatible endpoint. The key and base URL come from
    the arguments, else OPENAI_API_KEY / OPENAI_BASE_URL; a base URL alone is enough (local
    servers need no key)."""
    key = api_key or _env("OPENAI_API_KEY")
    url = base_url or _env("OPENAI_BASE_URL")
    if key is None and url is None:
        raise ModelConfigError(
            "no model endpoint configured: set OPENAI_API_KEY, "
            "or pass a base URL for an OpenAI-compatible server"
        )
    try:
        return openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_API_KEY,
            base_url=_check_base_url(url) if url else None,
            timeout=_timeout(timeout),
            max_retries=max_retries,
        )
    except (openai.OpenAIError, ValueError) as exc:
        raise ModelConfigError(f"the OpenAI client could not be set up: {exc}") from None


def azure_client(
    deployment: str,
    *,
    endpoint: str | None,
    api_key: str | None,
    api_version: str | None,
    timeout: float,
    max_retries: int,
) -> openai.AsyncAzureOpenAI:
    """A client for one Azure OpenAI deployment. Endpoint, key and API version come from the
    arguments, else AZURE_OPENAI_ENDPOINT / AZURE_OPENAI_API_KEY / OPENAI_API_VERSION."""
    endpoint = endpoint or _env("AZURE_OPENAI_ENDPOINT")
    if endpoint is None:
        raise ModelConfigError(
            "no Azure OpenAI endpoint configured: set AZURE_OPENAI_ENDPOINT or pass a base URL"
        )
    key = api_key or _env("AZURE_OPENAI_API_KEY")
    if key is None and _env("AZURE_OPENAI_AD_TOKEN") is None:
        raise ModelConfigError(
            "no Azure OpenAI credentials: set AZURE_OPENAI_API_KEY or pass an API key"
        )
    try:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=_check_base_url(endpoint),
            azure_deployment=deployment,
            api_version=api_version or _env("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION,
            api_key=key,
            timeout=_timeout(timeout),
            max_retries=max_retries,
        )
    except (openai.OpenAIError, ValueError) as exc:
        raise ModelConfigError(f"the Azure OpenAI client could not be set up: {exc}") from None


def endpoint_host(client: openai.AsyncOpenAI) -> str:
    """``host`` or ``host:port`` of the client's base URL, for messages and logs."""
    url = client.base_url
    return url.host if url.port is None else f"{url.host}:{url.port}"
