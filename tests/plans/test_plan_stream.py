"""PlanStreamParser: each step comes out with the chunk that closes its object, however the text
is split; finish() agrees with parse_plan on the whole text; invalid steps are held back or
named in invalid_steps; and it works on a real streamed reply from an OpenAI client."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_relay.runtime import (
    ChatMessage,
    ModelServerError,
    OpenAIChatModel,
    Plan,
    PlanError,
    PlanLimits,
    PlanStreamParser,
    Step,
    parse_plan,
)
from agent_relay.runtime.testing import CutStreamFault, FakeOpenAIServer

AGENTS = ("code", "file", "image")
TRICKY_PROMPTS = [
    'say "hi" then "}" and {braces} and [brackets], commas, colons: done',
    "back\\slash \\\\ and \\u escapes, é ü 漢字 and 🎉 emoji",
    "line one\nline two\ttabbed\r\n}]",
]


@dataclass
class PlanText:
    text: str
    steps: list[dict[str, Any]]
    closes: list[int]  # offset of each step object's closing brace in text


def render(
    steps: list[dict[str, Any]],
    *,
    prefix: str = "",
    suffix: str = "",
    ascii_only: bool = True,
    indent: bool = False,
) -> PlanText:
    """The plan's JSON as a model might write it, with where each step object closes."""
    head = prefix + '{"plan": [' + ("\n  " if indent else "")
    sep = ",\n  " if indent else ", "
    text, closes = head, []
    for i, raw in enumerate(steps):
        if i:
            text += sep
        text += json.dumps(raw, ensure_ascii=ascii_only)
        closes.append(len(text) - 1)
    text += ("\n" if indent else "") + "]}" + suffix
    return PlanText(text, steps, closes)


def step(sid: str, agent: str = "code", prompt: str = "p", deps: list[str] | None = None) -> Any:
    return {"id": sid, "agent": agent, "prompt": prompt, "depends_on": deps or []}


def feed_all(parser: PlanStreamParser, chunks: list[str]) -> list[list[Step]]:
    return [parser.feed(chunk) for chunk in chunks]


