"""The master's step graph, driven through random plans, arrival orders and outcomes: a step
is handed out only once all its dependencies completed, a failure skips everything
downstream of it, every step ends exactly once, and slots and agent tokens all come back."""

from __future__ import annotations

import random

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_relay.runtime.engine._step_graph import StepGraph, StepNode
from agent_relay.runtime.plans._plan import Step


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[Step], dict[str, bool], int]:
    """Steps (each depending on some earlier ones), whether each would succeed, a seed."""
    count = draw(st.integers(1, 12))
    steps = []
    for i in range(count):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        steps.append(
            Step(
                id=f"s{i}",
                agent="a" if i % 2 else "b",
                prompt="p",
                depends_on=[f"s{d}" for d in sorted(deps)],
            )
        )
    succeeds = {s.id: draw(st.booleans()) or draw(st.booleans()) for s in steps}
    return steps, succeeds, draw(st.integers(0, 2**32))


def expected_statuses(steps: list[Step], succeeds: dict[str, bool]) -> dict[str, str]:
    status: dict[str, str] = {}
    for step in steps:  # in dependency order
        broken = any(status[d] != "completed" for d in step.depends_on)
        status[step.id] = "skipped" if broken else "completed" if succeeds[step.id] else "failed"
    return status


async def drive(
    steps: list[Step], succeeds: dict[str, bool], seed: int, max_parallel: int, tokens: int
) -> StepGraph:
    rng = random.Random(seed)
    limiters = {"a": anyio.CapacityLimiter(tokens), "b": anyio.CapacityLimiter(tokens)}
    graph = StepGraph(limiters, max_parallel, on_change=lambda: None)
    arriving = list(steps)
    rng.shuffle(arriving)  # dependents may arrive before what they depend on
    running: list[StepNode] = []
    waiting_for_token: list[StepNode] = []
    handed_out: set[str] = set()
    while True:
        while (node := graph.next_ready()) is not None:
            assert node.step.id not in handed_out
            for dep in node.step.depends_on:
                dep_node = graph.get(dep)
                assert dep_node is not None and dep_node.result.status == "completed"
            if graph.take_token(node):
                running.append(node)
            else:
                waiting_for_token.append(node)
            handed_out.add(node.step.id)
        slots = sum(1 for n in graph if n.has_slot)
        assert slots <= max_parallel
        assert all(n.has_token for n in running)
        choices = ["arrive"] * bool(arriving) + ["finish"] * bool(running)
        if not choices:
            assert not waiting_for_token, "stuck: steps wait for tokens nobody holds"
            return graph
        if rng.choice(choices) == "arrive":
            graph.add(arriving.pop())
        else:
            node = running.pop(rng.randrange(len(running)))
            node.result.status = "completed" if succeeds[node.step.id] else "failed"
            graph.close(node)
            graph.propagate(node)
            # a freed token goes to a step that waited for one, as the dispatcher's task would
            for waiter in list(waiting_for_token):
                if graph.take_token(waiter):
                    waiting_for_token.remove(waiter)
                    running.append(waiter)


@settings(max_examples=150, deadline=None)
@given(plans(), st.integers(1, 4), st.integers(1, 3))
def test_steps_run_after_their_dependencies_and_failures_skip_what_follows(
    plan: tuple[list[Step], dict[str, bool], int], max_parallel: int, tokens: int
) -> None:
    steps, succeeds, seed = plan
    graph = anyio.run(drive, steps, succeeds, seed, max_parallel, tokens)
    expected = expected_statuses(steps, succeeds)
    assert {n.step.id: n.result.status for n in graph} == expected
    assert graph.open == 0
    assert all(n.finished and not n.has_slot and not n.has_token for n in graph)
    skipped = [n for n in graph if n.result.status == "skipped"]
    assert {n.step.id for n in graph.verdicts} == {n.step.id for n in skipped}
    for node in skipped:  # the reason names a dependency that did not complete
        named = (node.result.error or "").split()[1]
        assert named in node.step.depends_on and expected[named] != "completed"


async def test_a_step_waiting_for_a_token_stops_waiting_when_closed() -> None:
    limiter = anyio.CapacityLimiter(1)
    graph = StepGraph({"a": limiter}, 4, on_change=lambda: None)
    first = graph.add(Step(id="x", agent="a", prompt="p"))
    second = graph.add(Step(id="y", agent="a", prompt="p"))
    assert graph.next_ready() is first and graph.take_token(first)
    assert graph.next_ready() is second and not graph.take_token(second)
    async with anyio.create_task_group() as tg:
        tg.start_soon(graph.wait_for_token, second)
        await anyio.wait_all_tasks_blocked()
        second.result.status = "cancelled"
        graph.close(second)
    assert not second.has_token and second.waiting is None
    graph.close(first)
    assert limiter.borrowed_tokens == 0 and graph.open == 0


def test_dangling_dependencies_are_named() -> None:
    async def main() -> dict[str, str]:
        graph = StepGraph({"a": anyio.CapacityLimiter(1)}, 1, on_change=lambda: None)
        graph.add(Step(id="x", agent="a", prompt="p", depends_on=["nowhere"]))
        graph.add(Step(id="y", agent="a", prompt="p"))
        return graph.dangling()

    assert anyio.run(main) == {"x": "depends on unknown step(s) nowhere"}
