"""``task_settings``: a task's overrides of the runtime's settings, checked as a whole; every
bad value is one clear line, and a good one changes that field and no other."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.runtime import RuntimeSettings
from agent_relay.runtime._settings import SHARED_SETTINGS, task_settings

BASE = RuntimeSettings(allow_code_execution=False)
NAMES = [*sorted(RuntimeSettings.model_fields), "max_stepz", "", "model"]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=2000),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=1e4),
    st.sampled_from(["auto", "always", "never", "soon", "12", ""]),
    st.lists(st.integers(), max_size=2),
)


@given(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=4))
def test_overrides_change_their_fields_only_or_fail_in_one_line(
    overrides: dict[str, Any],
) -> None:
    try:
        settings = task_settings(BASE, overrides)
    except ValueError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 600
        return
    assert not set(overrides) & SHARED_SETTINGS
    assert not settings.allow_code_execution  # the runtime forbids it: no task may allow it
    for name in RuntimeSettings.model_fields:
        if name not in overrides:
            assert getattr(settings, name) == getattr(BASE, name)
    assert RuntimeSettings.model_validate(settings.model_dump()) == settings


def test_no_overrides_is_the_runtimes_own_settings() -> None:
    assert task_settings(BASE, {}) is BASE


def test_a_task_may_turn_code_execution_off() -> None:
    base = RuntimeSettings()
    own = task_settings(base, {"allow_code_execution": False, "step_timeout_s": "30"})
    assert own.allow_code_execution is False and own.step_timeout_s == 30.0
    assert base.allow_code_execution is True  # the runtime's own are unchanged


def test_a_task_may_ask_for_more_approval_never_less() -> None:
    risky = RuntimeSettings(approve_tools="risky", approve_plan=True)
    assert task_settings(risky, {"approve_tools": "always"}).approve_tools == "always"
    assert task_settings(risky, {"approve_tools": "risky"}).approve_tools == "risky"
    with pytest.raises(ValueError, match="approve_tools=never: the runtime asks for risky"):
        task_settings(risky, {"approve_tools": "never"})
    with pytest.raises(ValueError, match="cannot turn approve_plan off"):
        task_settings(risky, {"approve_plan": False})
    # Where the runtime asks for nothing, a task may ask for anything.
    own = task_settings(RuntimeSettings(), {"approve_tools": "risky", "approve_plan": True})
    assert own.approve_tools == "risky" and own.approve_plan
