"""Approvals through ``RelayClient`` / ``RelayClientSync`` and announced by webhook, against a
real daemon on loopback: tool calls of the demo's agents wait for a person, are approved (an
edit that breaks the tool's schema refused first) as their events arrive, and the run ends;
a run with a webhook gets a signed ``approval.requested`` POST naming where to decide, and
the approval's arguments are in no log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from api_helpers import TASK, running_api
from loguru import logger
from test_api_approvals import PLAN_RUN, pending
from webhook_receiver import WebhookReceiver

from agent_relay.runtime import ApprovalDecision, RuntimeSettings
from agent_relay.runtime.daemon import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    RelayClient,
    RelayClientError,
    RelayClientSync,
    verify,
)

pytestmark = pytest.mark.anyio

SECRET = "whsec_approval_tests_0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as server:
        yield server


async def test_tool_calls_wait_and_are_decided_through_the_client(tmp_path: Path) -> None:
    settings = RuntimeSettings(approve_tools="always")
    async with (
        running_api(tmp_path, settings=settings) as api,
        RelayClient(api.daemon.url) as client,
    ):
        accepted = await client.submit(TASK)
        decided: list[ApprovalDecision] = []
        refused_edit: list[RelayClientError] = []
        with anyio.fail_after(60):
            async for event in client.events(accepted.id):
                # A tool call's request is in the stream twice: the agent's, then the
                # master's as it records it.
                if event.type != "approval.requested" or event.data["id"] in {
                    d.approval_id for d in decided
                }:
                    continue
                view = await client.get(accepted.id)
                [waiting] = [a for a in view.approvals if a.id == event.data["id"]]
                assert waiting.kind == "tool" and waiting.tool and waiting.step_id
                if not refused_edit:
                    with pytest.raises(RelayClientError) as refused:
                        await client.approve(accepted.id, waiting.id, arguments={"nonsense": 1})
                    assert refused.value.status == 422
                    assert refused.value.code == "invalid_decision"
                    refused_edit.append(refused.value)
                decided.append(await client.approve(accepted.id, waiting.id, by="ana"))
        assert decided and all(d.outcome == "approved" and d.by == "ana" for d in decided)
        view = await client.wait(accepted.id, timeout=30)
        assert view.status == "completed"
        assert [a.state for a in view.approvals] == ["approved"] * len(decided)
        assert not view.pending_approvals
        # Decided already: the client sees the conflict the server names.
        with pytest.raises(RelayClientError) as again:
            await client.reject(accepted.id, decided[0].approval_id, "too late")
        assert again.value.status == 409 and again.value.code == "decided"


async def test_the_sync_client_rejects_a_plan(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create(PLAN_RUN)
        await pending(api, run_id)

        def reject() -> ApprovalDecision:
            with RelayClientSync(api.daemon.url) as client:
                with pytest.raises(RelayClientError) as unknown:
                    client.approve(run_id, "plan-9")
                assert unknown.value.status == 404
                with pytest.raises(RelayClientError) as both:
                    client.approve(run_id, "plan", arguments={"a": 1}, plan=[])
                assert both.value.code == "invalid_request"  # refused here, not sent
                return client.reject(run_id, "plan", "a person said no")

        decided = await anyio.to_thread.run_sync(reject)
        assert decided.outcome == "rejected" and decided.reason == "a person said no"
        assert (await api.finished(run_id))["status"] == "cancelled"


async def test_an_approval_request_is_announced_by_webhook_signed(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    logged: list[str] = []
    sink = logger.add(logged.append, level="DEBUG", format="{message}")
    try:
        async with running_api(
            tmp_path,
            settings=RuntimeSettings(approve_tools="always"),
            webhook_secret=SECRET,
            webhook_allow_hosts=(receiver.host,),
        ) as api:
            run_id = await api.create(
                {"task": TASK, "webhook": f"{receiver.url}/ok", "metadata": {"who": "ana"}}
            )
            approval = await pending(api, run_id)
            with anyio.fail_after(10):
                while not receiver.received:
                    await anyio.sleep(0.01)
            got = receiver.received[0]
            assert got.headers[EVENT_HEADER] == "approval.requested"
            assert verify(SECRET.encode(), got.headers[SIGNATURE_HEADER], got.body)
            body = json.loads(got.body)
            assert body["type"] == "approval.requested" and body["run_id"] == run_id
            assert body["metadata"] == {"who": "ana"}
            assert body["approval"]["id"] == approval["id"]
            assert body["approval"]["arguments"] == approval["arguments"]
            assert body["decide_path"] == f"/v1/runs/{run_id}/approvals/{approval['id']}"
            rows = await api.service.store.announce_attempts(run_id, approval["id"])
            assert rows == (1, True)
            # Decide everything; the run's end is its own delivery, told apart by its header.
            async with RelayClient(api.daemon.url) as client:
                while (view := await client.get(run_id)).status not in ("completed", "failed"):
                    for waiting in view.pending_approvals:
                        await client.approve(run_id, waiting.id)
                    await client.wait(run_id, timeout=0.2)
            with anyio.fail_after(10):
                while "run.finished" not in [r.headers[EVENT_HEADER] for r in receiver.received]:
                    await anyio.sleep(0.01)
            announced = [r for r in receiver.received if r.headers[EVENT_HEADER] != "run.finished"]
            assert len(announced) == len(view.approvals)  # each once
    finally:
        logger.remove(sink)
    arguments = json.dumps(approval["arguments"])
    assert logged and not any(arguments in line for line in logged)
    for value in approval["arguments"].values():
        if isinstance(value, str) and len(value) > 12:
            assert not any(value in line for line in logged), value
