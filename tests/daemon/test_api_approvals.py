"""Approvals over the daemon's HTTP API, on a real daemon over loopback with a real store: a
run's pending approvals are listed with it and in its event stream, decided with
``POST /v1/runs/{id}/approvals/{approval_id}``; every bad decision is a clear JSON error that
leaves the approval pending; per-run approval settings ask for more, never less."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from api_helpers import TASK, Api, error_of, running_api, sse_messages

from agent_relay.runtime import RuntimeSettings

pytestmark = pytest.mark.anyio

PLAN_RUN = {"task": TASK, "settings": {"approve_plan": True}}


async def pending(api: Api, run_id: str, within: float = 20) -> dict[str, Any]:
    """The run's first pending approval, once its ``approval.requested`` is in the stream."""
    with anyio.fail_after(within):
        async with api.http.get(f"/v1/runs/{run_id}/events", headers=api.headers) as reply:
            async for message in sse_messages(reply):
                if message.event == "approval.requested":
                    break
                assert message.event != "task.done", "the run ended without asking"
    view = await api.view(run_id)
    waiting = [a for a in view["approvals"] if a["state"] == "pending"]
    assert waiting, view["approvals"]
    return waiting[0]


async def decide(api: Api, run_id: str, approval_id: str, body: Any) -> aiohttp.ClientResponse:
    return await api.http.post(
        f"/v1/runs/{run_id}/approvals/{approval_id}", json=body, headers=api.headers
    )


async def test_a_plan_waits_for_approval_listed_with_the_run_then_runs(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create(PLAN_RUN)
        approval = await pending(api, run_id)
        assert approval["id"] == "plan" and approval["kind"] == "plan"
        assert approval["task_id"] == run_id and approval["plan"] and approval["decision"] is None
        assert (await api.view(run_id))["status"] == "planning"  # no step started

        async with await decide(api, run_id, "plan", {"decision": "approve", "by": "ana"}) as r:
            assert r.status == 200
            decided = await r.json()
        assert decided["approval_id"] == "plan" and decided["outcome"] == "approved"
        assert decided["by"] == "ana"
        # The reply comes once the decision is stored: the run shows it at once.
        [shown] = (await api.view(run_id))["approvals"]
        assert shown["state"] == "approved" and shown["decision"]["by"] == "ana"
        assert shown["created_at"] == approval["created_at"]

        done = await api.finished(run_id)
        assert done["status"] == "completed"
        assert [a["state"] for a in done["approvals"]] == ["approved"]
        assert done["result"]["approvals"][0]["decision"]["outcome"] == "approved"

        # The stream carries both approval events, in order, once each.
        async with api.http.get(f"/v1/runs/{run_id}/events", headers=api.headers) as reply:
            kinds = [m.event async for m in sse_messages(reply) if m.event]
        assert [k for k in kinds if k and k.startswith("approval.")] == [
            "approval.requested",
            "approval.decided",
        ]
        assert kinds.index("approval.decided") < kinds.index("task.done")


async def test_a_rejected_plan_cancels_the_run_with_the_reason(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create(PLAN_RUN)
        await pending(api, run_id)
        body = {"decision": "reject", "reason": "not this plan"}
        async with await decide(api, run_id, "plan", body) as r:
            assert r.status == 200
            assert (await r.json())["outcome"] == "rejected"
        done = await api.finished(run_id)
        assert done["status"] == "cancelled" and "not this plan" in done["error"]
        assert done["approvals"][0]["state"] == "rejected"


async def test_bad_decisions_are_clear_errors_and_leave_the_approval_pending(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create(PLAN_RUN)
        approval = await pending(api, run_id)
        refused: list[tuple[str, Any, int, str]] = [
            ("plan", {"decision": "maybe"}, 422, "invalid_request"),
            ("plan", {"decision": "approve", "extra": 1}, 422, "invalid_request"),
            ("plan", ["approve"], 422, "invalid_request"),
            ("plan", {"decision": "reject", "arguments": {"a": 1}}, 422, "invalid_request"),
            # The runtime's ApprovalError: a plan is edited as a plan, not with arguments.
            ("plan", {"decision": "approve", "arguments": {"a": 1}}, 422, "invalid_decision"),
            # An edited plan that cannot run (a step depends on itself).
            (
                "plan",
                {
                    "decision": "approve",
                    "plan": [{"id": "s1", "agent": "file", "prompt": "x", "depends_on": ["s1"]}],
                },
                422,
                "invalid_decision",
            ),
            ("no-such-approval", {"decision": "approve"}, 404, "not_found"),
            ("bad id!", {"decision": "approve"}, 404, "not_found"),
        ]
        for approval_id, body, status, code in refused:
            async with await decide(api, run_id, approval_id, body) as r:
                got = await error_of(r)
            assert got[:2] == (status, code), (approval_id, body, got)
        async with api.http.post(
            "/v1/runs/no-such-run/approvals/plan", json={"decision": "approve"}
        ) as r:
            assert (await error_of(r))[:2] == (404, "not_found")
        async with api.http.post(
            f"/v1/runs/{run_id}/approvals/plan", data=b"approve", headers=api.headers
        ) as r:
            assert (await error_of(r))[:2] == (415, "unsupported_media_type")

        # Nothing was lost: still pending, as asked, and it can be approved now.
        view = await api.view(run_id)
        assert view["approvals"] == [approval]
        async with await decide(api, run_id, "plan", {"decision": "approve"}) as r:
            assert r.status == 200
        # Twice: a conflict that says how it was decided.
        async with await decide(api, run_id, "plan", {"decision": "reject"}) as r:
            status, code, message = await error_of(r)
        assert (status, code) == (409, "decided") and "approved already" in message
        assert (await api.finished(run_id))["status"] == "completed"


async def test_a_run_that_ended_has_nothing_to_decide(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create(PLAN_RUN)
        await pending(api, run_id)
        async with api.http.post(f"/v1/runs/{run_id}/cancel", headers=api.headers) as r:
            assert r.status == 200
        done = await api.finished(run_id)
        assert done["status"] == "cancelled"
        [withdrawn] = done["approvals"]
        assert withdrawn["state"] == "withdrawn"
        async with await decide(api, run_id, "plan", {"decision": "approve"}) as r:
            status, code, message = await error_of(r)
        assert (status, code) == (409, "decided") and "withdrawn" in message


async def test_a_run_may_ask_for_more_approval_never_less(tmp_path: Path) -> None:
    settings = RuntimeSettings(approve_tools="risky")
    async with running_api(tmp_path, settings=settings) as api:
        before = await api.state()
        for loosened in ({"approve_tools": "never"}, {"approve_tools": "nope"}):
            async with api.http.post(
                "/v1/runs", json={"task": TASK, "settings": loosened}, headers=api.headers
            ) as r:
                status, code, message = await error_of(r)
            assert (status, code) == (422, "invalid_request"), message
            assert "approve_tools" in message
        assert await api.state() == before  # nothing stored, no files
        stricter = {
            "approve_tools": "always",
            "approve_plan": True,
            "approval_timeout_s": 600.0,
            "on_approval_expiry": "fail",
        }
        run_id = await api.create({"task": TASK, "settings": stricter})
        approval = await pending(api, run_id)
        assert approval["kind"] == "plan" and approval["on_expiry"] == "fail"
        assert approval["expires_at"] is not None
        async with await decide(api, run_id, "plan", {"decision": "reject"}) as r:
            assert r.status == 200
        assert (await api.finished(run_id))["status"] == "cancelled"