def split(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def outcome(run: Any) -> tuple[str, Any]:
    """A plan or the problems and invalid steps of the PlanError, for comparing two runs."""
    try:
        return "plan", run()
    except PlanError as error:
        return "error", (error.problems, error.invalid_steps)


TRICKY = render(
    [
        step("fetch", "file", TRICKY_PROMPTS[0]),
        step("chart", "image", TRICKY_PROMPTS[1], ["fetch", "stats"]),  # forward reference
        step("stats", "code", TRICKY_PROMPTS[2], ["fetch"]),
    ],
    prefix="Here is the plan {as asked}:\n```json\n",
    suffix='\n```\nDone. {"plan": []}',
    ascii_only=False,
    indent=True,
)


def test_every_split_point_yields_each_step_with_the_chunk_that_closes_it() -> None:
    expected = parse_plan(TRICKY.text, AGENTS)
    assert [s.id for s in expected.steps] == ["fetch", "chart", "stats"]
    for cut in range(len(TRICKY.text) + 1):
        parser = PlanStreamParser(AGENTS)
        first, second = feed_all(parser, [TRICKY.text[:cut], TRICKY.text[cut:]])
        closed_early = sum(1 for close in TRICKY.closes if close < cut)
        assert first == expected.steps[:closed_early], cut
        assert second == expected.steps[closed_early:], cut
        assert parser.finish() == expected


def test_fed_one_character_at_a_time_a_step_comes_out_exactly_at_its_closing_brace() -> None:
    for rendered in (TRICKY, render([step("a"), step("b", deps=["a"])], ascii_only=True)):
        parser = PlanStreamParser(AGENTS)
        returned_at = {}
        for offset, char in enumerate(rendered.text):
            for s in parser.feed(char):
                returned_at[s.id] = offset
        assert list(returned_at.values()) == rendered.closes
        assert parser.finish() == parse_plan(rendered.text, AGENTS)


def test_plain_form_steps_get_their_id_and_previous_step_as_they_arrive() -> None:
    rendered = render([{"agent": "file", "prompt": "a"}, {"agent": "code", "prompt": "b"}])
    parser = PlanStreamParser(AGENTS)
    first = parser.feed(rendered.text[: rendered.closes[0] + 1])
    assert first == [Step(id="s1", agent="file", prompt="a")]
    rest = parser.feed(rendered.text[rendered.closes[0] + 1 :])
    assert rest == [Step(id="s2", agent="code", prompt="b", depends_on=["s1"])]
    assert parser.finish().steps == [*first, *rest]


def test_a_step_that_fails_its_own_checks_is_held_back_and_reported_at_once() -> None:
    rendered = render(
        [
            step("a"),
            step("b", agent="imgae"),
            step("c", deps=["b"]),
            step("d", deps=["a"]),
            step("d", prompt="again"),
        ]
    )
    parser = PlanStreamParser(AGENTS, PlanLimits(max_steps=10))
    text, closes = rendered.text, rendered.closes
    assert [s.id for s in parser.feed(text[: closes[0] + 1])] == ["a"]
    assert parser.feed(text[closes[0] + 1 : closes[1] + 1]) == []
    assert parser.rejected == ["step b: unknown agent 'imgae'; known agents: code, file, image"]
    assert parser.feed(text[closes[1] + 1 : closes[2] + 1]) == []
    assert parser.rejected[-1] == "step c: depends on rejected step 'b'"
    assert [s.id for s in parser.feed(text[closes[2] + 1 :])] == ["d"]
    assert parser.rejected[-1] == "step 5: duplicate id 'd'"
    with pytest.raises(PlanError) as caught:
        parser.finish()
    assert caught.value.problems == parser.rejected
    assert caught.value.invalid_steps == {"b", "c"}
    assert [s.id for s in parser.steps] == ["a", "d"]


def test_elements_that_are_not_objects_are_rejected_when_they_end() -> None:
    parser = PlanStreamParser(AGENTS)
    assert parser.feed('{"plan": ["do a, then b", 42') == []
    assert parser.rejected == ['step 1: must be an object with "agent" and "prompt", got a string']
    assert parser.feed(", [1, 2]]}") == []
    assert parser.rejected[1:] == [
        'step 2: must be an object with "agent" and "prompt", got a number',
        'step 3: must be an object with "agent" and "prompt", got a list',
    ]
    with pytest.raises(PlanError) as caught:
        parser.finish()
    assert caught.value.problems == parser.rejected


def test_too_many_steps_are_held_back_from_the_first_one_over_the_limit() -> None:
    rendered = render([step(f"s{i}") for i in range(1, 6)])
    parser = PlanStreamParser(AGENTS, PlanLimits(max_steps=3))
    assert [s.id for s in parser.feed(rendered.text)] == ["s1", "s2", "s3"]
    with pytest.raises(PlanError) as caught:
        parser.finish()
    assert caught.value.problems == [
        "too many steps: at most 3 allowed; step 4 and every later step are rejected"
    ]
    assert caught.value.invalid_steps == set()


def test_steps_on_a_cycle_are_returned_then_named_invalid_at_finish() -> None:
    rendered = render(
        [step("a", deps=["c"]), step("b"), step("c", deps=["a"]), step("d", deps=["c"])]
    )
    parser = PlanStreamParser(AGENTS)
    returned = [s.id for chunk in split(rendered.text, [40, 90]) for s in parser.feed(chunk)]
    assert returned == ["a", "b", "c", "d"]
    with pytest.raises(PlanError) as caught:
        parser.finish()
    assert caught.value.problems == ["cycle: a -> c -> a"]
    assert caught.value.invalid_steps == {"a", "c", "d"}
    still_valid = [s for s in parser.steps if s.id not in caught.value.invalid_steps]
    assert Plan(steps=still_valid).ids == ["b"]


def test_a_forward_reference_that_never_arrives_is_reported_at_finish() -> None:
    parser = PlanStreamParser(AGENTS)
    assert [s.id for s in parser.feed(render([step("a", deps=["later"]), step("b")]).text)] == [
        "a",
        "b",
    ]
    with pytest.raises(PlanError) as caught:
        parser.finish()
    assert caught.value.problems == ["step a: depends on unknown step 'later'"]
    assert caught.value.invalid_steps == {"a"}


def test_a_cut_off_stream_keeps_the_complete_steps_valid() -> None:
    rendered = render([step("a"), step("b", deps=["a"]), step("c", deps=["a"])])
    cut = rendered.text[: rendered.closes[2] - 3]
    parser = PlanStreamParser(AGENTS)
    assert [s.id for s in parser.feed(cut)] == ["a", "b"]
    with pytest.raises(PlanError) as caught:
        parser.finish()
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("not valid JSON at line 1, column")
    assert caught.value.problems[0].endswith("(was it cut off?)")
    assert caught.value.invalid_steps == set()
    assert outcome(parser.finish) == outcome(lambda: parse_plan(cut, AGENTS))


def test_text_after_the_plan_is_ignored_and_nothing_streams_from_a_repeated_plan_key() -> None:
    parser = PlanStreamParser(AGENTS)
    text = (
        '{"plan": [{"agent": "code", "prompt": "x"}], "plan": [{"agent": "file", "prompt": "y"}]}'
    )
    assert [s.agent for s in parser.feed(text)] == ["code"]
    with pytest.raises(PlanError) as caught:
        parser.finish()
    assert caught.value.problems == ['the JSON object has the "plan" key twice']
    assert caught.value.invalid_steps == set()


def test_reserved_ids_apply_to_streamed_steps() -> None:
    parser = PlanStreamParser(AGENTS, reserved_ids={"s1"})
    steps = parser.feed(render([{"agent": "code", "prompt": "x"}, step("s1")]).text)
    assert [s.id for s in steps] == ["s2"]
    assert parser.rejected == ["step 2: id 's1' is taken by an earlier step of this task"]


# -- properties -----------------------------------------------------------------------------


@st.composite
def valid_plans(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9_-]{1,5}", fullmatch=True),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    prompts = st.text(min_size=1, max_size=20).filter(lambda t: t.strip() != "") | st.sampled_from(
        TRICKY_PROMPTS
    )
    steps = []
    for i, sid in enumerate(ids):
        deps = draw(st.lists(st.sampled_from(ids[:i]), unique=True)) if i else []
        steps.append(step(sid, draw(st.sampled_from(AGENTS)), draw(prompts), deps))
    if draw(st.booleans()):  # the plain form
        steps = [{"agent": s["agent"], "prompt": s["prompt"]} for s in steps]
    return draw(st.permutations(steps))


