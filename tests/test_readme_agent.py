"""The README's "Writing an agent" example runs as written: its code block, taken from the
repository's README.md, defines an agent that a runtime plans with and whose tool works."""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_relay.runtime import Runtime
from agent_relay.runtime.testing import ScriptedModel, tool_call

README = Path(__file__).resolve().parents[1] / "README.md"
_MODULE = "readme_writing_an_agent"


def _example() -> str:
    """The first Python block under the heading "Writing an agent"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Writing an agent", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the section has no Python example"
    return found.group(1)


@pytest.fixture
def example() -> Iterator[types.ModuleType]:
    """The example, run as a module of its own (as a user's package would hold it)."""
    module = types.ModuleType(_MODULE)
    sys.modules[_MODULE] = module
    try:
        exec(compile(_example(), f"README.md ({_MODULE})", "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[_MODULE]


async def test_the_readme_agent_runs_and_its_tool_answers(
    example: types.ModuleType, tmp_path: Path
) -> None:
    plan = {"plan": [{"id": "s1", "agent": "dictionary", "prompt": "Explain 'relay'"}]}
    model = ScriptedModel(
        [json.dumps(plan), tool_call("lookup", {"word": "Relay"}), "Relay: to pass it on."]
    )
    async with Runtime(model, agents=[example.DictionaryAgent], workspace=tmp_path) as rt:
        result = await rt.run("What does relay mean?")
    assert result.status == "completed", result.error
    assert result.step("s1").agent == "dictionary"
    assert result.answer == "Relay: to pass it on."
    # the tool really ran on the example's own words
    tool_replies = [m.text for m in model.calls[2].messages if m.role == "tool"]
    assert tool_replies == [example.WORDS["relay"]]
    # the planner was offered the agent with its description
    assert "looks words up" in str(model.calls[0].messages)
