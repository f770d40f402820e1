"""What a sandbox test does on a machine that lacks an isolation feature (root, setpriv, user
or network namespaces, a private /tmp).

On a developer's machine the test is skipped (or marked an expected failure) with the reason.
With ``RELAY_REQUIRE_ISOLATION=1`` (``.ci/run`` sets it; CI runs as root on a machine with
namespaces) it fails instead: there, a missing feature means the security tests did not run,
and that must not pass quietly.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRED = os.environ.get("RELAY_REQUIRE_ISOLATION") == "1"


def lacking(what: str, *, expected_failure: bool = False) -> NoReturn:
    """The machine lacks ``what``: skip (or xfail) the test, or fail it when isolation is
    required."""
    if REQUIRED:
        pytest.fail(f"RELAY_REQUIRE_ISOLATION=1, but {what}", pytrace=False)
    if expected_failure:
        pytest.xfail(what)
    pytest.skip(what)
