"""Approvals survive a daemon's ``kill -9``: a real ``relay serve`` process (its model a fake
OpenAI-compatible server on loopback) holds a run whose plan waits for approval; it is killed
and started again on the same store; the approval is still pending with the same id and
creation time, is decided over HTTP, and the run completes. Also the daemon's default
approval policy when code execution is on, as its start-up line says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from serve_process import ServeProcess, clean_env, count, wait_until

from agent_relay.runtime.testing import FakeOpenAIServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

PLAN = {"plan": [{"id": "s1", "agent": "file", "prompt": "name a colour", "depends_on": []}]}
RISKY_LINE = "risky tool calls (running code, downloads, writing over a file) wait for approval"


def _reply(body: dict[str, Any]) -> str:
    messages = body.get("messages", [])
    system = str(messages[0].get("content", "")) if messages else ""
    return json.dumps(PLAN) if "You plan work for a team of agents" in system else "teal"


def _serve_args(fake: FakeOpenAIServer, tmp_path: Path, port: int, *more: str) -> list[str]:
    return [
        "--port", str(port), "--model", "openai:fake", "--base-url", fake.base_url,
        "--workspace", str(tmp_path / "ws"), "--store", str(tmp_path / "runs.db"),
        "--agents", "file", "--image-backend", "offline", "--log-level", "WARNING", *more,
    ]  # fmt: skip


async def _json(reply: aiohttp.ClientResponse) -> dict[str, Any]:
    data: dict[str, Any] = await reply.json()
    assert reply.status in (200, 202), (reply.status, data)
    return data


async def test_a_pending_approval_survives_kill_9_and_is_decided_after(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    env = clean_env(OPENAI_API_KEY="sk-fake-key")
    async with (
        FakeOpenAIServer(responder=_reply) as fake,
        aiohttp.ClientSession() as http,
    ):
        async with ServeProcess(_serve_args(fake, tmp_path, 0), env) as first:
            port = first.url
            body = {"task": "Name a colour", "settings": {"approve_plan": True}}
            async with http.post(f"{first.url}/v1/runs", json=body) as reply:
                run_id = (await _json(reply))["id"]
            await wait_until(
                lambda: count(store, "SELECT count(*) FROM approvals WHERE decision IS NULL"),
                what="pending approval",
            )
            async with http.get(f"{first.url}/v1/runs/{run_id}") as reply:
                [before] = (await _json(reply))["approvals"]
            assert before["id"] == "plan" and before["state"] == "pending"
            await first.kill()

        # Started again, with code execution on this time: its start-up line names the rule.
        port = int(port.rsplit(":", 1)[1])
        again = _serve_args(fake, tmp_path, port, "--daemon-code-execution")
        async with ServeProcess(again, env) as second:
            assert RISKY_LINE in second.stderr
            async with http.get(f"{second.url}/v1/runs/{run_id}") as reply:
                [after] = (await _json(reply))["approvals"]
            assert after == before  # same id, same times, still pending

            # Decided over HTTP; the resumed run may still be starting (409, Retry-After).
            url = f"{second.url}/v1/runs/{run_id}/approvals/plan"
            with anyio.fail_after(30):
                while True:
                    async with http.post(url, json={"decision": "approve", "by": "ana"}) as r:
                        decided = await r.json()
                        if r.status != 409 or decided["error"]["code"] != "not_running":
                            break
                        assert r.headers["Retry-After"] == "1"
                    await anyio.sleep(0.2)
            assert r.status == 200, decided
            assert decided["outcome"] == "approved"
            async with http.get(f"{second.url}/v1/runs/{run_id}/wait?timeout=30") as reply:
                done = await _json(reply)
            assert done["status"] == "completed", done
            [record] = done["approvals"]
            assert record["state"] == "approved" and record["created_at"] == before["created_at"]
            # Asked once in each life; decided once.
            async with http.get(f"{second.url}/v1/runs/{run_id}/events") as reply:
                text = await reply.text()
            assert text.count("event: approval.decided") == 1


async def test_approve_tools_never_turns_the_daemons_default_off(tmp_path: Path) -> None:
    env = clean_env(OPENAI_API_KEY="sk-fake-key")
    async with FakeOpenAIServer(responder=_reply) as fake:
        args = _serve_args(fake, tmp_path, 0, "--daemon-code-execution", "--approve-tools", "never")
        async with ServeProcess(args, env) as serve:
            assert RISKY_LINE not in serve.stderr
            assert "wait for approval" not in serve.stderr
