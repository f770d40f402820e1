"""``RemoteRun``: a daemon's run, followed through its event stream the way a view follows a
``TaskHandle``. Each ``RunEvent`` becomes the bus ``Event`` it was recorded from (same topic,
type, time and data), so the live and plain views need not know where a task runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent_relay.bus import Event

from ..daemon._api import RunEvent
from ..daemon._client import RelayClient
from ..engine._result import TaskResult


class RemoteRun:
    """Run ``task_id`` of the daemon ``client`` talks to; ``events()`` reads it from the
    start (the views rebuild the plan from its events), once; with ``deltas``, the steps'
    text as it is written too (``step.delta``)."""

    def __init__(self, client: RelayClient, task_id: str, *, deltas: bool = False) -> None:
        self.client = client
        self.task_id = task_id
        self.deltas = deltas
        self._result: TaskResult | None = None

    async def events(self) -> AsyncIterator[Event]:
        """Raises RelayClientError / RelayConnectionError as ``RelayClient.events``."""
        stream = (
            self.client.events(self.task_id, deltas=True)
            if self.deltas
            else self.client.events(self.task_id)
        )
        async for remote in stream:
            event = Event(
                topic=remote.topic,
                type=remote.type,
                time=remote.time,
                task_id=self.task_id,
                data=remote.data,
            )
            if isinstance(remote, RunEvent) and remote.type == "task.done":
                self._result = TaskResult.model_validate(remote.data)
            yield event

    async def result(self) -> TaskResult:
        """The run's result: from its ``task.done`` if ``events()`` saw it, else read to
        the end now."""
        if self._result is None:
            async for _ in self.events():
                pass
        assert self._result is not None  # the stream ends only after task.done
        return self._result
