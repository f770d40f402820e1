"""The client's plumbing: one aiohttp session, the bearer header, and the one translation of
what can go wrong on the wire into ``RelayClientError`` with a line a person can act on.

The token lives only in the session's default headers: it is never part of a message, a
``repr`` or a log line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ValidationError
from yarl import URL

from agent_relay.bus import one_line

from ._api import ErrorBody
from ._client_errors import RelayClientError, RelayConnectionError

M = TypeVar("M", bound=BaseModel)

_BODY_PREVIEW_CHARS = 200


def parse_base_url(base_url: str) -> URL:
    """The daemon's address as given, without a trailing slash.

    Raises:
        RelayClientError: (``invalid_request``) not an http(s) URL with a host.
    """
    url = URL(base_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise RelayClientError(
            f"{one_line(base_url, 80)!r} is not a server address like http://127.0.0.1:8080",
            code="invalid_request",
        )
    if url.user or url.password:
        raise RelayClientError(
            "put no credentials in the server address; give the token on its own",
            code="invalid_request",
        )
    return url.with_path(url.path.rstrip("/")).with_query(None).with_fragment(None)


def segment(value: str) -> str:
    """``value`` as one URL path segment (a run id could hold anything a caller typed)."""
    return quote(value, safe="")


class Transport:
    """A session to one daemon. ``origin`` (``http://host:port``) names it in messages."""

    def __init__(self, base_url: URL, token: str | None, timeout_s: float) -> None:
        self.base_url = base_url
        self.origin = str(base_url.origin())
        self.timeout_s = timeout_s
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            headers = {"Accept": "application/json"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._session = aiohttp.ClientSession(headers=headers, raise_for_status=False)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def timeout(self, read_s: float | None = None) -> aiohttp.ClientTimeout:
        # No total: a stream or a long wait may take as long as it takes; what must not
        # happen is a silent connection, so connecting and each read are bounded.
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout_s, sock_read=read_s or self.timeout_s
        )

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        read_timeout_s: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The reply to ``method path`` once its status is a success (2xx).

        Raises:
            RelayClientError: a 4xx/5xx reply, with the server's ``code`` and line.
            RelayConnectionError: no connection, or it dropped before the reply's head.
        """
        if self._session is None:
            raise RuntimeError("use the client inside `async with RelayClient(...)`")
        url = URL(str(self.base_url) + path, encoded=True)
        if params:
            url = url.with_query(params)
        data = None
        send_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            send_headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                headers=send_headers,
                timeout=self.timeout(read_timeout_s),
                allow_redirects=False,
            ) as response:
                if response.status >= 300:
                    raise await self.error_of(response)
                yield response
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise self.connection_error(exc) from None

    def connection_error(self, exc: BaseException) -> RelayConnectionError:
        if isinstance(exc, TimeoutError):
            why = f"no reply within {self.timeout_s:g}s"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            why = one_line(exc.strerror or str(exc.os_error), 120)
        else:
            why = one_line(str(exc) or type(exc).__name__, 120)
        return RelayConnectionError(
            f"cannot reach the relay server at {self.origin}: {why} "
            "(is `relay serve` running there? set RELAY_SERVER or --server)"
        )

    async def error_of(self, response: aiohttp.ClientResponse) -> RelayClientError:
        """The error a non-success reply stands for, from its ``ErrorBody`` when it has one."""
        status = response.status
        try:
            raw = await response.content.read(64 * 1024)
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        try:
            detail = ErrorBody.model_validate_json(raw).error
        except ValidationError:
            preview = one_line(raw.decode("utf-8", "replace"), _BODY_PREVIEW_CHARS)
            what = f"HTTP {status} {response.reason or ''}".strip()
            return RelayClientError(
                f"the server at {self.origin} answered {what}"
                + (f": {preview}" if preview else "")
                + " (is it a relay server?)",
                status=status,
                code="bad_reply" if status < 400 else f"http_{status}",
            )
        message = one_line(detail.message, 300)
        error = RelayClientError(message, status=status, code=detail.code)
        if status == 401:
            error.args = (f"{message} (set RELAY_TOKEN or --token)",)
        return error

    async def model(self, response: aiohttp.ClientResponse, model: type[M]) -> M:
        """The reply's body as ``model``. Raises RelayClientError (``bad_reply``)."""
        try:
            raw = await response.read()
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise RelayClientError(
                f"the server at {self.origin} sent a reply that is not a {model.__name__}: "
                f"{one_line(str(exc.errors()[0]['msg']), 120)}",
                status=response.status,
                code="bad_reply",
            ) from None
