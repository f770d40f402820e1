"""What ``relay batch`` says about the input and the output: bad lines, what a rerun skips and
retries, and the summary at the end, which counts this run and then what the output file holds
for the input's ids (an id's latest line), since that decides the exit code."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.text import Text

from agent_relay.bus import printable

from ._batch_input import BadLine
from ._batch_output import RETRIED_STATUSES, ExistingResults
from ._batch_progress import BatchCounts
from ._logging import redact

#: Bad lines listed one by one; beyond this they are counted.
MAX_BAD_LINES_SHOWN = 20
#: Ids listed in one message; beyond this they are counted.
MAX_IDS_SHOWN = 20


def warn(text: str) -> None:
    # Masked and printable like every other message: error texts pass through from the
    # endpoint, and may quote the model.
    sys.stderr.write(f"relay: {printable(redact(text))}\n")


def say(console: Console, text: str) -> None:
    console.print(Text(text), soft_wrap=True, highlight=False)


def some_ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_IDS_SHOWN])
    return shown + (f" and {len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else "")


def report_bad_lines(bad: list[BadLine], input_path: Path) -> None:
    for item in bad[:MAX_BAD_LINES_SHOWN]:
        warn(f"{input_path.name} line {item.line}: {item.reason}; skipped")
    if len(bad) > MAX_BAD_LINES_SHOWN:
        warn(f"{input_path.name}: {len(bad) - MAX_BAD_LINES_SHOWN} more bad lines skipped")


def report_existing(existing: ExistingResults, out_name: str) -> None:
    if existing.torn_line is not None:
        warn(
            f"{out_name} ended in a torn line (line {existing.torn_line}, from an interrupted "
            "write); removed it, its task runs again"
        )
    if existing.unreadable_lines:
        lines = ", ".join(map(str, existing.unreadable_lines[:10]))
        warn(f"{out_name}: ignoring unreadable line(s) {lines}")


def report_rerun(console: Console, skipped: int, retried: int, out_name: str) -> None:
    if skipped:
        say(console, f"batch: {skipped} task(s) already in {out_name}, skipping them")
    if retried:
        say(
            console,
            f"batch: retrying {retried} task(s) whose latest result in {out_name} is failed or "
            "cancelled (--no-retry-failed skips them)",
        )


def not_completed(existing: ExistingResults, ids: Iterable[str]) -> dict[str, str]:
    """The input's ids whose latest result in the output is not ``completed``, with it."""
    return {
        i: existing.latest[i]
        for i in ids
        if i in existing.latest and existing.latest[i] != "completed"
    }


def summary(
    console: Console,
    counts: BatchCounts,
    *,
    skipped: int,
    bad: int,
    out_name: str,
    left: dict[str, str],
    retry_failed: bool,
) -> None:
    """This run's counts, then (if any) the input's tasks the output holds as not completed."""
    parts = [f"{counts.completed} completed", f"{counts.failed} failed"]
    if skipped:
        parts.append(f"{skipped} already done")
    if bad:
        parts.append(f"{bad} bad line{'s' * (bad != 1)} skipped")
    say(console, f"batch: {' · '.join(parts)} → {out_name}")
    if not left:
        return
    by_status = Counter(left.values())
    shown = ", ".join(f"{n} {status or 'unknown'}" for status, n in sorted(by_status.items()))
    hint = ""
    if any(status in RETRIED_STATUSES for status in left.values()):
        hint = (
            "; rerun the same command to retry the failed and cancelled ones"
            if retry_failed
            else "; rerun without --no-retry-failed to retry the failed and cancelled ones"
        )
    say(
        console,
        f"batch: {len(left)} task(s) not completed in {out_name} (latest result per id: "
        f"{shown}): {some_ids(list(left))}{hint}",
    )
