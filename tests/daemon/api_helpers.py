"""A real daemon on loopback for the HTTP API's tests: the demo's scripted model behind a
gate (runs stay in planning until the test opens it), an aiohttp client, a look at what the
daemon holds (runs, files) and an SSE reader."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.cli._demo import QUICK, demo_model
from agent_relay.runtime.daemon import Daemon, DaemonConfig
from agent_relay.runtime.daemon._service import RunService
from agent_relay.runtime.models import ChatModel
from agent_relay.runtime.models._chat_types import (
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ModelSettings,
    ResponseFormat,
    ToolDefinition,
)
from agent_relay.runtime.models._text_watch import TextSink

TASK = "Draw a sunset over mountains and make a web page that shows it, saved as index.html"
FINAL = frozenset({"completed", "partial", "failed", "cancelled"})


class GatedModel(ChatModel):
    """The demo's model, but every call first waits for ``gate`` (open: no wait).
    ``called`` is set at the first call, so a test knows a run is in flight."""

    name = "gated-demo"

    def __init__(self, open_: bool = True) -> None:
        super().__init__()
        self._inner = demo_model(QUICK)
        self.gate = anyio.Event()
        self.called = anyio.Event()
        if open_:
            self.gate.set()

    def close_gate(self) -> None:
        """Calls from now on wait again (until ``gate.set()``)."""
        self.gate = anyio.Event()
        self.called = anyio.Event()

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> ChatResponse:
        self.called.set()
        await self.gate.wait()
        return await self._inner.complete(
            messages, tools=tools, response_format=response_format, settings=settings
        )

    async def complete_streamed(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
        text: TextSink,
    ) -> ChatResponse:
        self.called.set()
        await self.gate.wait()
        return await self._inner.complete_streamed(
            messages, tools=tools, response_format=response_format, settings=settings, text=text
        )

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ChatDelta]:
        self.called.set()
        await self.gate.wait()
        async for delta in self._inner.stream(
            messages, tools=tools, response_format=response_format, settings=settings
        ):
            yield delta


@dataclass
class Api:
    """A running daemon and a client session on it."""

    daemon: Daemon
    http: aiohttp.ClientSession
    model: GatedModel
    workspace: Path
    store_file: Path
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> RunService:
        assert self.daemon.service is not None
        return self.daemon.service

    async def create(self, body: dict[str, Any] | None = None, **headers: str) -> str:
        """POST a run (the demo task unless ``body``); its id. Fails unless 202."""
        async with self.http.post(
            "/v1/runs", json=body or {"task": TASK}, headers={**self.headers, **headers}
        ) as reply:
            data = await reply.json()
            assert reply.status == 202, data
            return str(data["id"])

    async def view(self, run_id: str) -> dict[str, Any]:
        async with self.http.get(f"/v1/runs/{run_id}", headers=self.headers) as reply:
            assert reply.status == 200
            data: dict[str, Any] = await reply.json()
            return data

    async def finished(self, run_id: str, within: float = 30) -> dict[str, Any]:
        """The run once it has ended (through ``/wait``)."""
        with anyio.fail_after(within):
            while True:
                async with self.http.get(
                    f"/v1/runs/{run_id}/wait", params={"timeout": "10"}, headers=self.headers
                ) as reply:
                    data: dict[str, Any] = await reply.json()
                if data["status"] in FINAL:
                    return data

    async def in_flight(self, run_id: str, within: float = 10) -> None:
        """Until the run has started (its planner call reached the model)."""
        with anyio.fail_after(within):
            await self.model.called.wait()
            while (await self.view(run_id))["status"] not in ("planning", "running"):
                await anyio.sleep(0.01)

    async def state(self) -> tuple[int, frozenset[str]]:
        """What a refused request must not change: how many runs, and every file."""
        counts = await self.service.store.count_by_status()
        return sum(counts.values()), files_under(self.workspace)


def files_under(root: Path) -> frozenset[str]:
    if not root.exists():
        return frozenset()
    return frozenset(str(p.relative_to(root)) for p in root.rglob("*"))


@asynccontextmanager
async def running_api(
    tmp_path: Path,
    *,
    gate_open: bool = True,
    token: str | None = None,
    settings: RuntimeSettings | None = None,
    **config: Any,
) -> AsyncIterator[Api]:
    """A daemon on 127.0.0.1 (any free port), its store and workspace under ``tmp_path``;
    ``settings``: the runtime's (its defaults when None)."""
    model = GatedModel(open_=gate_open)
    workspace = tmp_path / "ws"
    store_file = tmp_path / "runs.sqlite3"
    runtime = Runtime(
        model,
        workspace=workspace,
        settings=settings,
        agent_options={"image": {"backend": "offline"}},
    )
    if token is not None:
        config["tokens"] = (token,)
    daemon_config = DaemonConfig(port=0, store=store_file, **config)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        Daemon(runtime, daemon_config) as daemon,
        aiohttp.ClientSession(daemon.url) as http,
    ):
        try:
            yield Api(daemon, http, model, workspace, store_file, headers)
        finally:
            model.gate.set()  # let runs end, so the daemon stops promptly


@dataclass
class Sse:
    """One SSE message: ``comment`` for ``: ping`` lines, else id/event/data."""

    id: int | None = None
    event: str | None = None
    data: dict[str, Any] | None = None
    comment: str | None = None


async def sse_messages(reply: aiohttp.ClientResponse) -> AsyncIterator[Sse]:
    """The messages of an event stream, as they arrive, until it ends."""
    current = Sse()
    async for raw in reply.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if current != Sse():
                yield current
            current = Sse()
        elif line.startswith(":"):
            yield Sse(comment=line[1:].strip())
        else:
            name, _, value = line.partition(": ")
            if name == "id":
                current.id = int(value)
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data = json.loads(value)


async def error_of(reply: aiohttp.ClientResponse) -> tuple[int, str, str]:
    """A refused request's status, error code and message; fails unless it is an ErrorBody."""
    assert reply.content_type == "application/json", reply.content_type
    body = await reply.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    message = body["error"]["message"]
    assert message and "\n" not in message and "Traceback" not in message
    return reply.status, body["error"]["code"], message
