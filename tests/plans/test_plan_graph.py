"""The Plan graph: helpers checked against brute force on random DAGs, and cycles injected into
random DAGs always rejected with a cycle that really is one."""

from __future__ import annotations

import itertools
import json
import pickle
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_relay.runtime import Plan, PlanError, Step, parse_plan

AGENTS = ("code", "file", "image")
Graph = dict[str, list[str]]  # step id -> ids it depends on, in plan order


@st.composite
def dags(draw: st.DrawFn, max_size: int = 9) -> Graph:
    """A random DAG in a random plan order, so dependencies may point forward."""
    ids = draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True),
            min_size=1,
            max_size=max_size,
            unique=True,
        )
    )
    deps: Graph = {}
    for i, sid in enumerate(ids):  # edges only to earlier ids: acyclic by construction
        deps[sid] = draw(st.lists(st.sampled_from(ids[:i]), unique=True)) if i else []
    order = draw(st.permutations(ids))
    return {sid: deps[sid] for sid in order}


def plan_of(graph: Graph) -> Plan:
    return Plan(
        steps=[
            Step(id=sid, agent=AGENTS[i % 3], prompt=f"do {sid}", depends_on=deps)
            for i, (sid, deps) in enumerate(graph.items())
        ]
    )


def plan_text(graph: Graph) -> str:
    steps = [
        {"id": sid, "agent": "code", "prompt": f"do {sid}", "depends_on": deps}
        for sid, deps in graph.items()
    ]
    return json.dumps({"plan": steps})


def upstream(graph: Graph, sid: str) -> set[str]:
    """Every step ``sid`` needs, found the slow way: repeat until nothing changes."""
    found = set(graph[sid])
    while True:
        more = {d for s in found for d in graph.get(s, []) if d in graph} - found
        if not more:
            return found
        found |= more


def all_paths(graph: Graph) -> list[list[str]]:
    """Every chain of dependencies, each listed from a step down to one that needs nothing."""
    paths: list[list[str]] = []

    def walk(path: list[str]) -> None:
        paths.append(path)
        for dep in graph[path[-1]]:
            walk([*path, dep])

    for sid in graph:
        walk([sid])
    return paths


@settings(max_examples=100, deadline=None)
@given(dags())
def test_topological_order_puts_every_step_after_its_dependencies(graph: Graph) -> None:
    plan = plan_of(graph)
    order = plan.topological_order()
    assert sorted(order) == sorted(graph)
    position = {sid: i for i, sid in enumerate(order)}
    for sid, deps in graph.items():
        assert all(position[d] < position[sid] for d in deps)


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_critical_path_matches_brute_force(graph: Graph, data: st.DataObject) -> None:
    plan = plan_of(graph)
    weights = {sid: data.draw(st.floats(0, 100)) for sid in graph}
    paths = all_paths(graph)
    assert plan.critical_path_length() == max(len(p) for p in paths)
    expected = max(sum(weights[s] for s in p) for p in paths)
    assert plan.critical_path_length(weights) == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(dags())
def test_neighbours_match_brute_force(graph: Graph) -> None:
    plan = plan_of(graph)
    order = list(graph)
    assert plan.roots() == [s for s in order if not graph[s]]
    for sid in graph:
        assert plan.step(sid).depends_on == graph[sid]
        assert plan.dependents(sid) == [s for s in order if sid in graph[s]]
        assert plan.descendants(sid) == [s for s in order if sid in upstream(graph, s)]


@settings(max_examples=100, deadline=None)
@given(dags())
def test_a_valid_dag_in_text_parses_to_the_same_plan(graph: Graph) -> None:
    plan = parse_plan(plan_text(graph), AGENTS)
    assert [(s.id, s.depends_on) for s in plan.steps] == list(graph.items())


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> Graph:
    """A random DAG with one or more cycles of two or more steps added to it."""
    graph = draw(dags(max_size=8).filter(lambda g: len(g) >= 2))
    for _ in range(draw(st.integers(1, 2))):
        ids = list(graph)
        ring = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=len(ids), unique=True))
        for a, b in itertools.pairwise([*ring, ring[0]]):
            if b not in graph[a]:
                graph[a] = [*graph[a], b]
    return graph


def on_a_cycle(graph: Graph) -> set[str]:
    return {s for s in graph if s in upstream(graph, s)}


