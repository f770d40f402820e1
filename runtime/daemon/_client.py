"""``RelayClient``: the daemon's HTTP API from async Python, one method per endpoint.

::

    async with RelayClient("http://127.0.0.1:8080", token=token) as relay:
        accepted = await relay.submit("Summarise notes.md", inputs=["notes.md"])
        async for event in relay.events(accepted.id):
            print(event.seq, event.type)
        view = await relay.get(accepted.id)

Replies are parsed with the same pydantic models the server is built on (``_api``), and
requests are validated with them before they are sent, so a bad task or setting is refused
here with the field named, not after a round trip.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

import anyio
from pydantic import ValidationError

from agent_relay.bus import one_line

from .._inputs import InputError
from ..engine._approvals import ApprovalDecision, Decision
from ._api import (
    FINAL_RUN_STATUSES,
    Health,
    InputUpload,
    RunAccepted,
    RunDelta,
    RunEvent,
    RunList,
    RunOverrides,
    RunRequest,
    RunStatus,
    RunView,
)
from ._client_errors import RelayClientError
from ._client_events import Reconnect, run_events
from ._client_http import Transport, parse_base_url, segment
from ._sse import MAX_LINE_BYTES

#: The longest single server-side wait asked for; ``wait()`` loops over such waits. Below
#: the daemon's default ``max_wait_s`` (300), and short enough that a dead server is noticed.
WAIT_SLICE_S = 30.0
#: ``artifact()`` refuses a file larger than this by default (bytes); ``download()`` does not
#: hold a file in memory and has no such bound.
MAX_ARTIFACT_BYTES = 64 * 2**20
_COPY_CHUNK = 256 * 1024


#: A plan as steps ``{id, agent, prompt, depends_on}`` (``list`` is a method's name below).
PlanSteps = list[dict[str, Any]]


class RelayClient:
    """A client of one relay daemon at ``base_url`` (``http://host:port``), used as
    ``async with``. ``token``: the bearer token (never logged, never in a message);
    ``timeout``: seconds to connect and for each read (a long wait or an event stream may
    last longer as a whole, but never stays silent longer than this).

    Every method raises ``RelayClientError`` for a refused request (``.status``, ``.code``,
    ``.message`` from the server's ``ErrorBody``: 401 ``unauthorized``, 404 ``not_found``,
    409, 422 ``invalid_request``, 429...) and ``RelayConnectionError`` (a subclass) when the
    server cannot be reached.

    Raises:
        RelayClientError: (constructing) ``base_url`` is not an http(s) address.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        reconnect: Reconnect | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be above 0 seconds")
        self.base_url = str(parse_base_url(base_url))
        self.timeout = timeout
        self.reconnect = reconnect or Reconnect()
        self.max_line_bytes = max_line_bytes
        self._transport = Transport(parse_base_url(base_url), token, timeout)

    def __repr__(self) -> str:
        return f"<RelayClient {self.base_url}>"

    async def __aenter__(self) -> RelayClient:
        await self._transport.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections. The client can be entered again afterwards."""
        await self._transport.close()

    # -- runs -----------------------------------------------------------------------------

    async def submit(
        self,
        task: str,
        *,
        inputs: Sequence[str | os.PathLike[str]] = (),
        settings: RunOverrides | Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
        webhook: str | None = None,
        idempotency_key: str | None = None,
    ) -> RunAccepted:
        """Send a run: ``task`` in words; ``inputs``, files read here and uploaded (each
        under its own name, no folders); ``settings``, the run's overrides; ``metadata``,
        labels returned as given; ``webhook``, an URL the server POSTs the run to when it
        ends; ``idempotency_key``, the same key and body give back the same run.

        Raises:
            InputError: an input is missing, not a file, unreadable, or two share a name.
            RelayClientError: the request is invalid (``invalid_request``, checked here
                first), or the server refused it (409 key reused with another body, 422,
                429 queue full...).
        """
        uploads = [await _upload(Path(p)) for p in inputs]
        names = [u.name for u in uploads]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise InputError(f"two inputs are named {dup!r}; the run's folder holds one name once")
        try:
            overrides = (
                settings
                if isinstance(settings, RunOverrides)
                else RunOverrides.model_validate(dict(settings or {}))
            )
        except ValidationError as exc:
            raise _invalid(exc, "settings") from None
        try:
            request = RunRequest(
                task=task,
                inputs=uploads,
                settings=overrides,
                metadata=dict(metadata or {}),
                webhook=webhook,
            )
        except ValidationError as exc:
            raise _invalid(exc) from None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        async with self._transport.request(
            "POST",
            "/v1/runs",
            json_body=request.model_dump(mode="json", exclude_none=True),
            headers=headers,
        ) as response:
            return await self._transport.model(response, RunAccepted)

    async def get(self, run_id: str) -> RunView:
        """The run as it stands. Raises RelayClientError 404 for an unknown run."""
        async with self._transport.request("GET", _run(run_id)) as response:
            return await self._transport.model(response, RunView)

    async def list(
        self, *, status: RunStatus | None = None, limit: int = 50, cursor: str | None = None
    ) -> RunList:
        """One page of runs, newest first (``limit`` 1-200); pass ``next_cursor`` on for the
        next. Raises RelayClientError 400 for a cursor the server did not give out."""
        params = {"limit": str(limit)}
        if status is not None:
            params["status"] = status
        if cursor is not None:
            params["cursor"] = cursor
        async with self._transport.request("GET", "/v1/runs", params=params) as response:
            return await self._transport.model(response, RunList)

    async def iter_runs(
        self, *, status: RunStatus | None = None, page_size: int = 100
    ) -> AsyncIterator[RunView]:
        """Every run, newest first, page by page."""
        cursor: str | None = None
        while True:
            page = await self.list(status=status, limit=page_size, cursor=cursor)
            for run in page.runs:
                yield run
            if not page.next_cursor or not page.runs:
                return
            cursor = page.next_cursor

    # A timeout parameter, not a cancel scope: reaching it is a normal answer (the run as it
    # stands), and it is passed on to the server's own wait.
    async def wait(self, run_id: str, timeout: float | None = None) -> RunView:  # noqa: ASYNC109
        """The run once it is final, or as it stands after ``timeout`` seconds (``None``:
        no end). Waits on the server, ``WAIT_SLICE_S`` at a time.

        Raises:
            RelayClientError: 404 unknown run (or deleted while waited on).
        """
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        while True:
            left = deadline - anyio.current_time()
            slice_s = max(0.0, min(WAIT_SLICE_S, left))
            async with self._transport.request(
                "GET",
                f"{_run(run_id)}/wait",
                params={"timeout": f"{slice_s:.3f}"},
                read_timeout_s=slice_s + self.timeout,
            ) as response:
                view = await self._transport.model(response, RunView)
            if view.status in FINAL_RUN_STATUSES or anyio.current_time() >= deadline:
                return view

    async def cancel(self, run_id: str) -> RunView:
        """Cancel a run in flight; returns it as it stands (it ends ``cancelled`` shortly).

        Raises:
            RelayClientError: 404 unknown; 409 ``finished``, the run has already ended.
        """
        async with self._transport.request("POST", f"{_run(run_id)}/cancel") as response:
            return await self._transport.model(response, RunView)

    async def delete(self, run_id: str) -> None:
        """Remove the run, its events and files (a run in flight is cancelled first).

        Raises:
            RelayClientError: 404 unknown; 409 the run did not stop.
        """
        async with self._transport.request("DELETE", _run(run_id)):
            return

    async def artifact(
        self, run_id: str, path: str, *, max_bytes: int = MAX_ARTIFACT_BYTES
    ) -> bytes:
        """The bytes of file ``path`` (relative to the run's folder).

        Raises:
            RelayClientError: 404 no such file; ``too_large`` over ``max_bytes``.
        """
        async with self._transport.request("GET", _artifact(run_id, path)) as response:
            data = await response.content.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise RelayClientError(
                    f"artifact {path!r} is over {max_bytes} bytes; use download() instead",
                    code="too_large",
                )
            return data

    async def download(self, run_id: str, path: str, destination: str | os.PathLike[str]) -> int:
        """Stream file ``path`` of the run to ``destination`` (written whole or not at all:
        to a temporary name beside it, renamed at the end); returns its size in bytes.

        Raises:
            RelayClientError: 404 no such file.
            OSError: ``destination`` cannot be written.
        """
        target = anyio.Path(destination)
        partial = target.with_name(f".{target.name}.part")
        size = 0
        async with self._transport.request("GET", _artifact(run_id, path)) as response:
            try:
                async with await anyio.open_file(partial, "wb") as out:
                    async for chunk in response.content.iter_chunked(_COPY_CHUNK):
                        await out.write(chunk)
                        size += len(chunk)
                await partial.replace(target)
            finally:
                if await partial.exists():
                    await partial.unlink()
        return size

    # -- approvals ------------------------------------------------------------------------

    async def decide(self, run_id: str, approval_id: str, decision: Decision) -> ApprovalDecision:
        """Decide a pending approval of a run in flight (see ``RunView.approvals``).

        Raises:
            RelayClientError: 404 unknown run or approval; 409 ``decided`` already or
                ``not_running`` (queued, being started, ended); 422 ``invalid_decision``
                (edited arguments that break the tool's schema, a plan that cannot run).
        """
        if not approval_id:
            raise RelayClientError("an approval id is required", code="invalid_request")
        async with self._transport.request(
            "POST",
            f"{_run(run_id)}/approvals/{segment(approval_id)}",
            json_body=decision.model_dump(mode="json", exclude_none=True),
        ) as response:
            return await self._transport.model(response, ApprovalDecision)

    async def approve(
        self,
        run_id: str,
        approval_id: str,
        *,
        arguments: dict[str, Any] | None = None,
        plan: PlanSteps | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> ApprovalDecision:
        """Approve: a tool call (with edited ``arguments`` to run it with those instead) or a
        plan (an edited ``plan`` of ``{id, agent, prompt, depends_on}`` steps instead).

        Raises:
            RelayClientError: as ``decide``; ``invalid_request`` for arguments and a plan
                together (checked here).
        """
        return await self.decide(
            run_id,
            approval_id,
            _decision("approve", arguments=arguments, plan=plan, reason=reason, by=by),
        )

    async def reject(
        self, run_id: str, approval_id: str, reason: str | None = None, *, by: str | None = None
    ) -> ApprovalDecision:
        """Reject: a tool call does not run (the model reads ``reason``); a rejected plan
        ends the run ``cancelled``.

        Raises:
            RelayClientError: as ``decide``.
        """
        return await self.decide(run_id, approval_id, _decision("reject", reason=reason, by=by))

    @overload
    def events(
        self, run_id: str, *, after: int = 0, deltas: Literal[False] = False
    ) -> AsyncIterator[RunEvent]: ...

    @overload
    def events(
        self, run_id: str, *, after: int = 0, deltas: Literal[True]
    ) -> AsyncIterator[RunEvent | RunDelta]: ...

    def events(
        self, run_id: str, *, after: int = 0, deltas: bool = False
    ) -> AsyncIterator[RunEvent] | AsyncIterator[RunEvent | RunDelta]:
        """The run's events after sequence number ``after``, each once and in order, live
        until ``task.done`` (the last one yielded). A dropped connection is resumed with
        ``Last-Event-ID`` (see ``Reconnect``). With ``deltas``, the steps' text as it is
        written comes too, as ``RunDelta``s in their places among the events: live only,
        so those sent while the connection was down are not replayed.

        Raises:
            RelayClientError: 404 unknown run; ``bad_reply`` a malformed event or delta, or
                a line over ``max_line_bytes``.
            RelayConnectionError: ``reconnect.attempts`` failed in a row.
        """
        return run_events(
            self._transport, run_id, after, self.reconnect, self.max_line_bytes, deltas
        )

    # -- the server ----------------------------------------------------------------------

    async def health(self) -> Health:
        """``/healthz``: ``status`` is ``ok`` while the server runs."""
        async with self._transport.request("GET", "/healthz") as response:
            return await self._transport.model(response, Health)

    async def metrics(self) -> str:
        """``/metrics`` in the Prometheus text format."""
        async with self._transport.request("GET", "/metrics") as response:
            return await response.text()


def _invalid(exc: ValidationError, prefix: str = "") -> RelayClientError:
    """The first problem of a request as one line naming the field (and how many more)."""
    error = exc.errors()[0]
    where = (
        ".".join(
            [prefix, *(str(p) for p in error["loc"])] if prefix else [str(p) for p in error["loc"]]
        )
        or "request"
    )
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return RelayClientError(f"{where}: {one_line(error['msg'], 200)}{more}", code="invalid_request")


def _decision(kind: str, **fields: Any) -> Decision:
    try:
        return Decision.model_validate({"decision": kind, **fields})
    except ValidationError as exc:
        raise _invalid(exc) from None


def _run(run_id: str) -> str:
    if not run_id:
        raise RelayClientError("a run id is required", code="invalid_request")
    return f"/v1/runs/{segment(run_id)}"


def _artifact(run_id: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise RelayClientError("an artifact path is required", code="invalid_request")
    return f"{_run(run_id)}/artifacts/" + "/".join(segment(p) for p in parts)


async def _upload(path: Path) -> InputUpload:
    try:
        if not await anyio.Path(path).is_file():
            what = "a folder" if await anyio.Path(path).is_dir() else "missing"
            raise InputError(f"input {str(path)!r} is {what}; give files (a run takes no folders)")
        data = await anyio.Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read input {str(path)!r}: {exc.strerror or exc}") from None
    try:
        return InputUpload(name=path.name, content_base64=base64.b64encode(data).decode())
    except ValidationError:
        raise InputError(
            f"input {path.name!r}: the server takes names of letters, digits, '.', '_', '-' "
            "and spaces; rename the file"
        ) from None
