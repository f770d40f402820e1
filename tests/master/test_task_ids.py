"""Task ids name workspace folders: unique across processes, a forked child included, and
sortable by creation time. And the one error root the runtime shares with the bus."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from agent_relay.bus import BusClosedError
from agent_relay.bus import RelayError as BusRelayError
from agent_relay.runtime import RelayError, new_task_id


def _task_ids_in_child(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([new_task_id() for _ in range(200)])


def _ms(task_id: str) -> int:
    return int(task_id[1:10], 32)  # "t", then 9 base-32 digits of milliseconds


def test_a_forked_child_makes_task_ids_of_its_own_that_sort_by_creation_time() -> None:
    before = [new_task_id() for _ in range(200)]  # the parent's state at fork time
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    process = context.Process(target=_task_ids_in_child, args=(queue,))
    process.start()
    child = queue.get(timeout=30)
    process.join(timeout=30)
    assert process.exitcode == 0
    # Across processes ids sort by the millisecond: wait for the clock to pass the child's.
    while time.time_ns() // 1_000_000 <= _ms(child[-1]):
        pass
    after = [new_task_id() for _ in range(200)]
    made = before + child + after
    assert len(set(made)) == len(made)
    assert sorted(made) == made
    assert all(len(task_id) == 20 for task_id in made)
    # The last 8 characters are the process's 40-bit tag: renewed in the child.
    assert {i[-8:] for i in child}.isdisjoint({i[-8:] for i in before + after})


def test_the_runtime_re_exports_the_one_error_root_of_the_bus() -> None:
    assert RelayError is BusRelayError
    with pytest.raises(RelayError):
        raise BusClosedError("closed")
