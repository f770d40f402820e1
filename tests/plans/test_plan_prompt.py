"""The planning conversation: the schema fits strict structured output and matches what
parse_plan accepts; the prompts carry the agents, the rules, the limits and the problems."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_relay.runtime import (
    ChatMessage,
    PlanError,
    PlanLimits,
    Step,
    parse_plan,
    plan_json_schema,
    plan_response_format,
    planning_messages,
    remainder_messages,
    repair_messages,
    replan_messages,
)

AGENTS = {
    "image": "Generates and edits images.",
    "code": "Writes and runs Python in a sandbox;\n  returns stdout.",
    "file": "Reads and writes files in the workspace.",
}


def objects_in(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found += objects_in(value)
    elif isinstance(schema, list):
        for value in schema:
            found += objects_in(value)
    return found


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """Enough of JSON schema for this schema: type, enum, properties, required, items."""
    kind = schema["type"]
    if kind == "object":
        return (
            isinstance(value, dict)
            and set(value) == set(schema["required"])
            and all(conforms(value[k], schema["properties"][k]) for k in value)
        )
    if kind == "array":
        return isinstance(value, list) and all(conforms(v, schema["items"]) for v in value)
    return isinstance(value, str) and value in schema.get("enum", [value])


def test_schema_is_strict_every_object_closed_with_every_property_required() -> None:
    schema = plan_json_schema(list(AGENTS))
    objects = objects_in(schema)
    assert len(objects) == 2  # the plan and a step
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    assert schema["properties"]["plan"]["items"]["properties"]["agent"]["enum"] == [
        "code",
        "file",
        "image",
    ]
    assert "enum" not in plan_json_schema()["properties"]["plan"]["items"]["properties"]["agent"]


def test_a_parsed_plan_dumped_again_conforms_to_the_schema() -> None:
    text = json.dumps(
        {
            "plan": [
                {"id": "s1", "agent": "file", "prompt": "read", "depends_on": []},
                {"id": "s2", "agent": "code", "prompt": "sum", "depends_on": ["s1"]},
            ]
        }
    )
    plan = parse_plan(text, AGENTS)
    schema = plan_json_schema(list(AGENTS))
    assert conforms({"plan": [s.model_dump() for s in plan.steps]}, schema)
    assert not conforms(
        {"plan": [{"id": "s1", "agent": "video", "prompt": "p", "depends_on": []}]}, schema
    )


def test_response_format_asks_for_strict_structured_output() -> None:
    fmt = plan_response_format(list(AGENTS))
    assert (fmt.name, fmt.strict) == ("plan", True)
    assert fmt.json_schema == plan_json_schema(list(AGENTS))


@pytest.mark.parametrize("include_schema", [True, False])
def test_planning_prompt_lists_agents_rules_and_limits(include_schema: bool) -> None:
    limits = PlanLimits(max_steps=7, max_prompt_chars=1234)
    messages = planning_messages(
        "Chart the sales in data.csv", AGENTS, limits, include_schema_in_prompt=include_schema
    )
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[1].text == "Chart the sales in data.csv"
    system = messages[0].text
    assert "- code: Writes and runs Python in a sandbox; returns stdout." in system
    assert "- file: Reads and writes files in the workspace." in system
    assert "- image: Generates and edits images." in system
    assert "at most 7" in system
    assert "at most 1234 characters" in system
    assert "Maximise parallelism" in system
    assert "self-contained" in system
    assert "JSON object only" in system
    schema_text = json.dumps(plan_json_schema(list(AGENTS)))
    assert (schema_text in system) is include_schema


def test_the_example_in_the_prompt_is_a_plan_parse_plan_accepts() -> None:
    system = planning_messages("t", AGENTS, PlanLimits(), include_schema_in_prompt=False)[0].text
    example = system[system.index('{"plan"') :].split("\n")[0].replace("<agent>", "code")
    plan = parse_plan(example, AGENTS)
    assert plan.roots() == ["s1", "s2"]
    assert plan.step("s3").depends_on == ["s1", "s2"]


def test_repair_messages_send_back_the_output_and_every_problem() -> None:
    previous = planning_messages("t", AGENTS, PlanLimits(), include_schema_in_prompt=False)
    bad = '{"plan": [{"id": "s1", "agent": "imgae", "prompt": "x", "depends_on": ["s9"]}]}'
    with pytest.raises(PlanError) as caught:
        parse_plan(bad, AGENTS)
    messages = repair_messages(previous, bad, caught.value)
    assert messages[:2] == previous
    assert messages[2] == ChatMessage.assistant(bad)
    assert messages[3].role == "user"
    for problem in caught.value.problems:
        assert f"- {problem}\n" in messages[3].text
    assert messages[3].text.endswith("as the JSON object only.")
    assert len(previous) == 2  # the conversation given is not changed


def test_repair_messages_bound_what_they_send_back() -> None:
    error = PlanError([f"problem {i}" for i in range(40)])
    messages = repair_messages([], "x" * 100_000, error)
    assert len(messages[0].text) == 32_000
    assert "- problem 29\n- and 10 more\n" in messages[1].text
    assert "problem 30" not in messages[1].text
    assert repair_messages([], "  ", error)[0].text == "(no output)"


def test_replan_messages_carry_what_finished_and_what_failed() -> None:
    limits = PlanLimits(max_prompt_chars=50)
    messages = replan_messages(
        "Chart the sales",
        AGENTS,
        limits,
        completed={"s1": "read 120 rows:\nregion,total", "s2": "z" * 500},
        failed={"s3": "ModelTimeoutError: no answer in 60 s"},
    )
    system, user = messages[0].text, messages[1].text
    assert "Do not reuse these ids: s1, s2, s3." in system
    assert "- image: Generates and edits images." in system
    assert user.startswith("Task:\nChart the sales\n")
    assert "- s1: read 120 rows: region,total\n" in user
    assert "- s2: " + "z" * 50 + " [...]\n" in user
    assert "Failed steps:\n- s3: ModelTimeoutError: no answer in 60 s\n" in user
    empty = replan_messages("t", AGENTS, limits, completed={}, failed={})[1].text
    assert "Finished steps:\n(none)" in empty
    assert "Failed steps:\n(none)" in empty


def test_the_rest_of_a_plan_is_asked_for_with_every_problem_and_the_running_steps() -> None:
    previous = [ChatMessage.system("rules"), ChatMessage.user("task")]
    running = [Step(id="a", agent="code", prompt="A"), Step(id="b", agent="file", prompt="B")]
    problems = [f"step x{i}: unknown agent 'nope'" for i in range(40)]
    messages = remainder_messages(previous, '{"plan": [...]}', problems, running, {"x0"})
    assert messages[:2] == previous and messages[2].text == '{"plan": [...]}'
    ask = messages[3].text
    assert "- step x29: unknown agent 'nope'" in ask and "- and 10 more" in ask
    assert "- a (code, depends on nothing)" in ask and "- b (file, depends on nothing)" in ask
    assert "Write only the rest of the plan" in ask
    assert ask.endswith("Do not reuse these ids: a, b, x0.")
    nothing_ran = remainder_messages(previous, "", ["cycle: x -> y -> x"], [], {"x", "y"})
    assert nothing_ran[2].text == "(no output)"
    assert "Write the whole corrected plan" in nothing_ran[3].text
    assert nothing_ran[3].text.endswith("Do not reuse these ids: x, y.")


def test_the_planner_is_told_the_inputs_and_a_long_list_is_counted_not_dropped() -> None:
    from agent_relay.runtime import InputFile
    from agent_relay.runtime.plans._prompt import task_with_inputs

    assert task_with_inputs("just the task", []) == "just the task"
    files = [InputFile(path="notes.md", size=12)]
    files += [InputFile(path=f"data/{i:03d}.csv", size=i) for i in range(60)]
    told = task_with_inputs("Summarise", files)
    assert told.startswith("Summarise\n\n")
    assert "- notes.md (12 bytes)" in told and "- data/048.csv (48 bytes)" in told
    assert "data/049.csv" not in told
    assert "- and 11 more files in data" in told  # 61 files: 50 named, 11 counted
    assert "read-only" in told
