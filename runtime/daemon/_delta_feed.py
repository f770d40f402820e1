"""The live ``step.delta`` events of runs, for the event streams watching them.

Deltas (the text a step's model writes, as it comes) are not stored: the stored result holds
the whole text, and a run's history should not grow by a row per tenth of a second. So they
reach an event stream by another way than its stored events: each stream watching a run has
a queue here, and the service puts a run's deltas in its streams' queues as they come off the
bus. A queue holds at most ``buffer`` deltas; a stream too slow to keep up loses the oldest
(its ``dropped`` counts them, and the deltas' offsets show the gap), never the stored events.

Order: a delta is tagged with the sequence number of the run's last stored event when it came
(``after``), and a stream sends it after that event and before the next one, so deltas and
stored events reach a reader in the order they were published (a step's deltas before its
ending).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ._api import RunDelta


@dataclass(eq=False)
class DeltaQueue:
    """One stream's deltas of one run, oldest first, each after the stored event ``after``."""

    buffer: int
    items: deque[tuple[int, RunDelta]] = field(default_factory=deque)
    dropped: int = 0

    def put(self, after: int, delta: RunDelta) -> None:
        if len(self.items) >= self.buffer:
            self.items.popleft()
            self.dropped += 1
        self.items.append((after, delta))

    def take_before(self, seq: int) -> list[RunDelta]:
        """The deltas that came before stored event ``seq``, removed from the queue."""
        taken = []
        while self.items and self.items[0][0] < seq:
            taken.append(self.items.popleft()[1])
        return taken


class DeltaFeed:
    """Every run's delta queues, and the last stored event of each run being watched."""

    def __init__(self, buffer: int = 1024) -> None:
        self.buffer = buffer
        self._queues: dict[str, list[DeltaQueue]] = {}
        self._last_seq: dict[str, int] = {}

    @contextmanager
    def watch(self, run_id: str, after: int) -> Iterator[DeltaQueue]:
        """A queue of the run's deltas from now on, for the block; ``after``: the last stored
        event the stream has read so far (the tag of deltas until the service says more)."""
        queue = DeltaQueue(self.buffer)
        self._queues.setdefault(run_id, []).append(queue)
        self._last_seq[run_id] = max(self._last_seq.get(run_id, 0), after)
        try:
            yield queue
        finally:
            queues = self._queues.get(run_id, [])
            if queue in queues:
                queues.remove(queue)
            if not queues:
                self._queues.pop(run_id, None)
                self._last_seq.pop(run_id, None)

    def watched(self, run_id: str) -> bool:
        return run_id in self._queues

    def stored(self, run_id: str, seq: int) -> None:
        """The run's events up to ``seq`` are stored."""
        if run_id in self._queues:
            self._last_seq[run_id] = max(self._last_seq.get(run_id, 0), seq)

    def publish(self, delta: RunDelta) -> bool:
        """Queue ``delta`` for every stream watching its run; whether any does."""
        queues = self._queues.get(delta.run_id)
        if not queues:
            return False
        after = self._last_seq.get(delta.run_id, 0)
        for queue in queues:
            queue.put(after, delta)
        return True
