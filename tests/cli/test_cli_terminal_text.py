"""Untrusted text never drives the user's terminal: what a model writes (an answer, a step's
prompt, a file name, an error) reaches the screen with its escape sequences and bidi controls
removed, through every view - the plain lines, the live view and the report at 80 columns -
and the error lines; ``--json`` stays exact JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.bus import printable
from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import (
    BadRequestFault,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    ScriptItem,
)

OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x07"  # writes the clipboard
OSC0 = "\x1b]0;pwned\x1b\\"  # retitles the window
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"  # bidi override and isolates
HOSTILE = (OSC52, OSC0, CLEAR, RLO, LRI, PDI, "\x1b", "\x9b", "\x07", "\u200f", "\u061c")
# What rich itself writes: styles, the live view's cursor moves and line erases, links.
_RICH_STYLE = re.compile(r"\x1b\[[0-9;]*m")
_RICH_OWN = re.compile(
    r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[[0-9]*A|\r|\x1b\]8;[^\x1b\x07]*\x1b\\"
)
# Anything that drives a terminal, once rich's own codes are taken out.
_DRIVING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _script() -> list[ScriptItem]:
    plan = {
        "plan": [
            {
                "id": "s1",
                "agent": "file",
                "prompt": f"Write{OSC0} the{CLEAR} notes {RLO}txt.exe",
                "depends_on": [],
            },
            {"id": "s2", "agent": "file", "prompt": "Read it", "depends_on": ["s1"]},
        ]
    }
    name = f"notes{RLO}gpj.txt"
    return [
        json.dumps(plan),
        FakeReply(tool_calls=[FakeToolCall("write_file", {"path": name, "content": "hi"})]),
        f"Wrote the{OSC52} notes{CLEAR} for {LRI}you{PDI}.",
        BadRequestFault(f"no such{OSC52} model{OSC0} here{CLEAR}"),  # s2 fails: an error line
    ]


def _assert_nothing_drives(text: str) -> None:
    assert "pwned" not in text and "cm0gLXJmIH4K" not in text
    assert not _DRIVING.search(_RICH_OWN.sub("", text)), ascii(text)


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "live"])
def test_model_text_reaches_every_view_printable(
    relay_main: RelayMain, portal: BlockingPortal, terminal: bool
) -> None:
    # TTY_COMPATIBLE makes rich treat the captured output as a terminal: the live view.
    env = {"TTY_COMPATIBLE": "1", "COLUMNS": "80", "LINES": "24"} if terminal else {}
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        proc = relay_main(
            "run", f"Write {OSC52}notes", "--base-url", server.base_url, "--max-retries", "0",
            env=env,
        )  # fmt: skip
    for stream in (proc.stdout, proc.stderr):
        _assert_nothing_drives(stream)
    # while the visible text is all there
    # the step's prompt (the live view of a task this short may never draw its table)
    assert "Write the notes txt.exe" in proc.stdout or terminal
    assert "Wrote the notes for you." in proc.stdout
    assert "notesgpj.txt" in proc.stdout  # the file name, in its true order
    assert "no such model here" in proc.stdout + proc.stderr  # the failed step's error
    if terminal:
        assert _RICH_STYLE.search(proc.stdout)  # rich's own styles still pass


def test_json_output_stays_exact(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        proc = relay_main("run", "Write notes", "--json", "--base-url", server.base_url)
    data = json.loads(proc.stdout)
    TaskResult.model_validate(data)
    # the model's text, exactly as written: JSON itself escapes the control characters
    assert "\x1b" not in proc.stdout and "\\u001b]52;c;cm0gLXJmIH4K" in proc.stdout
    assert data["steps"][0]["output"] == f"Wrote the{OSC52} notes{CLEAR} for {LRI}you{PDI}."
    _assert_nothing_drives(proc.stderr)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"a{OSC52}b", "ab"),
        (f"a{OSC0}b", "ab"),
        # unterminated (rich drops a BEL before rendering): to the next space, no further
        ("a\x1b]52;c;cm0gLXJmIH4K notes", "a notes"),
        (f"a{CLEAR}b", "ab"),
        ("a\x9b2Jb\x9d0;t\x9cc", "abc"),  # the C1 forms of CSI, OSC and ST
        ("a\x1bcb\x1b(Bc", "abc"),  # reset, charset
        (f"evil{RLO}gpj.exe", "evilgpj.exe"),
        ("bell\x07 bs\x08 del\x7f nel\x85", "bell bs del nel"),
        ("line one\n\tline two", "line one\n\tline two"),
        ("ünïcødé ✓ 日本", "ünïcødé ✓ 日本"),
    ],
)
def test_printable_removes_what_drives_a_terminal(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text())
def test_printable_leaves_nothing_that_drives_and_is_stable(text: str) -> None:
    once = printable(text)
    assert not _DRIVING.search(once)
    assert printable(once) == once
