"""The steps of one task as the master schedules them: by counting, not by waiting.

Each step counts the dependencies it still waits for, including those the plan named before
they arrived. When a step completes, its dependents count down, and those with nothing left
to wait for join the ready queue; when a step fails, is skipped or cancelled, its dependents
are skipped at once (and theirs, and so on), and independent branches go on. A step that
leaves the ready queue takes one of the task's ``max_parallel_steps`` slots (a limiter of
the task's own) and then a token of its agent's limiter (shared with other tasks); the graph
gives both back when the step closes.

Nothing here awaits or publishes: ``TaskRun`` does, and is told through ``on_change``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from agent_relay.bus import trusted, utc_now

from ..plans._plan import Step
from ._result import StepResult, pending_result
from ._steps import StepInput


@dataclass(slots=True, eq=False)
class StepNode:
    step: Step
    result: StepResult
    #: Dependencies not completed yet (including those that have not even arrived).
    waiting_on: int = 0
    dependents: list[StepNode] = field(default_factory=list)
    #: Terminal as far as scheduling goes: slot and token given back, dependents told.
    finished: bool = False
    #: Holds one of the task's ``max_parallel_steps`` slots / a token of its agent's limiter.
    #: Recorded here because a limiter answers "does this borrower hold a token?" only
    #: through ``statistics().borrowers``, a copy of all its borrowers; an agent's limiter is
    #: shared by every task in flight, so closing a step would cost a copy of them all.
    has_slot: bool = False
    has_token: bool = False
    #: Only while the step waits for a token of a busy agent: what closing it cancels.
    waiting: anyio.CancelScope | None = None
    _input: StepInput | None = None
    _input_json: dict[str, Any] | None = None

    def input(self) -> StepInput:
        """The ``StepInput`` a dependent step is given of this one.

        Asked only once the step completed, when its result no longer changes, so it is built
        once and shared by the assignments of all its dependents, as is its JSON (events
        are never changed). Building and dumping one for every dependent instead cost 2-10%
        more CPU in ``benchmarks/concurrency.py --child relay 300`` (8 x 3 plans, where every
        step depends on the 8 of the layer above).
        """
        if self._input is None:
            result = self.result
            self._input = trusted(
                StepInput,
                {
                    "step_id": self.step.id,
                    "agent": self.step.agent,
                    "output": result.output,
                    "artifacts": result.artifacts,
                },
            )
        return self._input

    def input_json(self) -> dict[str, Any]:
        """The JSON of :meth:`input`, made once."""
        if self._input_json is None:
            self._input_json = self.input().model_dump(mode="json")
        return self._input_json


class StepGraph:
    def __init__(
        self,
        agent_limiters: Mapping[str, anyio.CapacityLimiter],
        max_parallel: int,
        on_change: Callable[[], None],
    ) -> None:
        self._limiters = agent_limiters
        self._slots = anyio.CapacityLimiter(max_parallel)
        self._on_change = on_change
        self._nodes: dict[str, StepNode] = {}
        self._open = 0
        self._awaited: dict[str, list[StepNode]] = {}  # by the id they named before it came
        self._ready: deque[StepNode] = deque()
        #: Outcomes the master decided without an agent (skips), still to be published.
        self.verdicts: deque[StepNode] = deque()

    @property
    def open(self) -> int:
        """How many steps were added and are not finished."""
        return self._open

    def __iter__(self) -> Iterator[StepNode]:
        return iter(self._nodes.values())

    def __contains__(self, step_id: str) -> bool:
        return step_id in self._nodes

    def get(self, step_id: str) -> StepNode | None:
        return self._nodes.get(step_id)

    def dependencies(self, node: StepNode) -> list[StepNode]:
        """The step's dependencies, in the order the plan names them."""
        nodes = self._nodes
        return [nodes[d] for d in node.step.depends_on]

    def add(self, step: Step) -> StepNode:
        """Record a step that arrived, linked to its dependencies: ready when it waits for
        nothing, skipped when one of them already failed. Its id must be new."""
        node = StepNode(step=step, result=pending_result(step))
        self._nodes[step.id] = node
        self._open += 1
        broken: str | None = None
        for dep_id in step.depends_on:
            dep = self._nodes.get(dep_id)
            if dep is None:
                self._awaited.setdefault(dep_id, []).append(node)
                node.waiting_on += 1
            elif not dep.finished:
                dep.dependents.append(node)
                node.waiting_on += 1
            elif dep.result.status != "completed" and broken is None:
                broken = _dependency_problem(dep)
        # Steps that named this one before it came wait for it like for any other.
        node.dependents.extend(self._awaited.pop(step.id, ()))
        if broken is not None:
            self.skip(node, broken)
        elif node.waiting_on == 0:
            self._ready.append(node)
        self._on_change()
        return node

    def add_done(self, step: Step, result: StepResult) -> StepNode:
        """Record a step that completed before (a checkpoint's result): finished at once, it
        waits for nothing and holds no slot, and the steps that wait for it count down. Its
        id must be new; ``result`` is its completed result."""
        node = StepNode(step=step, result=result, finished=True)
        self._nodes[step.id] = node
        # Its own dependencies are not told of it: whatever they do now cannot change it.
        node.dependents.extend(self._awaited.pop(step.id, ()))
        self.propagate(node)
        self._on_change()
        return node

    def fresh_id(self, base: str) -> str:
        n = 2
        while f"{base}-{n}" in self._nodes:
            n += 1
        return f"{base}-{n}"

    def dangling(self) -> dict[str, str]:
        """Steps waiting for ids that never arrived: they can never run."""
        found = {}
        for sid, node in self._nodes.items():
            missing = [d for d in node.step.depends_on if d not in self._nodes]
            if missing:
                found[sid] = f"depends on unknown step(s) {', '.join(missing)}"
        return found

    def next_ready(self) -> StepNode | None:
        """A ready step, holding one of the task's slots now; None when none is ready or
        every slot is taken."""
        while self._ready:
            node = self._ready[0]
            if node.finished:  # cancelled while it waited
                self._ready.popleft()
                continue
            try:
                self._slots.acquire_on_behalf_of_nowait(node)
            except anyio.WouldBlock:
                return None
            self._ready.popleft()
            node.has_slot = True
            return node
        return None

    def take_token(self, node: StepNode) -> bool:
        """Take a token of the step's agent's limiter if one is free at once."""
        try:
            self._limiters[node.step.agent].acquire_on_behalf_of_nowait(node)
        except anyio.WouldBlock:
            return False
        node.has_token = True
        return True

    async def wait_for_token(self, node: StepNode) -> None:
        """Wait for a token of the step's agent's limiter; closing the step stops the wait.
        Then ``node.has_token`` says whether it got one."""
        limiter = self._limiters[node.step.agent]
        try:
            with anyio.CancelScope() as node.waiting:
                await limiter.acquire_on_behalf_of(node)
                node.has_token = True
        finally:
            node.waiting = None
        if node.has_token and node.finished:  # closed just as it got the token
            self._give_token_back(node)

    def close(self, node: StepNode) -> None:
        """The step is terminal: give its slot and token back. Idempotent."""
        if node.finished:
            return
        node.finished = True
        self._open -= 1
        if node.has_slot:
            node.has_slot = False
            self._slots.release_on_behalf_of(node)
        if node.has_token:
            self._give_token_back(node)
        if node.waiting is not None:
            node.waiting.cancel()
        self._on_change()

    def detach(self) -> None:
        """The task has ended: drop the callback into it, so that the task and this graph
        (which refer to each other) are freed by reference counting the moment the task is
        let go, rather than waiting for the cyclic garbage collector, whose passes cost more
        the more objects are alive."""
        self._on_change = _ignore

    def give_tokens_back(self) -> None:
        """Whatever happened to the task, the agents' limiters (shared with other tasks) get
        their tokens back."""
        for node in self._nodes.values():
            if node.has_token:
                self._give_token_back(node)

    def propagate(self, node: StepNode) -> None:
        """Tell a closed step's dependents: one wait less, or they cannot run."""
        completed = node.result.status == "completed"
        for dependent in node.dependents:
            if dependent.finished:
                continue
            if not completed:
                self.skip(dependent, _dependency_problem(node))
            else:
                dependent.waiting_on -= 1
                if dependent.waiting_on == 0:
                    self._ready.append(dependent)

    def skip(self, node: StepNode, reason: str) -> None:
        """The step cannot run: close it, queue its verdict, and skip its dependents too."""
        node.result.status = "skipped"
        node.result.error = reason
        node.result.finished_at = node.result.finished_at or utc_now()
        self.close(node)
        self.verdicts.append(node)
        self.propagate(node)

    def _give_token_back(self, node: StepNode) -> None:
        node.has_token = False
        self._limiters[node.step.agent].release_on_behalf_of(node)


def _dependency_problem(dep: StepNode) -> str:
    status = dep.result.status
    return f"dependency {dep.step.id} {'was skipped' if status == 'skipped' else status}"


def _ignore() -> None:
    pass
