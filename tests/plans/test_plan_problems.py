"""Every problem of every step at once; the plan reader on JSON as models write it (raw control
characters, trailing commas, single quotes, comments); and the rest of a plan read against the
steps already running (``existing``), as a repair reads it."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_relay.runtime import PlanError, PlanLimits, PlanStreamParser, Step, parse_plan

AGENTS = ("code", "file", "image")


def step(sid: str, agent: str = "code", prompt: str = "p", deps: list[str] | None = None) -> Any:
    return {"id": sid, "agent": agent, "prompt": prompt, "depends_on": deps or []}


def plan_json(*steps: object) -> str:
    return json.dumps({"plan": list(steps)})


def problems(run: Any) -> list[str]:
    with pytest.raises(PlanError) as caught:
        run()
    return caught.value.problems


def streamed(text: str, size: int, **options: Any) -> PlanStreamParser:
    parser = PlanStreamParser(AGENTS, **options)
    for i in range(0, len(text), size):
        parser.feed(text[i : i + size])
    return parser


def test_a_step_with_an_unknown_agent_and_a_dangling_dependency_gets_both_problems() -> None:
    text = plan_json(step("a"), step("b", agent="imgae", deps=["ghost"]), step("c", deps=["b"]))
    expected = [
        "step b: unknown agent 'imgae'; known agents: code, file, image",
        "step c: depends on rejected step 'b'",
        "step b: depends on unknown step 'ghost'",
    ]
    assert problems(lambda: parse_plan(text, AGENTS)) == expected
    for size in (1, 7, len(text)):
        assert problems(streamed(text, size).finish) == expected


def test_a_rejected_step_is_kept_with_what_the_model_wrote_and_why() -> None:
    text = plan_json(step("a"), step("b", agent="nope", prompt="do b", deps=["a"]), "free text")
    parser = streamed(text, 5)
    with pytest.raises(PlanError):
        parser.finish()
    first, second = parser.rejections
    assert (first.index, first.id, first.agent, first.prompt) == (1, "b", "nope", "do b")
    assert first.depends_on == ["a"] and "unknown agent 'nope'" in first.problems[0]
    assert (second.index, second.id, second.agent) == (2, None, None)


def test_steps_past_the_limit_are_each_kept_as_rejected() -> None:
    text = plan_json(*[step(f"s{i}") for i in range(10)])
    parser = streamed(text, 64, limits=PlanLimits(max_steps=3))
    assert [s.id for s in parser.steps] == ["s0", "s1", "s2"]
    with pytest.raises(PlanError):
        parser.finish()
    assert [r.id for r in parser.rejections] == [f"s{i}" for i in range(3, 10)]


# -- JSON as models write it -----------------------------------------------------------------


def test_raw_newlines_and_tabs_in_strings_stream_at_their_closing_brace() -> None:
    text = (
        'Plan:\n{"note": "first\tthoughts\nhere", "plan": [\n'
        '  {"id": "a", "agent": "code", "prompt": "line one\nline two"},\n'
        '  {"id": "b", "agent": "file", "prompt": "x\r\ny", "depends_on": ["a"]}\n]}'
    )
    whole = parse_plan(text, AGENTS)
    assert [s.prompt for s in whole.steps] == ["line one\nline two", "x\r\ny"]
    closes = [text.index("}", text.index('"id": "a"')), text.rindex("}", 0, len(text) - 2)]
    parser = PlanStreamParser(AGENTS)
    out_at = {s.id: offset for offset, char in enumerate(text) for s in parser.feed(char)}
    assert list(out_at.values()) == closes
    assert parser.finish() == whole
    assert parser.text == text  # the model's own text, not the escaped mirror


@pytest.mark.parametrize(
    "bad",
    [
        '{"id": "b", "agent": "code", "prompt": "B",}',  # trailing comma
        "{'id': 'b', 'agent': 'code', 'prompt': 'B'}",  # single quotes
        '{id: "b", agent: "code", prompt: "B"}',  # unquoted keys
        '{"id": "b", "agent": "code", /* why */ "prompt": "B"}',  # a comment
        '{"id": "b" "agent": "code", "prompt": "B"}',  # a missing comma
    ],
)
def test_a_malformed_step_is_never_handed_out_and_never_vanishes(bad: str) -> None:
    """Models write these; jiter reads strict JSON only, and reading them anyway would take a
    JSON5 parser: the step is invalid instead, the problem names where, and the planner
    asks for a repair. The steps around it are read on."""
    text = '{"plan": [' + json.dumps(step("a")) + ", " + bad + ", " + json.dumps(step("c")) + "]}"
    for size in (1, 3, len(text)):
        parser = streamed(text, size)
        assert [s.id for s in parser.steps] == ["a", "c"]
        found = problems(parser.finish)
        assert found[0].startswith("not valid JSON at line 1, column ")
        assert found == problems(lambda: parse_plan(text, AGENTS))


@st.composite
def plans_with_raw_controls(draw: st.DrawFn) -> tuple[str, list[Step]]:
    """Valid plans whose strings hold raw newlines, tabs and carriage returns (as a model
    writes them), and the steps they mean."""
    count = draw(st.integers(1, 5))
    prompt = st.text(alphabet='ab {}[]",:\n\t\r', min_size=1, max_size=12).filter(str.strip)
    steps = [
        Step(id=f"s{i}", agent="code", prompt=draw(prompt), depends_on=[f"s{i - 1}"] if i else [])
        for i in range(count)
    ]
    body = json.dumps({"plan": [s.model_dump() for s in steps]})
    # No backslash in the prompts: every escape of a control character is one to write raw.
    raw = body.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")
    return raw, steps


@settings(max_examples=150, deadline=None)
@given(plans_with_raw_controls(), st.data())
def test_raw_control_characters_read_the_same_however_the_text_is_split(
    plan: tuple[str, list[Step]], data: st.DataObject
) -> None:
    text, steps = plan
    outcome_whole = _outcome(lambda: parse_plan(text, AGENTS))
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(text)), max_size=8))))
    parser = PlanStreamParser(AGENTS)
    for a, b in itertools.pairwise([0, *cuts, len(text)]):
        parser.feed(text[a:b])
    assert _outcome(parser.finish) == outcome_whole
    assert outcome_whole[0] == "plan", outcome_whole
    assert parser.steps == outcome_whole[1].steps == steps


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "plan", run()
    except PlanError as error:
        return "error", (error.problems, error.invalid_steps)


# -- the rest of a plan, read against the steps already running -------------------------------

RUNNING = {"a": Step(id="a", agent="code", prompt="A"), "b": Step(id="b", agent="file", prompt="B")}


def test_the_rest_may_depend_on_running_steps_and_a_repeat_of_one_is_not_a_new_step() -> None:
    text = plan_json(
        {"id": "a", "agent": "code", "prompt": "A", "depends_on": []},  # written again
        step("c", deps=["a", "b"]),
    )
    parser = streamed(text, 9, existing=RUNNING)
    assert [s.id for s in parser.steps] == ["c"]
    assert parser.finish().ids == ["c"]


def test_the_rest_may_not_reuse_a_running_id_nor_outgrow_the_plan() -> None:
    text = plan_json(step("a", prompt="other"), step("c"), step("d"))
    parser = streamed(text, 9, existing=RUNNING, limits=PlanLimits(max_steps=3))
    assert [s.id for s in parser.steps] == []
    assert problems(parser.finish) == [
        "step 1: id 'a' is taken by a step that is already running; give a new step a new id",
        "too many steps: at most 3 allowed, 2 of them already running, so at most 1 more; "
        "step 2 and every later step are rejected",
    ]


def test_a_rest_that_adds_nothing_is_not_a_repair() -> None:
    text = plan_json({"id": "a", "agent": "code", "prompt": "A", "depends_on": []})
    assert problems(streamed(text, 4, existing=RUNNING).finish) == [
        "the plan adds no step to those already running; write the steps still missing"
    ]
