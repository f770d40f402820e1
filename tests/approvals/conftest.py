"""The approval tests drive the real master and agents with the helpers of the agent, master
and distributed tests: their folders are importable from here."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).parents[1]
for _folder in ("agents", "master", "distributed"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))
