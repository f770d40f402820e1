"""Errors in the provider's own words, found wherever the provider put them.

An error can arrive as an HTTP error status with a JSON body (OpenAI's ``{"error": {...}}``,
vLLM's and Mistral's ``{"object": "error", ...}``, FastAPI's ``{"detail": ...}``, a bare
string), as HTTP 200 with an ``error`` object instead of choices (OpenRouter), or inside a
stream, as an ``error`` event or a chunk with an ``error`` field, with a status of its own.
``provider_error`` reads all of them into one ``ProviderError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._reply_text import as_text, clean_text


@dataclass(frozen=True)
class ProviderError:
    """An error as the provider reported it. ``status`` is an HTTP status the provider gave
    (the response's, or one named inside the body or stream event); ``code`` and ``type`` are
    its own identifiers (``"insufficient_quota"``, ``"invalid_request_error"``), as text."""

    message: str
    code: str | None = None
    type: str | None = None
    param: str | None = None
    status: int | None = None

    def with_status(self, status: int) -> ProviderError:
        """The same error with the HTTP status of the response when the body named none."""
        if self.status is not None:
            return self
        return ProviderError(self.message, self.code, self.type, self.param, status)


class ProviderReplyError(Exception):
    """A reply (or a chunk of one) that carries the provider's error instead of an answer."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


def provider_error(body: Any) -> ProviderError | None:
    """The error ``body`` reports, or ``None`` when it reports none."""
    if isinstance(body, str):
        return ProviderError(clean_text(body).strip()) if body.strip() else None
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping) and error:
        return _from_object(error)
    if isinstance(error, str) and error.strip():
        return ProviderError(clean_text(error), code=_text(body.get("code")))
    if body.get("object") == "error" or ("choices" not in body and _has_message(body)):
        return _from_object(body)
    return None


def _has_message(body: Mapping[str, Any]) -> bool:
    return any(body.get(name) for name in ("message", "detail", "msg"))


def _from_object(error: Mapping[str, Any]) -> ProviderError:
    message = next(
        (_describe(error[name]) for name in ("message", "detail", "msg") if error.get(name)),
        "",
    )
    metadata = error.get("metadata")
    raw = metadata.get("raw") if isinstance(metadata, Mapping) else None
    if raw:  # OpenRouter: "Provider returned error", and the upstream's words in metadata.raw
        message = f"{message}: {_describe(raw)}" if message else _describe(raw)
    code = error.get("code")
    status = next(
        (s for s in (error.get("status_code"), error.get("status"), code) if _is_status(s)), None
    )
    return ProviderError(
        message=message or "no message",
        code=None if _is_status(code) else _text(code),
        type=_text(error.get("type")),
        param=_text(error.get("param")),
        status=int(status) if status is not None else None,
    )


def _describe(value: Any) -> str:
    """A message field as text: itself when a string, compact JSON otherwise (FastAPI's and
    pydantic's ``detail`` lists name the rejected field there)."""
    if isinstance(value, str):
        return clean_text(value)
    return clean_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return as_text(value) if isinstance(value, str) else str(value)


def _is_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599
