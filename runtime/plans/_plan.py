"""Plans: the graph of steps the master asks a model for, and the checks a plan must pass.

A plan is untrusted model output. ``Step`` and ``Plan`` hold only what passed; a ``Plan`` is
always a graph the scheduler can run (unique ids, every dependency present, no cycle), so its
helpers never meet a broken graph. Problems are collected, never stopped at the first one, so
the model gets every mistake back at once when it is asked to repair its plan.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .._errors import RelayError

STEP_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

#: An identifier that is safe in a bus topic (no dots, no wildcards) and short enough to read.
StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]

#: How many problems ``str(PlanError)`` shows; ``PlanError.problems`` always has all of them.
_SUMMARY_PROBLEMS = 10


class PlanError(RelayError):
    """A plan the model wrote cannot be run.

    ``problems`` lists every problem found, each a self-contained sentence naming the step and
    the field. ``invalid_steps`` holds the ids of steps that cannot run: steps rejected on their
    own and every step that depends, directly or not, on one of them, on an unknown step or on
    a cycle. A step the stream parser handed out whose id is not in ``invalid_steps`` is valid.
    """

    def __init__(self, problems: Sequence[str], *, invalid_steps: Iterable[str] = ()) -> None:
        self.problems: list[str] = list(problems) or ["the plan is invalid"]
        self.invalid_steps: set[str] = set(invalid_steps)
        super().__init__(self._summary())

    def _summary(self) -> str:
        count = len(self.problems)
        if count == 1:
            return f"plan rejected: {self.problems[0]}"
        shown = "; ".join(self.problems[:_SUMMARY_PROBLEMS])
        more = f"; and {count - _SUMMARY_PROBLEMS} more" if count > _SUMMARY_PROBLEMS else ""
        return f"plan rejected: {count} problems: {shown}{more}"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_plan_error, (self.problems, sorted(self.invalid_steps)))


def _rebuild_plan_error(problems: list[str], invalid_steps: list[str]) -> PlanError:
    return PlanError(problems, invalid_steps=invalid_steps)


class PlanLimits(BaseModel):
    """Bounds on what a model may plan; what goes past them is rejected, never truncated."""

    model_config = ConfigDict(frozen=True)

    max_steps: int = Field(default=32, ge=1)
    max_prompt_chars: int = Field(default=8000, ge=1)


class Step(BaseModel):
    """One unit of work: the agent that does it, its prompt, and the steps whose output it needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: StepId
    agent: NonBlank
    prompt: NonBlank
    depends_on: list[StepId] = Field(default_factory=list)