surroundings = st.sampled_from(
    [("", ""), ("```json\n", "\n```"), ("Plan {draft}:\n", "\nThat is all {really}.")]
)


@settings(max_examples=100, deadline=None)
@given(valid_plans(), surroundings, st.booleans(), st.booleans(), st.data())
def test_valid_plans_stream_step_by_step_however_they_are_split(
    steps: list[dict[str, Any]],
    around: tuple[str, str],
    ascii_only: bool,
    indent: bool,
    data: st.DataObject,
) -> None:
    rendered = render(
        steps, prefix=around[0], suffix=around[1], ascii_only=ascii_only, indent=indent
    )
    text = rendered.text
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=12))
    chunks = split(text, cuts)
    expected = parse_plan(text, AGENTS)
    parser = PlanStreamParser(AGENTS)
    offset, returned = 0, []
    for chunk in chunks:
        got = parser.feed(chunk)
        offset += len(chunk)
        # Exactly the steps whose closing brace is in this chunk, in order.
        closed = [
            i for i, close in enumerate(rendered.closes) if offset - len(chunk) <= close < offset
        ]
        assert got == [expected.steps[i] for i in closed]
        returned += got
    assert returned == expected.steps
    assert parser.finish() == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
any_steps = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(["s1", "s2", "s3", "a", "b", "bad id", 3]),
            "agent": st.sampled_from([*AGENTS, "nope", "", 1]),
            "prompt": st.sampled_from(["p", "", "x" * 30, *TRICKY_PROMPTS]) | json_values,
            "depends_on": st.lists(st.sampled_from(["s1", "s2", "s3", "a", "b", "zz"]), max_size=3)
            | json_values,
            "extra": json_values,
        },
    )
    | json_values,
    max_size=7,
)


