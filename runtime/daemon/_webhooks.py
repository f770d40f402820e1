"""Signed webhook deliveries: one POST per attempt, through the outbound guard.

When a run ends the daemon POSTs its JSON to the run's webhook URL. The receiver can tell
the POST came from this daemon and is not a replay, Stripe-style::

    Relay-Signature: t=1767225600,v1=5257a869e7ec...

``t`` is the Unix time (seconds) of the attempt and ``v1`` the lowercase hex HMAC-SHA256,
keyed with the shared secret, of ``f"{t}."`` (ASCII) followed by the exact body bytes. A
receiver recomputes it over the raw body it received (before any JSON parsing), compares in
constant time, and rejects a ``t`` more than a few minutes from its own clock: a captured
request replayed later fails, because ``t`` cannot be changed without the secret. More than
one ``v1`` may appear (say, while the secret is rotated); any one matching suffices.
``verify`` does all of that.

``WebhookSender.deliver`` makes exactly one attempt and reports what happened; the daemon
stores each attempt and asks ``next_delay`` when to try again. Webhook URLs pass the same
address checks as downloads, at connection time, and redirects are never followed (a
receiver that moved gets the failure, not a hop to somewhere the check never saw).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Literal

import aiohttp
import anyio
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_relay.bus import one_line, printable

from ..outbound import (
    AllowList,
    OutboundRefused,
    failure_reason,
    guarded_session,
    show_url,
    vet_url,
)

SIGNATURE_HEADER = "Relay-Signature"
#: What a POST is about: ``run.finished`` (the body is the run) or ``approval.requested``
#: (the body is an ``ApprovalAnnouncement``).
EVENT_HEADER = "Relay-Event"

#: The kinds of outcome, as the ``outcome`` label of ``relay_webhook_deliveries_total``.
DeliveryKind = Literal["delivered", "http_error", "timeout", "failed", "refused"]


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body``, keyed by ``secret``."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    """The value of the ``Relay-Signature`` header: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (a ``Relay-Signature`` value) signs ``body`` with ``secret`` at a
    time within ``tolerance_s`` seconds of ``now`` (Unix seconds; the clock when None).

    Never raises: a malformed header, an unknown scheme only, a wrong signature or a stale
    (or future) timestamp all give False.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value.isascii():
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, c.encode()) for c in candidates)


class WebhookRetry(BaseModel):
    """When to try a failed delivery again: ``first_delay_s`` doubling per attempt up to
    ``max_delay_s``, less up to ``jitter`` of it at random (so that many deliveries that
    failed together do not retry in step), and no more than ``max_attempts`` attempts.

    Raises (on construction): pydantic ``ValidationError`` for out-of-range values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=8, ge=1, le=100)
    first_delay_s: float = Field(default=5.0, gt=0)
    max_delay_s: float = Field(default=600.0, gt=0)
    jitter: float = Field(default=0.25, ge=0, lt=1)

    @model_validator(mode="after")
    def _cap_not_below_first(self) -> WebhookRetry:
        if self.max_delay_s < self.first_delay_s:
            raise ValueError("max_delay_s must not be less than first_delay_s")
        return self

    def next_delay(self, attempt: int) -> float | None:
        """Seconds to wait after attempt number ``attempt`` (1 for the first) failed before
        the next, or None when that was the last one allowed.

        Raises:
            ValueError: ``attempt`` is less than 1.
        """
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        if attempt >= self.max_attempts:
            return None
        # min() before the power would overflow: 2.0 ** 1100 raises OverflowError.
        doublings = min(attempt - 1, 64)
        base = min(self.first_delay_s * 2.0**doublings, self.max_delay_s)
        return base * (1 - self.jitter * random.random())


class WebhookConfig(BaseModel):
    """How one delivery attempt is made.

    Raises (on construction): pydantic ``ValidationError`` for out-of-range values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The whole attempt (connect, send, reply headers and the read reply) in seconds.
    timeout_s: float = Field(default=10.0, gt=0)
    #: At most this much of a reply's body is read; the rest is dropped with the connection.
    max_reply_bytes: int = Field(default=4096, ge=0, le=1024 * 1024)
    #: Concurrent connections the sender keeps open at most.
    max_connections: int = Field(default=10, ge=1)
    retry: WebhookRetry = Field(default_factory=WebhookRetry)


class DeliveryOutcome(BaseModel):
    """What one delivery attempt came to. Safe to store and show: no secret, no query string
    or credentials of the URL."""

    model_config = ConfigDict(frozen=True)

    #: ``delivered``: a 2xx reply; ``http_error``: any other reply (redirects included, as
    #: they are not followed); ``timeout``: no full reply within ``timeout_s``; ``failed``:
    #: the connection failed; ``refused``: the URL may not be called (never retryable).
    kind: DeliveryKind
    #: The HTTP status of the reply, when there was one.
    status: int | None = None
    #: One line saying what went wrong; None when delivered.
    error: str | None = None
    #: Whether trying again later could help.
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.kind == "delivered"