class Plan(BaseModel):
    """A runnable graph of steps, in the order the model wrote them.

    Constructing one checks the graph. Agent names and limits are not known here;
    ``parse_plan`` and ``PlanStreamParser`` check those.

    Raises:
        PlanError: (not a pydantic error) ids repeat, a dependency is missing, or the steps
            form a cycle.
    """

    model_config = ConfigDict(frozen=True)

    steps: list[Step]

    @model_validator(mode="after")
    def _check_graph(self) -> Plan:
        problems, invalid = graph_problems(self.steps)
        if problems:
            raise PlanError(problems, invalid_steps=invalid)
        return self

    @cached_property
    def _by_id(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    @cached_property
    def _dependents(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = {s.id: [] for s in self.steps}
        for s in self.steps:
            for dep in s.depends_on:
                children[dep].append(s.id)
        return children

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.steps]

    def step(self, sid: str) -> Step:
        """The step with this id.

        Raises:
            KeyError: no step has this id.
        """
        return self._by_id[sid]

    def dependents(self, sid: str) -> list[str]:
        """Ids of the steps that depend directly on ``sid``, in plan order."""
        return list(self._dependents[sid])

    def descendants(self, sid: str) -> list[str]:
        """Ids of every step that depends on ``sid`` directly or through others, in plan order."""
        found = _reachable(sid, self._dependents)
        return [s.id for s in self.steps if s.id in found]

    def roots(self) -> list[str]:
        """Ids of the steps that depend on nothing and can start at once."""
        return [s.id for s in self.steps if not s.depends_on]

    def topological_order(self) -> list[str]:
        """Every step id after all its dependencies; among ready steps, plan order wins."""
        position = {s.id: i for i, s in enumerate(self.steps)}
        waiting = {s.id: len(s.depends_on) for s in self.steps}
        ready = [position[sid] for sid, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            sid = self.steps[heapq.heappop(ready)].id
            order.append(sid)
            for child in self._dependents[sid]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, position[child])
        return order

    def critical_path_length(self, weights: Mapping[str, float] | None = None) -> float:
        """The longest chain of dependent steps: its number of steps, or with ``weights``
        (step id -> e.g. seconds) the largest sum of weights along a chain. No schedule can
        finish the plan faster than this, whatever the parallelism.

        Raises:
            ValueError: ``weights`` misses a step or has a negative weight.
        """
        if weights is not None:
            missing = [s.id for s in self.steps if s.id not in weights]
            if missing:
                raise ValueError(f"no weight for steps: {', '.join(missing)}")
            negative = [s.id for s in self.steps if weights[s.id] < 0]
            if negative:
                raise ValueError(f"negative weight for steps: {', '.join(negative)}")
        finish: dict[str, float] = {}
        for sid in self.topological_order():
            own = 1.0 if weights is None else float(weights[sid])
            start = max((finish[d] for d in self._by_id[sid].depends_on), default=0.0)
            finish[sid] = start + own
        return max(finish.values(), default=0.0)


def graph_problems(
    steps: Sequence[Step], rejected_ids: Collection[str] = (), existing: Collection[str] = ()
) -> tuple[list[str], set[str]]:
    """Check the graph the steps form: duplicate ids, self-dependencies, dependencies on steps
    that are not there (``rejected_ids`` names those that were there but failed their own
    checks; ``existing`` those that are there already, outside these steps: the running steps
    a repair continues) and cycles. Returns the problems and the ids of the steps that cannot
    run: the culprits and, transitively, every step that depends on one."""
    problems: list[str] = []
    bad: set[str] = set()
    by_id: dict[str, Step] = {}
    for s in steps:
        if s.id in by_id:
            problems.append(f"step {s.id}: duplicate id {s.id!r}")
            bad.add(s.id)
        else:
            by_id[s.id] = s
    for s in by_id.values():
        for dep in s.depends_on:
            if dep == s.id:
                problems.append(f"step {s.id}: depends on itself")
            elif dep in existing and dep not in by_id:
                continue
            elif dep in rejected_ids and dep not in by_id:
                problems.append(f"step {s.id}: depends on rejected step {dep!r}")
            elif dep not in by_id:
                problems.append(f"step {s.id}: depends on unknown step {dep!r}")
            else:
                continue
            bad.add(s.id)
    edges = {sid: [d for d in s.depends_on if d in by_id and d != sid] for sid, s in by_id.items()}
    for cycle in _cycles(list(by_id), edges):
        problems.append("cycle: " + " -> ".join(cycle))
        bad.update(cycle)
    dependents: dict[str, list[str]] = {sid: [] for sid in by_id}
    for sid, deps in edges.items():
        for dep in deps:
            dependents[dep].append(sid)
    invalid = set(bad)
    for sid in bad & by_id.keys():
        invalid |= _reachable(sid, dependents)
    return problems, invalid


def _reachable(start: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
    """Every node reachable from ``start`` by at least one edge (``start`` itself only when it
    lies on a cycle)."""
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen


def _cycles(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One shortest cycle per strongly connected group of steps, each written along
    ``depends_on`` from its first step in plan order back to that step."""
    # Steps that never become ready when steps whose dependencies are done are peeled off are
    # exactly those on a cycle or downstream of one; only those need a closer look.
    waiting = {sid: len(deps[sid]) for sid in order}
    dependents: dict[str, list[str]] = {sid: [] for sid in order}
    for sid in order:
        for dep in deps[sid]:
            dependents[dep].append(sid)
    ready = deque(sid for sid in order if waiting[sid] == 0)
    while ready:
        sid = ready.popleft()
        del waiting[sid]
        for child in dependents[sid]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    cycles: list[list[str]] = []
    grouped: set[str] = set()
    for sid in order:
        if sid not in waiting or sid in grouped:
            continue
        upstream = _reachable(sid, deps)
        if sid not in upstream:
            continue  # only downstream of a cycle
        group = upstream & _reachable(sid, dependents)
        grouped |= group
        cycles.append(_shortest_cycle(sid, deps, group))
    return cycles


def _shortest_cycle(start: str, deps: Mapping[str, Sequence[str]], group: set[str]) -> list[str]:
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for dep in deps[node]:
            if dep == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if dep in group and dep not in parent:
                parent[dep] = node
                queue.append(dep)
    raise AssertionError("a strongly connected group always holds a cycle")  # pragma: no cover
