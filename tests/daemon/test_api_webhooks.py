"""Webhooks of ended runs over real HTTP: a signed POST of the run to a receiver on
loopback (allowed by ``webhook_allow_hosts``), retried with backoff when it fails, every
attempt recorded; URLs the address checks refuse are refused when the run is posted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from api_helpers import TASK, error_of, running_api
from webhook_receiver import WebhookReceiver

from agent_relay.runtime.daemon import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.anyio

SECRET = "whsec_api_tests_0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as server:
        yield server


async def test_an_ended_run_is_posted_signed_to_its_webhook(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    async with running_api(
        tmp_path, webhook_secret=SECRET, webhook_allow_hosts=(receiver.host,)
    ) as api:
        run_id = await api.create({"task": TASK, "webhook": f"{receiver.url}/ok"})
        await api.finished(run_id)
        with anyio.fail_after(10):
            while not await api.service.store.deliveries(run_id):
                await anyio.sleep(0.01)
        [delivery] = await api.service.store.deliveries(run_id)
        assert delivery.status == 204 and delivery.error is None
        [got] = receiver.received
        assert got.path == "/ok"
        assert verify(SECRET.encode(), got.headers[SIGNATURE_HEADER], got.body)
        assert not verify(b"another secret", got.headers[SIGNATURE_HEADER], got.body)
        body = json.loads(got.body)
        assert body["id"] == run_id and body["status"] == "completed"
        assert SECRET not in got.body.decode()
        # The attempt shows on the run.
        view = await api.view(run_id)
        assert [(d["attempt"], d["status"], d["error"]) for d in view["webhook_deliveries"]] == [
            (1, 204, None)
        ]
    store_bytes = api.store_file.read_bytes()
    assert SECRET.encode() not in store_bytes


async def test_a_failing_receiver_gets_retries_each_recorded(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    async with running_api(
        tmp_path,
        webhook_secret=SECRET,
        webhook_allow_hosts=(receiver.host,),
        webhook_max_attempts=3,
        webhook_first_delay_s=0.01,
    ) as api:
        run_id = await api.create({"task": TASK, "webhook": f"{receiver.url}/status/503"})
        await api.finished(run_id)
        with anyio.fail_after(10):
            while len(await api.service.store.deliveries(run_id)) < 3:
                await anyio.sleep(0.01)
        deliveries = await api.service.store.deliveries(run_id)
        assert [d.attempt for d in deliveries] == [1, 2, 3]
        assert all(d.status == 503 and d.error and "503" in d.error for d in deliveries)
        assert len(receiver.received) == 3
        for got in receiver.received:
            assert verify(SECRET.encode(), got.headers[SIGNATURE_HEADER], got.body)
        # No fourth attempt: the bound holds (the pending list no longer names the run).
        assert run_id not in await api.service.store.webhook_pending(3)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://0x7f.1/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "not a url",
        "http://user:pass@/hook",
    ],
)
async def test_webhook_urls_the_address_checks_refuse_are_422(
    tmp_path: Path, receiver: WebhookReceiver, url: str
) -> None:
    async with running_api(
        tmp_path, webhook_secret=SECRET, webhook_allow_hosts=(receiver.host,)
    ) as api:
        before = await api.state()
        async with api.http.post("/v1/runs", json={"task": TASK, "webhook": url}) as reply:
            got = await error_of(reply)
        assert got[:2] == (422, "invalid_request"), got
        assert "webhook" in got[2]
        assert await api.state() == before
        assert receiver.received == []


async def test_webhooks_are_refused_when_the_server_has_no_secret(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    async with running_api(tmp_path, webhook_allow_hosts=(receiver.host,)) as api:
        before = await api.state()
        async with api.http.post(
            "/v1/runs", json={"task": TASK, "webhook": f"{receiver.url}/ok"}
        ) as reply:
            got = await error_of(reply)
        assert got[:2] == (422, "invalid_request")
        assert "secret" in got[2]
        assert await api.state() == before


async def test_a_host_name_that_resolves_to_loopback_is_refused_when_posted(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    # The address it resolves to now is judged at once (and again when delivering, against
    # a name that changes its answer: see test_webhooks.py).
    async with running_api(
        tmp_path, webhook_secret=SECRET, webhook_allow_hosts=(receiver.host,)
    ) as api:
        before = await api.state()
        url = f"http://localhost:{receiver.port}/ok"
        async with api.http.post("/v1/runs", json={"task": TASK, "webhook": url}) as reply:
            got = await error_of(reply)
        assert got[:2] == (422, "invalid_request")
        assert "localhost resolves to 127.0.0.1" in got[2]
        assert await api.state() == before
        assert receiver.received == []