def _user_agent() -> str:
    try:
        return f"relay-webhook/{version('agent-relay')}"
    except PackageNotFoundError:  # a source tree that is not installed
        return "relay-webhook/unknown"


class WebhookSender:
    """Delivers signed webhook POSTs through one guarded connection pool.

    ``secret`` keys the signatures; it goes into nothing but the HMAC. ``allow`` permits
    specific hosts that the address checks would refuse (an intranet receiver; loopback in
    tests). Use as an async context manager, which owns the connections::

        async with WebhookSender(secret, allow=AllowList.parse(hosts)) as sender:
            outcome = await sender.deliver(url, body)
            delay = sender.next_delay(attempt)

    Raises:
        ValueError: (constructor) ``secret`` is empty.
        RuntimeError: ``deliver`` outside the ``async with`` block.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        allow: AllowList | None = None,
        config: WebhookConfig | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret must not be empty")
        self._secret = secret
        self._allow = allow or AllowList()
        self.config = config or WebhookConfig()
        self.user_agent = _user_agent()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookSender:
        self._session = guarded_session(
            self._allow,
            headers={"User-Agent": self.user_agent},
            limit=self.config.max_connections,
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def next_delay(self, attempt: int) -> float | None:
        """``config.retry.next_delay``: seconds before the attempt after ``attempt``, or None."""
        return self.config.retry.next_delay(attempt)

    async def deliver(
        self, url: str, body: bytes, *, event: str = "run.finished"
    ) -> DeliveryOutcome:
        """POST ``body`` (JSON bytes) to ``url`` once, signed, with ``event`` in the
        ``Relay-Event`` header, and say what came of it.

        Failures are outcomes, not exceptions: a refused URL, a timeout, a failed connection
        and a non-2xx reply each give an outcome that says so in one line.

        Raises:
            RuntimeError: called outside the sender's ``async with`` block.
        """
        if self._session is None:
            raise RuntimeError("WebhookSender.deliver needs `async with WebhookSender(...)`")
        try:
            target = vet_url(url, self._allow, verb="used as webhooks")
        except OutboundRefused as error:
            return _report("", DeliveryOutcome(kind="refused", error=str(error)))
        where = show_url(target)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(self._secret, timestamp, body),
            EVENT_HEADER: event,
        }
        with anyio.move_on_after(self.config.timeout_s):
            try:
                async with self._session.post(
                    target, data=body, headers=headers, allow_redirects=False
                ) as response:
                    reply = await _read_at_most(response, self.config.max_reply_bytes)
                    return _report(where, self._judge(where, response, reply))
            except OutboundRefused as error:  # from the resolver, at connection time
                return _report(where, DeliveryOutcome(kind="refused", error=str(error)))
            except aiohttp.ClientError as error:
                outcome = DeliveryOutcome(
                    kind="failed", error=f"webhook {where}: {failure_reason(error)}", retryable=True
                )
                return _report(where, outcome)
        timeout = f"webhook {where} gave no reply within {self.config.timeout_s:g} s"
        return _report(where, DeliveryOutcome(kind="timeout", error=timeout, retryable=True))

    def _judge(self, where: str, response: aiohttp.ClientResponse, reply: bytes) -> DeliveryOutcome:
        status = response.status
        if 200 <= status < 300:
            return DeliveryOutcome(kind="delivered", status=status)
        said = f"webhook {where} answered HTTP {status} {response.reason or ''}".rstrip()
        excerpt = self._excerpt(reply)
        if excerpt:
            said = f"{said}: {excerpt}"
        return DeliveryOutcome(kind="http_error", status=status, error=said, retryable=True)

    def _excerpt(self, reply: bytes) -> str:
        text = printable(reply.decode("utf-8", errors="replace"))
        # A receiver knows the secret too; should it ever echo it, it stops here.
        secret = self._secret.decode("utf-8", errors="ignore")
        if secret.strip():
            text = text.replace(secret, "[secret]")
        return one_line(text, 200)


def _report(where: str, outcome: DeliveryOutcome) -> DeliveryOutcome:
    if outcome.ok:
        logger.info("webhook {} delivered (HTTP {})", where, outcome.status)
    else:
        logger.warning("webhook delivery failed: {}", outcome.error)
    return outcome


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to ``limit`` bytes of the reply's body; a longer body is left unread."""
    data = b""
    while len(data) < limit:
        chunk = await response.content.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data