@settings(max_examples=100, deadline=None)
@given(cyclic_graphs())
def test_cycles_are_reported_as_real_cycles_and_invalidate_exactly_what_they_block(
    graph: Graph,
) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(plan_text(graph), AGENTS)
    error = caught.value
    cyclic = on_a_cycle(graph)
    assert cyclic
    cycles = [p.removeprefix("cycle: ").split(" -> ") for p in error.problems]
    assert all(p.startswith("cycle: ") for p in error.problems)
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1  # a simple cycle
        for a, b in itertools.pairwise(cycle):
            assert b in graph[a]
    # One cycle per group of steps that all reach each other.
    groups = {
        frozenset(s for s in cyclic if s in upstream(graph, c) and c in upstream(graph, s))
        for c in cyclic
    }
    assert len(cycles) == len(groups)
    assert {next(g for g in groups if cycle[0] in g) for cycle in cycles} == groups
    blocked = {s for s in graph if s in cyclic or upstream(graph, s) & cyclic}
    assert error.invalid_steps == blocked


@settings(max_examples=50, deadline=None)
@given(cyclic_graphs())
def test_constructing_a_cyclic_plan_directly_raises_plan_error(graph: Graph) -> None:
    with pytest.raises(PlanError, match="cycle: "):
        plan_of(graph)


def test_three_step_cycle_is_named_in_dependency_order() -> None:
    graph = {"s1": ["s3"], "s2": [], "s3": ["s4"], "s4": ["s1"], "s5": ["s4"], "s6": ["s2"]}
    with pytest.raises(PlanError) as caught:
        parse_plan(plan_text(graph), AGENTS)
    assert caught.value.problems == ["cycle: s1 -> s3 -> s4 -> s1"]
    assert caught.value.invalid_steps == {"s1", "s3", "s4", "s5"}
    assert str(caught.value) == "plan rejected: cycle: s1 -> s3 -> s4 -> s1"


def test_direct_construction_reports_duplicates_unknown_and_self_dependencies() -> None:
    steps = [
        Step(id="a", agent="code", prompt="p"),
        Step(id="a", agent="code", prompt="p"),
        Step(id="b", agent="code", prompt="p", depends_on=["b"]),
        Step(id="c", agent="code", prompt="p", depends_on=["zz"]),
    ]
    with pytest.raises(PlanError) as caught:
        Plan(steps=steps)
    assert caught.value.problems == [
        "step a: duplicate id 'a'",
        "step b: depends on itself",
        "step c: depends on unknown step 'zz'",
    ]


def test_step_validates_its_own_fields() -> None:
    for bad in ({"id": "a.b"}, {"id": "s1\n"}, {"id": "x" * 65}, {"prompt": "  "}, {"agent": ""}):
        fields: dict[str, object] = {"id": "s1", "agent": "code", "prompt": "p", **bad}
        with pytest.raises(ValueError, match="validation error"):
            Step.model_validate(fields)


def test_critical_path_weights_must_cover_every_step_and_be_non_negative() -> None:
    plan = plan_of({"a": [], "b": ["a"]})
    with pytest.raises(ValueError, match="no weight for steps: b"):
        plan.critical_path_length({"a": 1.0})
    with pytest.raises(ValueError, match="negative weight for steps: a"):
        plan.critical_path_length({"a": -1.0, "b": 1.0})
    weights: Mapping[str, float] = {"a": 2.5, "b": 0.5}
    assert plan.critical_path_length(weights) == 3.0


def test_empty_plan_has_no_critical_path() -> None:
    plan = Plan(steps=[])
    assert plan.critical_path_length() == 0.0
    assert plan.topological_order() == []


def test_plan_round_trips_through_json_and_pickle() -> None:
    plan = plan_of({"a": [], "b": ["a"], "c": ["a", "b"]})
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
    error = PlanError(["one", "two"], invalid_steps={"a"})
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problems, copy.invalid_steps, str(copy)) == (
        ["one", "two"],
        {"a"},
        "plan rejected: 2 problems: one; two",
    )


def test_plan_error_summary_shows_ten_problems_and_counts_the_rest() -> None:
    error = PlanError([f"p{i}" for i in range(13)])
    assert str(error) == (
        "plan rejected: 13 problems: p0; p1; p2; p3; p4; p5; p6; p7; p8; p9; and 3 more"
    )
    assert len(error.problems) == 13