@settings(max_examples=200, deadline=None)
@given(any_steps, st.integers(1, 7), st.booleans(), st.data())
def test_any_plan_streams_to_the_same_outcome_as_parse_plan(
    steps: list[Any], max_steps: int, truncate: bool, data: st.DataObject
) -> None:
    text = json.dumps({"plan": steps})
    if truncate:
        text = text[: data.draw(st.integers(0, len(text)))]
    limits = PlanLimits(max_steps=max_steps, max_prompt_chars=20)
    parser = PlanStreamParser(AGENTS, limits)
    for chunk in split(text, data.draw(st.lists(st.integers(0, len(text)), max_size=8))):
        parser.feed(chunk)
    whole = outcome(lambda: parse_plan(text, AGENTS, max_steps=max_steps, max_prompt_chars=20))
    streamed = outcome(parser.finish)
    assert streamed == whole
    if streamed[0] == "error":
        problems, invalid = streamed[1]
        assert all(p in problems for p in parser.rejected)
        # What was returned and is not invalid can keep running: it is a plan on its own.
        Plan(steps=[s for s in parser.steps if s.id not in invalid])
    else:
        assert parser.steps == streamed[1].steps


# -- a real stream --------------------------------------------------------------------------


async def feed_stream(
    model: OpenAIChatModel, parser: PlanStreamParser, seen: list[tuple[str, int]] | None = None
) -> int:
    """Feed a streamed reply to the parser; note each step with the deltas received so far."""
    deltas = 0
    async for delta in model.stream([ChatMessage.user("plan")]):
        deltas += 1
        for s in parser.feed(delta.content):
            if seen is not None:
                seen.append((s.id, deltas))
    return deltas


async def test_steps_come_out_while_a_real_openai_stream_is_still_arriving() -> None:
    rendered = render(
        [step("a", prompt=TRICKY_PROMPTS[1]), step("b", deps=["a"]), step("c", prompt="x" * 200)],
        prefix="```json\n",
        suffix="\n```",
        ascii_only=False,
    )
    async with FakeOpenAIServer([rendered.text], chunk_size=5) as server:
        model = OpenAIChatModel(
            "gpt-4.1-mini", base_url=server.base_url, api_key="sk-test", max_retries=0
        )
        async with model:
            parser = PlanStreamParser(AGENTS)
            seen: list[tuple[str, int]] = []  # step id, deltas received when it came out
            with anyio.fail_after(10):
                deltas = await feed_stream(model, parser, seen)
    assert [sid for sid, _ in seen] == ["a", "b", "c"]
    assert seen[1][1] < deltas - 20  # "b" was out long before the 200-character prompt of "c"
    assert parser.finish() == parse_plan(rendered.text, AGENTS)


async def test_a_stream_cut_off_by_the_server_keeps_the_steps_it_completed() -> None:
    rendered = render([step("a"), step("b", deps=["a"]), step("c", prompt="y" * 100)])
    after = rendered.closes[1] // 5 + 2
    async with FakeOpenAIServer(
        [CutStreamFault(after_chunks=after, reply=rendered.text, graceful=True)], chunk_size=5
    ) as server:
        model = OpenAIChatModel(
            "gpt-4.1-mini", base_url=server.base_url, api_key="sk-test", max_retries=0
        )
        async with model:
            parser = PlanStreamParser(AGENTS)
            with anyio.fail_after(10), pytest.raises(ModelServerError, match="ended before"):
                await feed_stream(model, parser)
    assert [s.id for s in parser.steps] == ["a", "b"]
    with pytest.raises(PlanError, match="was it cut off") as caught:
        parser.finish()
    assert caught.value.invalid_steps == set()
