"""The daemon's run endpoints over real HTTP: create (idempotent), get, list, wait, cancel,
delete, the probes; and every bad input refused with a JSON error that names it, leaving
the runs and the files as they were."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anyio
import pytest
from api_helpers import TASK, error_of, running_api

pytestmark = pytest.mark.anyio


# -- creating -----------------------------------------------------------------------------


async def test_a_run_is_accepted_stored_and_runs_to_completion(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        body = {
            "task": TASK,
            "metadata": {"who": "tests"},
            "settings": {"max_steps": 5},
            "inputs": [{"name": "notes.txt", "content_base64": base64.b64encode(b"hi").decode()}],
        }
        async with api.http.post("/v1/runs", json=body) as reply:
            assert reply.status == 202
            accepted = await reply.json()
        assert accepted["status"] == "queued"
        # Acknowledged only once stored: the store already has it.
        assert await api.service.store.get_run(accepted["id"]) is not None
        view = await api.finished(accepted["id"])
        assert view["status"] == "completed"
        assert view["metadata"] == {"who": "tests"}
        assert view["task"] == TASK
        assert view["result"]["status"] == "completed"
        run_dir = api.workspace / accepted["id"]
        assert (run_dir / "notes.txt").read_bytes() == b"hi"
        assert (run_dir / "index.html").is_file()
        # The file is on disk; the store keeps its name, not its bytes again.
        stored = await api.service.store.get_run(accepted["id"])
        assert stored is not None
        assert [(i.name, i.content_base64) for i in stored.request.inputs] == [("notes.txt", "")]


async def test_the_same_idempotency_key_and_body_give_the_same_run(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        first = await api.create({"task": TASK}, **{"Idempotency-Key": "k-1"})
        again = await api.create({"task": TASK}, **{"Idempotency-Key": "k-1"})
        assert again == first
        assert (await api.state())[0] == 1
        other = await api.create({"task": TASK}, **{"Idempotency-Key": "k-2"})
        assert other != first


async def test_the_same_idempotency_key_with_another_body_is_a_conflict(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await api.finished(await api.create({"task": TASK}, **{"Idempotency-Key": "k-1"}))
        before = await api.state()
        async with api.http.post(
            "/v1/runs", json={"task": "something else"}, headers={"Idempotency-Key": "k-1"}
        ) as reply:
            status, code, message = await error_of(reply)
        assert (status, code) == (409, "idempotency_conflict")
        assert "Idempotency-Key" in message
        assert await api.state() == before


LONG = "x" * 300


@pytest.mark.parametrize(
    ("body", "status", "code", "names"),
    [
        ({}, 422, "invalid_request", "task"),
        ({"task": ""}, 422, "invalid_request", "task"),
        ({"task": 5}, 422, "invalid_request", "task"),
        ({"task": "x" * 20_001}, 422, "invalid_request", "task"),
        ({"task": " \n\t "}, 422, "invalid_request", "the task is blank"),
        ({"task": "t", "settings": {"max_steps": True}}, 422, "invalid_request", "max_steps"),
        ({"task": "t", "settings": {"max_steps": "3"}}, 422, "invalid_request", "max_steps"),
        ({"task": "t", "colour": "red"}, 422, "invalid_request", "colour"),
        ({"task": "t", "settings": {"max_steps": 0}}, 422, "invalid_request", "max_steps"),
        ({"task": "t", "settings": {"max_steps": 10_000}}, 422, "invalid_request", "max_steps"),
        ({"task": "t", "settings": {"speed": 1}}, 422, "invalid_request", "speed"),
        ({"task": "t", "settings": {"step_timeout_s": 1e9}}, 422, "invalid_request", "limit"),
        ({"task": "t", "settings": {"summarize": "maybe"}}, 422, "invalid_request", "summarize"),
        ({"task": "t", "metadata": {"k": 1}}, 422, "invalid_request", "metadata"),
        ({"task": "t", "metadata": {f"k{i}": "v" for i in range(33)}}, 422, "invalid_request", ""),
        ({"task": "t", "webhook": "http://example.com/hook"}, 422, "invalid_request", "webhook"),
        (
            {"task": "t", "inputs": [{"name": "a.txt", "content_base64": "not base64!"}]},
            422,
            "invalid_request",
            "base64",
        ),
        (
            {"task": "t", "inputs": [{"name": "../evil", "content_base64": ""}]},
            422,
            "invalid_request",
            "name",
        ),
        (
            {"task": "t", "inputs": [{"name": "..", "content_base64": ""}]},
            422,
            "invalid_request",
            "..",
        ),
        (
            {
                "task": "t",
                "inputs": [
                    {"name": "a.txt", "content_base64": "aGk="},
                    {"name": "a.txt", "content_base64": "aGk="},
                ],
            },
            422,
            "invalid_request",
            "two inputs are named 'a.txt'",
        ),
        (
            {"task": "t", "inputs": [{"name": " ", "content_base64": ""}]},
            422,
            "invalid_request",
            "name",
        ),
        ([1, 2], 422, "invalid_request", "the body must be a JSON object"),
        ("just a string", 422, "invalid_request", "the body must be a JSON object"),
    ],
)
async def test_a_bad_run_is_refused_and_nothing_is_stored(
    tmp_path: Path, body: Any, status: int, code: str, names: str
) -> None:
    async with running_api(tmp_path) as api:
        before = await api.state()
        async with api.http.post("/v1/runs", json=body) as reply:
            got = await error_of(reply)
        assert got[:2] == (status, code), got
        assert names in got[2]
        assert await api.state() == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{", "application/json", 400, "bad_json"),
        (b'{"task": "t",}', "application/json", 400, "bad_json"),
        (b"\xff\xfe{}", "application/json", 400, "bad_json"),
        (b"", "application/json", 400, "bad_json"),
        (b'{"task": "t"}', "text/plain", 415, "unsupported_media_type"),
        (b"task=t", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"task": "t"}', "", 415, "unsupported_media_type"),
        (b"null", "application/json", 422, "invalid_request"),
        (b"[]", "application/json", 422, "invalid_request"),
    ],
)
async def test_a_body_that_is_not_json_is_refused(
    tmp_path: Path, data: bytes, content_type: str, status: int, code: str
) -> None:
    async with running_api(tmp_path) as api:
        before = await api.state()
        headers = {"Content-Type": content_type} if content_type else {}
        async with api.http.post("/v1/runs", data=data, headers=headers) as reply:
            got = await error_of(reply)
        assert got[:2] == (status, code), got
        assert await api.state() == before


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_a_bad_idempotency_key_is_refused(tmp_path: Path, key: str) -> None:
    async with running_api(tmp_path) as api:
        before = await api.state()
        async with api.http.post(
            "/v1/runs", json={"task": TASK}, headers={"Idempotency-Key": key}
        ) as reply:
            got = await error_of(reply)
        assert got[:2] == (400, "bad_request")
        assert "Idempotency-Key" in got[2]
        assert await api.state() == before


async def test_an_oversized_body_is_413_and_stores_nothing(tmp_path: Path) -> None:
    async with running_api(tmp_path, max_body_bytes=4096) as api:
        before = await api.state()
        async with api.http.post("/v1/runs", json={"task": "x" * 8000}) as reply:
            got = await error_of(reply)
        assert got[:2] == (413, "too_large")
        assert "4096" in got[2]
        assert await api.state() == before


async def test_a_huge_body_announced_is_refused_before_it_is_sent(tmp_path: Path) -> None:
    async with running_api(tmp_path, max_body_bytes=4096) as api:
        host, port = api.daemon.url.removeprefix("http://").rsplit(":", 1)
        with anyio.fail_after(20):  # without the early answer, this waits for 99 MB forever
            async with await anyio.connect_tcp(host, int(port)) as stream:
                await stream.send(
                    b"POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 99999999\r\n\r\n{"
                )
                head = await stream.receive()
        assert head.startswith(b"HTTP/1.1 413")
        assert b"too_large" in head or b"Content-Length" in head
        assert (await api.state())[0] == 0


async def test_a_full_queue_is_429_with_retry_after(tmp_path: Path) -> None:
    async with running_api(
        tmp_path, gate_open=False, max_queued_runs=1, max_concurrent_runs=1
    ) as api:
        running = await api.create()
        await api.in_flight(running)  # taken off the queue: the queue is empty again
        waiting = await api.create()
        before = await api.state()
        async with api.http.post("/v1/runs", json={"task": TASK}) as reply:
            got = await error_of(reply)
            retry_after = reply.headers.get("Retry-After")
        assert got[:2] == (429, "queue_full")
        assert retry_after is not None and int(retry_after) > 0
        assert await api.state() == before
        api.model.gate.set()
        assert (await api.finished(running))["status"] == "completed"
        assert (await api.finished(waiting))["status"] == "completed"
        await api.create()  # room again


# -- reading ------------------------------------------------------------------------------


async def test_get_and_list_show_runs_newest_first_in_pages(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        ids = [await api.create({"task": f"{TASK} {i}"}) for i in range(5)]
        for run_id in ids:
            await api.finished(run_id)
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            async with api.http.get("/v1/runs", params=params) as reply:
                assert reply.status == 200
                page = await reply.json()
            pages += 1
            seen += [r["id"] for r in page["runs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]
        assert pages == 3
        async with api.http.get("/v1/runs", params={"status": "completed"}) as reply:
            assert {r["id"] for r in (await reply.json())["runs"]} == set(ids)
        async with api.http.get("/v1/runs", params={"status": "queued"}) as reply:
            assert (await reply.json())["runs"] == []
        view = await api.view(ids[0])
        assert view["id"] == ids[0] and view["status"] == "completed"


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "nan"}, "limit"),
        ({"limit": "inf"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"status": "done"}, "status"),
        ({"status": ""}, "status"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "eyJ4IjogMX0="}, "cursor"),
    ],
)
async def test_bad_list_queries_are_400(tmp_path: Path, params: dict[str, str], names: str) -> None:
    async with running_api(tmp_path) as api:
        await api.finished(await api.create())
        before = await api.state()
        async with api.http.get("/v1/runs", params=params) as reply:
            got = await error_of(reply)
        assert got[:2] == (400, "bad_request"), got
        assert names in got[2]
        assert (await api.state())[0] == before[0]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/runs/nope",
        "/v1/runs/" + "a" * 65,
        "/v1/runs/bad%20id",
        "/v1/runs/bad.id",
        "/v1/runs/%00",
        "/v1/runs/nope/wait",
        "/v1/runs/nope/events",
        "/v1/runs/nope/artifacts/index.html",
    ],
)
async def test_unknown_or_malformed_run_ids_are_404(tmp_path: Path, path: str) -> None:
    async with running_api(tmp_path) as api:
        async with api.http.get(path) as reply:
            got = await error_of(reply)
        assert got[:2] == (404, "not_found"), got
        for method in ("POST", "DELETE"):
            target = path.removesuffix("/wait") + ("/cancel" if method == "POST" else "")
            if "/events" in path or "/artifacts" in path:
                continue
            async with api.http.request(method, target) as reply:
                assert (await error_of(reply))[:2] == (404, "not_found")


async def test_wait_returns_at_the_timeout_with_the_run_as_it_stands(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False) as api:
        run_id = await api.create()
        async with api.http.get(f"/v1/runs/{run_id}/wait", params={"timeout": "0"}) as reply:
            assert reply.status == 200
            assert (await reply.json())["status"] in ("queued", "planning")
        async with api.http.get(f"/v1/runs/{run_id}/wait", params={"timeout": "0.05"}) as reply:
            assert reply.status == 200
            assert (await reply.json())["status"] in ("queued", "planning")
        api.model.gate.set()
        assert (await api.finished(run_id))["status"] == "completed"


@pytest.mark.parametrize("seconds", ["-1", "301", "soon", "nan", "inf", "", "1e999"])
async def test_bad_wait_timeouts_are_400(tmp_path: Path, seconds: str) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create()
        async with api.http.get(f"/v1/runs/{run_id}/wait", params={"timeout": seconds}) as reply:
            got = await error_of(reply)
        assert got[:2] == (400, "bad_request"), got
        assert "timeout" in got[2]


# -- ending -------------------------------------------------------------------------------


async def test_cancel_a_running_run_then_cancelling_again_is_409(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        async with api.http.post(f"/v1/runs/{run_id}/cancel") as reply:
            assert reply.status == 200
        assert (await api.finished(run_id))["status"] == "cancelled"
        async with api.http.post(f"/v1/runs/{run_id}/cancel") as reply:
            got = await error_of(reply)
        assert got[:2] == (409, "finished")
        assert "cancelled" in got[2]


async def test_cancel_a_queued_run(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False, max_concurrent_runs=1) as api:
        first = await api.create()
        await api.in_flight(first)
        queued = await api.create()
        async with api.http.post(f"/v1/runs/{queued}/cancel") as reply:
            assert reply.status == 200
            assert (await reply.json())["status"] == "cancelled"
        api.model.gate.set()
        assert (await api.finished(first))["status"] == "completed"
        assert (await api.view(queued))["status"] == "cancelled"


async def test_cancel_a_completed_run_is_409_and_changes_nothing(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create()
        done = await api.finished(run_id)
        before = await api.state()
        async with api.http.post(f"/v1/runs/{run_id}/cancel") as reply:
            got = await error_of(reply)
        assert got[:2] == (409, "finished")
        assert await api.state() == before
        assert (await api.view(run_id))["status"] == done["status"] == "completed"


async def test_delete_removes_the_record_its_events_and_its_workspace(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        keep = await api.create({"task": f"{TASK} kept"})
        gone = await api.create()
        await api.finished(keep)
        await api.finished(gone)
        assert (api.workspace / gone).is_dir()
        async with api.http.delete(f"/v1/runs/{gone}") as reply:
            assert reply.status == 204
        async with api.http.get(f"/v1/runs/{gone}") as reply:
            assert (await error_of(reply))[:2] == (404, "not_found")
        assert not (api.workspace / gone).exists()
        assert await api.service.store.events_after(gone, 0) == []
        assert (api.workspace / keep / "index.html").is_file()
        assert (await api.state())[0] == 1
        async with api.http.delete(f"/v1/runs/{gone}") as reply:
            assert (await error_of(reply))[:2] == (404, "not_found")


async def test_delete_of_a_running_run_cancels_it_first(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False) as api:
        run_id = await api.create(
            {"task": TASK, "inputs": [{"name": "in.txt", "content_base64": "aGk="}]}
        )
        await api.in_flight(run_id)
        assert (api.workspace / run_id / "in.txt").is_file()
        async with api.http.delete(f"/v1/runs/{run_id}") as reply:
            assert reply.status == 204
        assert await api.service.store.get_run(run_id) is None
        assert not (api.workspace / run_id).exists()
        assert (await api.state())[0] == 0


# -- probes and the unknown ---------------------------------------------------------------


async def test_probes_metrics_and_the_openapi_document(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        await api.finished(await api.create())
        async with api.http.get("/healthz") as reply:
            assert (reply.status, await reply.json()) == (200, {"status": "ok"})
        async with api.http.get("/readyz") as reply:
            assert (reply.status, await reply.json()) == (200, {"status": "ok"})
        async with api.http.get("/metrics") as reply:
            assert reply.status == 200
            assert reply.content_type == "text/plain"
            text = await reply.text()
        assert "# TYPE" in text and "relay_" in text
        async with api.http.get("/openapi.json") as reply:
            doc = await reply.json()
        assert doc["openapi"].startswith("3.1")
        assert "/v1/runs/{id}/events" in doc["paths"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v2/runs", 404, "not_found"),
        ("GET", "/", 404, "not_found"),
        ("PUT", "/v1/runs", 405, "method_not_allowed"),
        ("PATCH", "/v1/runs/abc", 405, "method_not_allowed"),
        ("GET", "/v1/runs/abc/cancel", 405, "method_not_allowed"),
    ],
)
async def test_unknown_routes_and_methods_are_json_errors(
    tmp_path: Path, method: str, path: str, status: int, code: str
) -> None:
    async with running_api(tmp_path) as api:
        async with api.http.request(method, path) as reply:
            got = await error_of(reply)
        assert got[:2] == (status, code)
