"""The names a model sees for MCP tools: ``<server>__<tool>``, within what a function name
may be (1-64 of ``A-Z a-z 0-9 _ -``).

A tool name with other characters (MCP allows ``.`` and ``/``) has them replaced by ``_``;
a name that would pass 64 characters is cut and ends in a short hash of the original, so two
long names stay apart. The server keeps the map back to the tool's own name.
"""

from __future__ import annotations

import hashlib
import re

SEPARATOR = "__"
MAX_NAME = 64
_DISALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def prefixed_name(server: str, tool: str) -> str:
    """``<server>__<tool>``, made a valid function name (see the module docstring)."""
    clean = _DISALLOWED.sub("_", tool) or "_"
    name = f"{server}{SEPARATOR}{clean}"
    if clean == tool and len(name) <= MAX_NAME:
        return name
    # Replaced characters or a cut: the hash of the tool's own name keeps two such apart.
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"
