"""Webhook deliveries to a real receiver on 127.0.0.1: signed, one attempt each, refused
where the address checks say so, and every failure an outcome that says what happened."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from importlib.metadata import version

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from webhook_receiver import WebhookReceiver

from agent_relay.runtime import AllowList
from agent_relay.runtime.daemon import (
    SIGNATURE_HEADER,
    DeliveryOutcome,
    WebhookConfig,
    WebhookRetry,
    WebhookSender,
    sign,
    signature_header,
    verify,
)

pytestmark = pytest.mark.anyio

SECRET = b"whsec_0123456789abcdef"
BODY = json.dumps({"run_id": "r1", "status": "completed"}).encode()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as server:
        yield server


@pytest.fixture
async def sender(receiver: WebhookReceiver) -> AsyncIterator[WebhookSender]:
    allow = AllowList.parse([receiver.host])
    async with WebhookSender(SECRET, allow=allow, config=WebhookConfig(timeout_s=5)) as s:
        yield s


# -- signatures ---------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Computed independently for this timestamp, secret and body.
    expected = "7b310cb4f681ee4f48bf771f42b82be9205a68c6915b1b71ef8e93a17820ab0e"
    assert sign(b"whsec_test", 1767225600, b'{"run":"r1"}') == expected
    header = signature_header(b"whsec_test", 1767225600, b'{"run":"r1"}')
    assert header == f"t=1767225600,v1={expected}"


def test_verify_accepts_a_fresh_signature_and_rejects_everything_else() -> None:
    t = 1767225600
    header = signature_header(SECRET, t, BODY)
    assert verify(SECRET, header, BODY, now=t)
    assert verify(SECRET, header, BODY, now=t + 299)
    assert not verify(SECRET, header, BODY, now=t + 301)  # a replay, later
    assert not verify(SECRET, header, BODY, now=t - 301)  # from the future
    assert verify(SECRET, header, BODY, tolerance_s=3600, now=t + 3000)
    assert not verify(b"another secret", header, BODY, now=t)
    assert not verify(SECRET, header, BODY + b" ", now=t)
    # The timestamp is signed: moving it forward breaks the signature.
    moved = header.replace(f"t={t}", f"t={t + 1000}")
    assert not verify(SECRET, moved, BODY, now=t + 1000)


def test_verify_accepts_any_matching_v1_during_a_secret_rotation() -> None:
    t = 1767225600
    old = sign(b"old secret", t, BODY)
    new = sign(SECRET, t, BODY)
    assert verify(SECRET, f"t={t},v1={old},v1={new}", BODY, now=t)
    assert verify(SECRET, f" t={t} , v0=whatever, v1={new}", BODY, now=t)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "v1=abc",
        "t=1767225600",
        "t=,v1=abc",
        "t=soon,v1=abc",
        "t=-5,v1=abc",
        "t=1767225600,v1=",
        "t=1767225600,v1=ünïcödé",
        "t=١٢٣,v1=abc",  # Arabic-Indic digits are digits to str.isdigit, not to a receiver
        "t=1767225600,v2=" + "0" * 64,
    ],
)
def test_verify_rejects_malformed_headers_without_raising(header: str) -> None:
    assert verify(SECRET, header, BODY, now=1767225600) is False


@given(st.text(max_size=200))
def test_verify_never_raises(header: str) -> None:
    assert verify(SECRET, header, BODY, now=0) in (True, False)


# -- deliveries ---------------------------------------------------------------------------


async def test_a_delivery_is_signed_and_the_receiver_can_verify_it(
    sender: WebhookSender, receiver: WebhookReceiver
) -> None:
    outcome = await sender.deliver(f"{receiver.url}/ok", BODY)
    assert outcome == DeliveryOutcome(kind="delivered", status=204)
    assert outcome.ok
    [got] = receiver.received
    assert got.body == BODY
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == f"relay-webhook/{version('agent-relay')}"
    assert verify(SECRET, got.headers[SIGNATURE_HEADER], got.body)
    assert not verify(b"not the secret", got.headers[SIGNATURE_HEADER], got.body)


async def test_each_deliver_is_one_attempt(
    sender: WebhookSender, receiver: WebhookReceiver
) -> None:
    first = await sender.deliver(f"{receiver.url}/status/503", BODY)
    second = await sender.deliver(f"{receiver.url}/ok", BODY)
    assert (first.kind, second.kind) == ("http_error", "delivered")
    assert [r.path for r in receiver.received] == ["/status/503", "/ok"]


async def test_a_500_reply_is_an_outcome_that_says_so(
    sender: WebhookSender, receiver: WebhookReceiver
) -> None:
    outcome = await sender.deliver(f"{receiver.url}/status/500", BODY)
    assert outcome == DeliveryOutcome(
        kind="http_error",
        status=500,
        error=(
            f"webhook {receiver.url}/status/500 answered HTTP 500 Internal Server Error: "
            "receiver is down"
        ),
        retryable=True,
    )
    assert not outcome.ok


async def test_a_huge_reply_is_read_only_in_part(
    sender: WebhookSender, receiver: WebhookReceiver
) -> None:
    outcome = await sender.deliver(f"{receiver.url}/big", BODY)
    assert outcome.kind == "http_error" and outcome.status == 500
    assert outcome.error is not None and len(outcome.error) < 400
    assert outcome.error.endswith("x…")


async def test_a_receiver_that_does_not_answer_times_out(receiver: WebhookReceiver) -> None:
    allow = AllowList.parse([receiver.host])
    async with WebhookSender(SECRET, allow=allow, config=WebhookConfig(timeout_s=0.3)) as sender:
        outcome = await sender.deliver(f"{receiver.url}/hang", BODY)
    assert receiver.hung.is_set()
    assert outcome == DeliveryOutcome(
        kind="timeout",
        error=f"webhook {receiver.url}/hang gave no reply within 0.3 s",
        retryable=True,
    )


async def test_redirects_are_not_followed(sender: WebhookSender, receiver: WebhookReceiver) -> None:
    outcome = await sender.deliver(f"{receiver.url}/redirect?to={receiver.url}/ok", BODY)
    assert outcome.kind == "http_error" and outcome.status == 307
    assert outcome.error == (
        f"webhook {receiver.url}/redirect answered HTTP 307 Temporary Redirect"
    )
    assert [r.path.split("?")[0] for r in receiver.received] == ["/redirect"]


async def test_a_closed_port_is_a_failed_connection(receiver: WebhookReceiver) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    async with WebhookSender(SECRET, allow=AllowList.parse([f"127.0.0.1:{closed}"])) as sender:
        outcome = await sender.deliver(f"http://127.0.0.1:{closed}/hook", BODY)
    assert outcome.kind == "failed" and outcome.retryable and outcome.status is None
    assert outcome.error is not None
    assert outcome.error.startswith(f"webhook http://127.0.0.1:{closed}/hook: cannot connect")


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://10.0.0.1/hook", "refused: 10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest", "refused: 169.254.169.254 is a link-local address"),
        ("http://[::1]:8080/hook", "refused: ::1 is a loopback address"),
        ("http://0x7f000001/hook", "refused: '0x7f000001' is a non-standard way of writing"),
        ("file:///etc/passwd", "refused: file: URLs cannot be used as webhooks"),
        ("ftp://example.com/", "refused: ftp: URLs cannot be used as webhooks"),
        ("/relative", "refused: relative URLs cannot be used as webhooks"),
    ],
)
async def test_private_and_odd_targets_are_refused_without_a_request(
    sender: WebhookSender, receiver: WebhookReceiver, url: str, error: str
) -> None:
    outcome = await sender.deliver(url, BODY)
    assert outcome.kind == "refused" and not outcome.retryable and outcome.status is None
    assert outcome.error is not None and outcome.error.startswith(error)
    assert receiver.received == []


async def test_the_receivers_other_ports_and_names_stay_refused(
    sender: WebhookSender, receiver: WebhookReceiver
) -> None:
    other_port = await sender.deliver(f"http://127.0.0.1:{receiver.port + 1}/ok", BODY)
    assert other_port.error == "refused: 127.0.0.1 is a loopback address"
    # A name is judged by what it resolves to, when connecting.
    by_name = await sender.deliver(f"http://localhost:{receiver.port}/ok", BODY)
    assert by_name.kind == "refused"
    assert by_name.error is not None and "refused: localhost resolves to" in by_name.error
    assert receiver.received == []


async def test_without_an_allow_list_loopback_is_refused(receiver: WebhookReceiver) -> None:
    async with WebhookSender(SECRET) as sender:
        outcome = await sender.deliver(f"{receiver.url}/ok", BODY)
    assert outcome.kind == "refused"
    assert receiver.received == []


# -- secrets ------------------------------------------------------------------------------


async def test_secrets_never_reach_the_outcome(
    sender: WebhookSender, receiver: WebhookReceiver
) -> None:
    secret_text = SECRET.decode()
    outcomes = [
        # the receiver echoes the webhook secret in its error page
        await sender.deliver(f"{receiver.url}/echo-secret?s={secret_text}", BODY),
        # a token in the query string
        await sender.deliver(f"{receiver.url}/status/500?token=tok_s3cret", BODY),
        # credentials in the URL, valid and not
        await sender.deliver(f"http://user:pw_s3cret@{receiver.host}/ok", BODY),
        await sender.deliver("http://user:pw_s3cret@127.0.0.1:99999/x?token=tok_s3cret", BODY),
    ]
    kinds = [o.kind for o in outcomes]
    assert kinds == ["http_error", "http_error", "refused", "refused"]
    for outcome in outcomes:
        text = outcome.model_dump_json()
        assert secret_text not in text
        assert "s3cret" not in text
    assert outcomes[0].error == (
        f"webhook {receiver.url}/echo-secret answered HTTP 400 Bad Request: bad secret [secret]"
    )
    assert outcomes[3].error == "not a valid URL: 'http://127.0.0.1:99999/x'"
    # Only the two that were allowed to go out reached the receiver.
    assert len(receiver.received) == 2


async def test_the_secret_is_not_in_the_senders_repr(sender: WebhookSender) -> None:
    assert SECRET.decode() not in repr(sender) + repr(vars(sender).get("config"))


# -- misuse -------------------------------------------------------------------------------


async def test_deliver_needs_the_async_with_block() -> None:
    sender = WebhookSender(SECRET)
    with pytest.raises(RuntimeError, match="async with"):
        await sender.deliver("https://example.com/hook", BODY)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        WebhookSender(b"")


# -- when to try again --------------------------------------------------------------------


def test_delays_double_up_to_the_cap_and_stop_after_the_last_attempt() -> None:
    retry = WebhookRetry(max_attempts=6, first_delay_s=1, max_delay_s=5, jitter=0)
    assert [retry.next_delay(n) for n in range(1, 8)] == [1, 2, 4, 5, 5, None, None]


@given(st.integers(1, 200))
def test_jittered_delays_stay_within_their_bounds(attempt: int) -> None:
    retry = WebhookRetry(max_attempts=100, first_delay_s=2, max_delay_s=300, jitter=0.5)
    delay = retry.next_delay(attempt)
    if attempt >= 100:
        assert delay is None
        return
    assert delay is not None
    ceiling = min(2 * 2.0 ** (attempt - 1), 300)
    assert ceiling * 0.5 <= delay <= ceiling


def test_the_sender_uses_its_configs_retry() -> None:
    config = WebhookConfig(retry=WebhookRetry(max_attempts=2, first_delay_s=3, jitter=0))
    sender = WebhookSender(SECRET, config=config)
    assert (sender.next_delay(1), sender.next_delay(2)) == (3, None)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        WebhookRetry().next_delay(0)


@pytest.mark.parametrize(
    "fields",
    [
        {"max_attempts": 0},
        {"first_delay_s": 0},
        {"max_delay_s": -1},
        {"jitter": 1},
        {"first_delay_s": 10, "max_delay_s": 5},
        {"unknown": 1},
    ],
)
def test_bad_retry_settings_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        WebhookRetry(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("fields", [{"timeout_s": 0}, {"max_reply_bytes": -1}])
def test_bad_delivery_settings_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        WebhookConfig(**fields)  # type: ignore[arg-type]


async def test_deliveries_can_run_side_by_side(
    sender: WebhookSender, receiver: WebhookReceiver
) -> None:
    outcomes: list[DeliveryOutcome] = []

    async def one() -> None:
        outcomes.append(await sender.deliver(f"{receiver.url}/ok", BODY))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
    assert [o.kind for o in outcomes] == ["delivered"] * 20
    assert all(verify(SECRET, r.headers[SIGNATURE_HEADER], r.body) for r in receiver.received)
