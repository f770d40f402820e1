"""What the views follow: a task's id and its events, in order, ending after ``task.done``.

A ``TaskHandle`` (a task of this process) is one; ``RemoteRun`` (a run of a daemon, read
from its event stream) is another, so ``relay run`` and ``relay watch`` draw the same view.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from agent_relay.bus import Event


class Followed(Protocol):
    @property
    def task_id(self) -> str: ...

    def events(self) -> AsyncIterator[Event]: ...
