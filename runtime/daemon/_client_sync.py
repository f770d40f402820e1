"""``RelayClientSync``: the same client for scripts that are not async.

It runs one ``RelayClient`` on an event loop of its own, in a thread of its own (an anyio
blocking portal), for as long as the sync client is open. Why not ``anyio.run`` per call:
an aiohttp session belongs to the loop it was made on, so a loop per call would mean a
new session (and new connections) per call, an event stream could not be read a piece at
a time, and ``anyio.run`` refuses to start inside a thread that already runs a loop (a
notebook, an async app calling a sync helper); the portal's thread has none of those
problems.

::

    with RelayClientSync("http://127.0.0.1:8080") as relay:
        run = relay.submit("Summarise notes.md", inputs=["notes.md"])
        print(relay.wait(run.id).answer)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Literal, overload

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ..engine._approvals import ApprovalDecision, Decision
from ._api import Health, RunAccepted, RunDelta, RunEvent, RunList, RunOverrides, RunStatus, RunView
from ._client import MAX_ARTIFACT_BYTES, PlanSteps, RelayClient
from ._client_events import Reconnect


class RelayClientSync:
    """``RelayClient``'s methods, blocking; arguments, results and errors as there. Open
    from construction until ``close()`` (or the end of a ``with`` block).

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
    ) -> None:
        self._client = RelayClient(base_url, token=token, timeout=timeout, reconnect=reconnect)
        self.base_url = self._client.base_url
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = self._stack.enter_context(start_blocking_portal())
        try:
            self._portal.call(self._client.__aenter__)
        except BaseException:
            self._stack.close()
            raise

    def __repr__(self) -> str:
        return f"<RelayClientSync {self.base_url}>"

    def __enter__(self) -> RelayClientSync:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the loop's thread. Closing twice does nothing."""
        portal, self._portal = self._portal, None
        if portal is not None:
            try:
                portal.call(self._client.aclose)
            finally:
                self._stack.close()

    def _call_portal(self) -> BlockingPortal:
        if self._portal is None:
            raise RuntimeError("this RelayClientSync is closed")
        return self._portal

    def submit(
        self,
        task: str,
        *,
        inputs: Sequence[str | os.PathLike[str]] = (),
        settings: RunOverrides | Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
        webhook: str | None = None,
        idempotency_key: str | None = None,
    ) -> RunAccepted:
        async def call() -> RunAccepted:
            return await self._client.submit(
                task,
                inputs=inputs,
                settings=settings,
                metadata=metadata,
                webhook=webhook,
                idempotency_key=idempotency_key,
            )

        return self._call_portal().call(call)

    def get(self, run_id: str) -> RunView:
        return self._call_portal().call(self._client.get, run_id)

    def list(
        self, *, status: RunStatus | None = None, limit: int = 50, cursor: str | None = None
    ) -> RunList:
        async def call() -> RunList:
            return await self._client.list(status=status, limit=limit, cursor=cursor)

        return self._call_portal().call(call)

    def iter_runs(
        self, *, status: RunStatus | None = None, page_size: int = 100
    ) -> Iterator[RunView]:
        cursor: str | None = None
        while True:
            page = self.list(status=status, limit=page_size, cursor=cursor)
            yield from page.runs
            if not page.next_cursor or not page.runs:
                return
            cursor = page.next_cursor

    def wait(self, run_id: str, timeout: float | None = None) -> RunView:
        return self._call_portal().call(self._client.wait, run_id, timeout)

    def cancel(self, run_id: str) -> RunView:
        return self._call_portal().call(self._client.cancel, run_id)

    def delete(self, run_id: str) -> None:
        self._call_portal().call(self._client.delete, run_id)

    def artifact(self, run_id: str, path: str, *, max_bytes: int = MAX_ARTIFACT_BYTES) -> bytes:
        async def call() -> bytes:
            return await self._client.artifact(run_id, path, max_bytes=max_bytes)

        return self._call_portal().call(call)

    def download(self, run_id: str, path: str, destination: str | os.PathLike[str]) -> int:
        return self._call_portal().call(self._client.download, run_id, path, destination)

    def decide(self, run_id: str, approval_id: str, decision: Decision) -> ApprovalDecision:
        return self._call_portal().call(self._client.decide, run_id, approval_id, decision)

    def approve(
        self,
        run_id: str,
        approval_id: str,
        *,
        arguments: dict[str, Any] | None = None,
        plan: PlanSteps | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> ApprovalDecision:
        async def call() -> ApprovalDecision:
            return await self._client.approve(
                run_id, approval_id, arguments=arguments, plan=plan, reason=reason, by=by
            )

        return self._call_portal().call(call)

    def reject(
        self, run_id: str, approval_id: str, reason: str | None = None, *, by: str | None = None
    ) -> ApprovalDecision:
        async def call() -> ApprovalDecision:
            return await self._client.reject(run_id, approval_id, reason, by=by)

        return self._call_portal().call(call)

    @overload
    def events(
        self, run_id: str, *, after: int = 0, deltas: Literal[False] = False
    ) -> Iterator[RunEvent]: ...

    @overload
    def events(
        self, run_id: str, *, after: int = 0, deltas: Literal[True]
    ) -> Iterator[RunEvent | RunDelta]: ...

    def events(
        self, run_id: str, *, after: int = 0, deltas: bool = False
    ) -> Iterator[RunEvent] | Iterator[RunEvent | RunDelta]:
        """As ``RelayClient.events``; leaving the loop early closes the stream."""
        return self._events(run_id, after, deltas)

    def _events(self, run_id: str, after: int, deltas: bool) -> Iterator[RunEvent | RunDelta]:
        portal = self._call_portal()
        stream: AsyncIterator[RunEvent | RunDelta]
        if deltas:
            stream = self._client.events(run_id, after=after, deltas=True)
        else:
            stream = self._client.events(run_id, after=after)
        try:
            while True:
                try:
                    event = portal.call(stream.__anext__)
                except StopAsyncIteration:
                    return
                yield event
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None and self._portal is not None:
                portal.call(aclose)

    def health(self) -> Health:
        return self._call_portal().call(self._client.health)

    def metrics(self) -> str:
        return self._call_portal().call(self._client.metrics)
