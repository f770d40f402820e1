"""A stand-in daemon on loopback for the client's tests: the real API models (``_api``) on a
small aiohttp app whose runs are scripted lists of events, and whose event stream can be told
to misbehave the ways a network does: cut the connection after some events, repeat events
already sent, write CRLF line ends, split data over lines, send comments. Tests that need a
real run use the real ``Daemon`` (test_client_daemon.py); this one exists for the faults a
real daemon does not make on purpose."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiohttp import web

from agent_relay.runtime.daemon import (
    ErrorBody,
    ErrorDetail,
    RunAccepted,
    RunEvent,
    RunList,
    RunRequest,
    RunView,
)

TOKEN = "s3cret-token-for-tests"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def done_data(
    run_id: str, task: str, status: str = "completed", answer: str = "done"
) -> dict[str, Any]:
    return {
        "task_id": run_id,
        "task": task,
        "status": status,
        "answer": answer,
        "error": None if status == "completed" else "a step failed",
        "started_at": NOW.isoformat(),
        "finished_at": NOW.isoformat(),
        "workdir": f"/srv/relay-workspace/{run_id}",
    }


def script_events(
    run_id: str, task: str, steps: int = 2, status: str = "completed"
) -> list[RunEvent]:
    """A plan of ``steps`` echo steps, each queued, started and completed, then task.done."""
    plan = [
        {"id": f"s{i}", "agent": "echo", "prompt": f"part {i}", "depends_on": []}
        for i in range(1, steps + 1)
    ]
    raw: list[tuple[str, str, dict[str, Any]]] = [
        ("task.submitted", f"task.{run_id}.submitted", {"task": task}),
        ("task.plan", f"task.{run_id}.plan", {"steps": plan, "complete": True}),
    ]
    for step in plan:
        sid = step["id"]
        raw += [
            ("step.queued", f"task.{run_id}.step.{sid}.queued", {}),
            ("step.started", f"task.{run_id}.step.{sid}.started", {}),
            ("step.completed", f"task.{run_id}.step.{sid}.completed", {"output": f"out {sid}"}),
        ]
    raw.append(("task.done", f"task.{run_id}.done", done_data(run_id, task, status)))
    return [
        RunEvent(run_id=run_id, seq=i, type=t, topic=topic, time=NOW, data=data)
        for i, (t, topic, data) in enumerate(raw, start=1)
    ]


@dataclass
class FakeRun:
    id: str
    request: RunRequest
    events: list[RunEvent]
    status: str = "completed"
    key: str | None = None

    def view(self) -> RunView:
        done = next((e for e in self.events if e.type == "task.done"), None)
        return RunView(
            id=self.id,
            status=self.status,
            task=self.request.task,
            metadata=self.request.metadata,
            created_at=NOW,
            updated_at=NOW,
            last_event=self.events[-1].seq if self.events else 0,
            result=done.data if done is not None and self.status != "running" else None,
        )


@dataclass
class StreamFaults:
    """How the event stream misbehaves: ``cut_after`` events per connection, then the
    connection is cut (0: never); ``repeat`` events already sent are sent again at the start
    of each reconnection; ``crlf`` line ends; ``split_data`` the JSON over several ``data:``
    lines; ``comments`` a ``: ping`` before each event; ``refuse`` connections answered 503
    before one is served."""

    cut_after: int = 0
    repeat: int = 0
    crlf: bool = False
    split_data: bool = False
    comments: bool = False
    refuse: int = 0
    raw: bytes | None = None


@dataclass
class FakeDaemon:
    """``async with FakeDaemon() as fake: fake.url``; ``runs`` by id; ``resumes`` the
    ``Last-Event-ID`` headers the event stream was opened with."""

    token: str | None = None
    faults: StreamFaults = field(default_factory=StreamFaults)
    runs: dict[str, FakeRun] = field(default_factory=dict)
    resumes: list[str | None] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def add(self, task: str = "a task", steps: int = 2, status: str = "completed") -> FakeRun:
        run_id = f"run{len(self.runs) + 1}"
        run = FakeRun(
            run_id, RunRequest(task=task), script_events(run_id, task, steps, status), status=status
        )
        self.runs[run_id] = run
        return run

    async def __aenter__(self) -> FakeDaemon:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v1/runs", self._create)
        app.router.add_get("/v1/runs", self._list)
        app.router.add_get("/v1/runs/{id}", self._get)
        app.router.add_delete("/v1/runs/{id}", self._delete)
        app.router.add_get("/v1/runs/{id}/wait", self._get)
        app.router.add_post("/v1/runs/{id}/cancel", self._cancel)
        app.router.add_get("/v1/runs/{id}/events", self._events)
        app.router.add_get("/v1/runs/{id}/artifacts/{path:.+}", self._artifact)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        body = ErrorBody(error=ErrorDetail(code=code, message=message))
        return web.Response(
            text=body.model_dump_json(), status=status, content_type="application/json"
        )

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "unauthorized", "a valid bearer token is required")
        response: web.StreamResponse = await handler(request)
        return response

    def _run(self, request: web.Request) -> FakeRun:
        run = self.runs.get(request.match_info["id"])
        if run is None:
            raise web.HTTPNotFound(
                text=ErrorBody(
                    error=ErrorDetail(
                        code="not_found", message=f"no run {request.match_info['id']}"
                    )
                ).model_dump_json(),
                content_type="application/json",
            )
        return run

    @staticmethod
    def _json(model: Any, status: int = 200) -> web.Response:
        return web.Response(
            text=model.model_dump_json(), status=status, content_type="application/json"
        )

    # -- handlers -------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        body = RunRequest.model_validate(await request.json())
        for upload in body.inputs:
            base64.b64decode(upload.content_base64, validate=True)
        key = request.headers.get("Idempotency-Key")
        for run in self.runs.values():
            if key is not None and run.key == key:
                return self._json(RunAccepted(id=run.id, status="queued"), 202)
        run = self.add(body.task)
        run.request, run.key = body, key
        return self._json(RunAccepted(id=run.id, status="queued"), 202)

    async def _list(self, request: web.Request) -> web.Response:
        runs = sorted(self.runs.values(), key=lambda r: int(r.id[3:]), reverse=True)
        status = request.query.get("status")
        if status:
            runs = [r for r in runs if r.status == status]
        limit = int(request.query.get("limit", "50"))
        start = int(request.query.get("cursor", "0"))
        page = runs[start : start + limit]
        more = start + limit < len(runs)
        return self._json(
            RunList(runs=[r.view() for r in page], next_cursor=str(start + limit) if more else None)
        )

    async def _get(self, request: web.Request) -> web.Response:
        return self._json(self._run(request).view())

    async def _cancel(self, request: web.Request) -> web.Response:
        run = self._run(request)
        if run.status != "running":
            return self._error(409, "finished", f"run {run.id} is already {run.status}")
        run.status = "cancelled"
        return self._json(run.view())

    async def _delete(self, request: web.Request) -> web.Response:
        self.runs.pop(self._run(request).id)
        return web.Response(status=204)

    async def _artifact(self, request: web.Request) -> web.Response:
        self._run(request)
        path = request.match_info["path"]
        if path == "big.bin":
            return web.Response(body=b"x" * 300_000)
        if path != "out/page one.html":
            return self._error(404, "not_found", f"no artifact {path!r}")
        return web.Response(body=b"<html>hi</html>")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text="relay_runs 3\n")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        run = self._run(request)
        faults = self.faults
        resume = request.headers.get("Last-Event-ID")
        self.resumes.append(resume)
        if faults.refuse:
            faults.refuse -= 1
            return self._error(503, "unavailable", "starting up")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if faults.raw is not None:
            await response.write(faults.raw)
            return response
        after = int(resume or request.query.get("starting_after") or 0)
        first = max(after - faults.repeat, 0) if resume else after
        nl = "\r\n" if faults.crlf else "\n"
        sent = 0
        for event in run.events[first:]:
            if faults.cut_after and sent >= faults.cut_after and event.seq > after:
                assert request.transport is not None
                request.transport.close()  # a dropped connection, mid-stream
                return response
            data = json.dumps(event.model_dump(mode="json"))
            if faults.split_data:
                # JSON may break lines between tokens: a reader must join data lines with \n.
                data = data.replace(", ", f",{nl}data: ")
            text = f": ping{nl}" if faults.comments else ""
            text += f"id: {event.seq}{nl}event: {event.type}{nl}data: {data}{nl}{nl}"
            await response.write(text.encode())
            if event.seq > after:
                sent += 1
        return response
