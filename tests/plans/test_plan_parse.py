"""parse_plan: the forms a model writes, every kind of bad input with its exact message, all
problems reported at once, and no input that makes it raise anything but PlanError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_relay.runtime import Plan, PlanError, Step, parse_plan

AGENTS = ("code", "file", "image")
EXPECTED = '{"plan": [{"id": ..., "agent": ..., "prompt": ..., "depends_on": [...]}, ...]}'


def problems_of(text: str, **options: Any) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, AGENTS, **options)
    return caught.value.problems


def plan_json(*steps: object) -> str:
    return json.dumps({"plan": list(steps)})


def step(sid: str, agent: str = "code", prompt: str = "p", deps: list[str] | None = None) -> Any:
    return {"id": sid, "agent": agent, "prompt": prompt, "depends_on": deps or []}


# -- accepted forms -------------------------------------------------------------------------


def test_full_form_is_taken_as_written() -> None:
    text = plan_json(
        step("fetch", "file", "read data.csv"),
        step("chart", "image", "draw it", ["fetch"]),
        step("stats", "code", "summarise", ["fetch"]),
    )
    plan = parse_plan(text, AGENTS)
    assert plan.steps == [
        Step(id="fetch", agent="file", prompt="read data.csv"),
        Step(id="chart", agent="image", prompt="draw it", depends_on=["fetch"]),
        Step(id="stats", agent="code", prompt="summarise", depends_on=["fetch"]),
    ]


def test_plain_form_gets_ids_in_order_and_runs_in_sequence() -> None:
    text = plan_json(
        {"agent": "file", "prompt": "a"},
        {"agent": "code", "prompt": "b"},
        {"agent": "image", "prompt": "c"},
    )
    plan = parse_plan(text, AGENTS)
    assert [(s.id, s.depends_on) for s in plan.steps] == [
        ("s1", []),
        ("s2", ["s1"]),
        ("s3", ["s2"]),
    ]
    assert plan.critical_path_length() == 3


def test_mixed_form_chains_only_the_leading_plain_steps() -> None:
    text = plan_json(
        {"agent": "file", "prompt": "a"},
        {"agent": "code", "prompt": "b"},
        {"id": "s3", "agent": "code", "prompt": "c", "depends_on": ["s2"]},
        {"agent": "image", "prompt": "d"},  # after a step with an id: no implied dependency
        {"agent": "image", "prompt": "e", "depends_on": ["s1"]},  # no id: gets one
    )
    plan = parse_plan(text, AGENTS)
    assert [(s.id, s.depends_on) for s in plan.steps] == [
        ("s1", []),
        ("s2", ["s1"]),
        ("s3", ["s2"]),
        ("s4", []),
        ("s5", ["s1"]),
    ]


def test_missing_ids_skip_ids_already_taken() -> None:
    text = plan_json(step("s2"), {"agent": "code", "prompt": "b"}, {"agent": "code", "prompt": "c"})
    assert parse_plan(text, AGENTS).ids == ["s2", "s3", "s4"]


def test_an_explicit_id_after_the_same_id_was_given_out_is_a_duplicate() -> None:
    text = plan_json({"agent": "code", "prompt": "a"}, step("s1"))
    assert problems_of(text) == ["step 2: duplicate id 's1'"]


def test_repeated_dependencies_are_kept_once() -> None:
    plan = parse_plan(plan_json(step("a"), step("b", deps=["a", "a"])), AGENTS)
    assert plan.step("b").depends_on == ["a"]


@pytest.mark.parametrize(
    "wrapper",
    [
        "{}",
        "```json\n{}\n```",
        "```\n{}\n```",
        "Here is the plan:\n\n```json\n{}\n```\n\nTell me if you want changes {or not}.",
        "Sure! {thinking} about it... {}",
        'First an unrelated object {"note": "x"} and then the plan {}',
        '{} and a second {"plan": []} that is ignored',
    ],
)
def test_fences_and_surrounding_text_are_tolerated(wrapper: str) -> None:
    text = wrapper.replace("{}", plan_json(step("a"), step("b", deps=["a"])), 1)
    assert parse_plan(text, AGENTS).ids == ["a", "b"]


def test_other_top_level_keys_and_raw_newlines_in_strings_are_tolerated() -> None:
    text = '{"reasoning": "two steps", "plan": [{"agent": "code", "prompt": "line one\nline two"}]}'
    assert parse_plan(text, AGENTS).steps[0].prompt == "line one\nline two"


def test_reserved_ids_are_refused_and_skipped_by_generated_ids() -> None:
    text = plan_json({"agent": "code", "prompt": "a"}, {"agent": "code", "prompt": "b"})
    assert parse_plan(text, AGENTS, reserved_ids={"s1", "s2"}).ids == ["s3", "s4"]
    assert problems_of(
        plan_json(step("s1"), step("x", deps=["s2"])), reserved_ids={"s1", "s2"}
    ) == [
        "step 1: id 's1' is taken by an earlier step of this task",
        "step x: depends on 's2', a step of an earlier plan; "
        "put what it needs from that step into the prompt",
    ]


# -- bad input, one kind at a time ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", f"the output is empty; expected {EXPECTED}"),
        ("  \n ", f"the output is empty; expected {EXPECTED}"),
        ("I cannot plan this.", f"no JSON object found; expected {EXPECTED}"),
        ("[1, 2]", f"no JSON object found; expected {EXPECTED}"),
        (
            '{"steps": []}',
            f'the JSON object has no "plan" key (keys: "steps"); expected {EXPECTED}',
        ),
        (
            '{"plan": [{"agent": "code", "prompt": "x"},]}',
            "not valid JSON at line 1, column 44: Expecting value",
        ),
        (
            "{'plan': []}",
            "not valid JSON at line 1, column 2: Expecting property name enclosed in double quotes",
        ),
        (
            '```json\n{"plan": [\n  {"agent": "code" "prompt": "x"}\n]}\n```',
            "not valid JSON at line 3, column 20: Expecting ',' delimiter",
        ),
        (
            '{"plan": [{"agent": "code", "prompt": "half a sen',
            "not valid JSON at line 1, column 39: Unterminated string; "
            "the output ends before the JSON object is closed (was it cut off?)",
        ),
        ('{"plan": [' + "[" * 5000 + "]" * 5000 + "]}", "not valid JSON: nested too deeply"),
        ('{"plan": {"agent": "code"}}', '"plan" must be a list of steps, got an object'),
        ('{"plan": "do it"}', '"plan" must be a list of steps, got a string'),
        ('{"plan": null}', '"plan" must be a list of steps, got null'),
        ('{"plan": []}', "the plan has no steps"),
        (
            '{"plan": [{"agent": "code", "prompt": "x"}], "plan": []}',
            'the JSON object has the "plan" key twice',
        ),
        (plan_json("code"), 'step 1: must be an object with "agent" and "prompt", got a string'),
        (plan_json([]), 'step 1: must be an object with "agent" and "prompt", got a list'),
        (plan_json({"id": "a", "prompt": "p"}), 'step a: "agent" is missing'),
        (plan_json({"id": "a", "agent": "code"}), 'step a: "prompt" is missing'),
        (plan_json(step("a", prompt=" \n\t")), 'step a: "prompt" is blank'),
        (plan_json(step("a", agent="")), 'step a: "agent" is blank'),
        (plan_json({**step("a"), "agent": 7}), 'step a: "agent" must be a string, got a number'),
        (
            plan_json({**step("a"), "prompt": True}),
            'step a: "prompt" must be a string, got a boolean',
        ),
        (
            plan_json({**step("a"), "prompt": ["x"]}),
            'step a: "prompt" must be a string, got a list',
        ),
        (plan_json({**step("a"), "id": 1}), 'step 1: "id" must be a string, got a number'),
        (
            plan_json(step("a.b")),
            "step 1: \"id\" 'a.b' is not a valid id (1 to 64 letters, digits, _ or -)",
        ),
        (
            plan_json(step("s1\n")),
            "step 1: \"id\" 's1\\n' is not a valid id (1 to 64 letters, digits, _ or -)",
        ),
        (
            plan_json({**step("a"), "depends_on": "b"}),
            'step a: "depends_on" must be a list of step ids, got a string',
        ),
        (
            plan_json({**step("a"), "depends_on": None}),
            'step a: "depends_on" must be a list of step ids, got null',
        ),
        (
            plan_json({**step("a"), "depends_on": [{"id": "b"}]}),
            'step a: "depends_on" must hold step ids (strings), got an object',
        ),
        (
            plan_json({**step("a"), "dependencies": ["b"]}),
            "step a: unknown field 'dependencies' (allowed: id, agent, prompt, depends_on)",
        ),
        (
            plan_json({**step("a"), "name": "x", "output": "y"}),
            "step a: unknown fields 'name', 'output' (allowed: id, agent, prompt, depends_on)",
        ),
        (
            plan_json(step("s2", agent="imgae")),
            "step s2: unknown agent 'imgae'; known agents: code, file, image",
        ),
        (
            plan_json(step("a", agent="x" * 100)),
            "step a: unknown agent 'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'; "
            "known agents: code, file, image",
        ),
        (plan_json(step("a"), step("a")), "step 2: duplicate id 'a'"),
        (plan_json(step("a", deps=["a"])), "step a: depends on itself"),
        (plan_json(step("a", deps=["zz"])), "step a: depends on unknown step 'zz'"),
        (plan_json(step("a", deps=["no such"])), "step a: depends on unknown step 'no such'"),
        (
            plan_json(step("a", deps=["b"]), step("b", deps=["a"])),
            "cycle: a -> b -> a",
        ),
        (
            plan_json(step("a", prompt="\ud800 lone surrogate")),
            'step a: "prompt" holds an invalid unicode escape',
        ),
    ],
)
def test_each_kind_of_bad_input_gets_its_exact_message(text: str, problem: str) -> None:
    assert problems_of(text) == [problem]


def test_an_unknown_agent_message_lists_no_agents_when_none_are_registered() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(plan_json(step("a")), [])
    assert caught.value.problems == [
        "step a: unknown agent 'code'; known agents: (none registered)"
    ]


def test_limits_are_configurable_and_reported_with_numbers() -> None:
    text = plan_json(*(step(f"s{i}", prompt="x" * i) for i in range(1, 6)))
    assert problems_of(text, max_steps=3, max_prompt_chars=2) == [
        "step s3: prompt is 3 characters; at most 2 allowed",
        "too many steps: at most 3 allowed; step 4 and every later step are rejected",
    ]
    assert parse_plan(text, AGENTS, max_steps=5, max_prompt_chars=5).ids == [
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
    ]


def test_steps_over_the_limit_are_refused_even_when_the_first_of_them_is_unreadable() -> None:
    text = '{"plan": [{"agent": "code", "prompt": "a"}, {"agent": oops}, {"agent": "code"}]}'
    assert problems_of(text, max_steps=1) == [
        "not valid JSON at line 1, column 55: Expecting value",
        "too many steps: at most 1 allowed; step 3 and every later step are rejected",
    ]


# -- many problems at once ------------------------------------------------------------------


def test_every_problem_is_reported_with_the_steps_that_cannot_run() -> None:
    text = plan_json(
        step("s1", agent="imgae"),
        step("s2", deps=["s1"]),  # depends on a rejected step
        {"id": "s3", "agent": "code"},  # no prompt
        step("s4", deps=["s6"]),  # s6 comes later and is in a cycle
        step("s5", deps=["s4", "s9"]),
        step("s6", deps=["s7"]),
        step("s7", deps=["s6"]),
        step("s2", prompt="x" * 9),
        step("ok"),
    )
    with pytest.raises(PlanError) as caught:
        parse_plan(text, AGENTS, max_prompt_chars=8)
    error = caught.value
    assert error.problems == [
        "step s1: unknown agent 'imgae'; known agents: code, file, image",
        "step s2: depends on rejected step 's1'",
        'step s3: "prompt" is missing',
        "step 8: duplicate id 's2'",
        "step 8: prompt is 9 characters; at most 8 allowed",
        "step s5: depends on unknown step 's9'",
        "cycle: s6 -> s7 -> s6",
    ]
    assert error.invalid_steps == {"s1", "s2", "s3", "s4", "s5", "s6", "s7"}
    assert str(error).startswith("plan rejected: 7 problems: step s1: unknown agent 'imgae';")


def test_a_cut_off_plan_reports_the_json_error_and_the_problems_of_the_steps_it_has() -> None:
    text = plan_json(step("a", agent="nope"), step("b"), step("c", deps=["d"]), step("d"))
    cut = text[: text.index('{"id": "d"')]
    with pytest.raises(PlanError) as caught:
        parse_plan(cut, AGENTS)
    assert caught.value.problems == [
        f"not valid JSON at line 1, column {len(cut) + 1}: Expecting value; "
        "the output ends before the JSON object is closed (was it cut off?)",
        "step a: unknown agent 'nope'; known agents: code, file, image",
        "step c: depends on unknown step 'd'",
    ]
    assert caught.value.invalid_steps == {"a", "c"}


# -- nothing but PlanError, whatever the input ----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
step_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["s1", "s2", "s3", "a", "", 1]) | json_values,
        "agent": st.sampled_from([*AGENTS, "nope", " "]) | json_values,
        "prompt": st.text(max_size=12) | json_values,
        "depends_on": st.lists(st.sampled_from(["s1", "s2", "s3", "a", "zz"]), max_size=3)
        | json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(step_like | json_values, max_size=6), st.integers(1, 6))
def test_any_json_plan_yields_a_plan_or_a_plan_error(steps: list[Any], max_steps: int) -> None:
    result = plan_or_problems(json.dumps({"plan": steps}), max_steps=max_steps)
    if isinstance(result, Plan):
        assert 1 <= len(result.steps) <= max_steps
    else:
        assert result
        assert all(isinstance(p, str) and "\n" not in p for p in result)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from('{}[]":,\\ plan agent prompt id s1 code \n`'), max_size=80))
def test_any_text_yields_a_plan_or_a_plan_error(text: str) -> None:
    result = plan_or_problems(text)
    assert isinstance(result, Plan) or result


def plan_or_problems(text: str, **options: Any) -> Plan | list[str]:
    """The plan, or the problems of the PlanError; any other exception fails the test."""
    try:
        return parse_plan(text, AGENTS, **options)
    except PlanError as error:
        return error.problems
