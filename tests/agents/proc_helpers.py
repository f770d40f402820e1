"""Finding what a sandboxed run left alive, from the host's side."""

from __future__ import annotations

from pathlib import Path


def processes_with(token: str) -> list[int]:
    """Host pids whose command line carries ``token``: what a run left alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
