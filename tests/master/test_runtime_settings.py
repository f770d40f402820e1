"""RuntimeSettings made in Python: a misspelt name, or the command line's spelling of a
field with a unit (``step_timeout`` for ``step_timeout_s``), is refused rather than
ignored, which would leave the default in force without a word."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent_relay.runtime import RuntimeSettings


@pytest.mark.parametrize("name", ["step_timeout", "delta_interval", "bogus"])
def test_a_name_that_is_no_setting_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match=rf"{name}\n  Extra inputs are not permitted"):
        RuntimeSettings(**{name: 5})


def test_the_fields_themselves_are_taken() -> None:
    settings = RuntimeSettings(step_timeout_s=5, delta_interval_s=0.5)
    assert (settings.step_timeout_s, settings.delta_interval_s) == (5, 0.5)
