"""Text made safe for one line of a log, an event or a terminal."""

from __future__ import annotations

import re


def one_line(
    text: str | BaseException,
    limit: int | None = None,
    *,
    first_line: bool = False,
    blank: str | None = None,
) -> str:
    """``text`` on one line: runs of whitespace (newlines included) become one space and the
    ends are stripped.

    ``text`` may be an exception, which stands for its ``str()``. With ``first_line``, only the
    first line that is not blank is kept: the rest of an error message is often detail that
    belongs in the log. A blank result becomes ``blank``, which defaults to the exception's
    type name, or to ``""`` for a string. A result longer than ``limit`` characters is cut to
    ``limit`` characters, the last of them ``…``.

    Raises:
        ValueError: ``limit`` is less than 1.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    raw = str(text)
    if first_line:
        raw = next((line for line in raw.splitlines() if line.strip()), "")
    line = " ".join(raw.split())
    if not line:
        if blank is not None:
            line = blank
        elif isinstance(text, BaseException):
            line = type(text).__name__
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


# Escape sequences are removed whole, so their parameters (an OSC 52 payload, a window title)
# do not show as litter: CSI (ESC [ or C1 0x9B) up to its final byte; OSC, DCS, SOS, PM and
# APC (ESC ] P X ^ _ or their C1 forms) up to BEL or ST, or when unterminated (rich drops
# BEL from a Text before it is rendered) up to the next space, so the text after an OSC 52
# payload stays; any other ESC with its intermediate and final bytes.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])"
    r"(?:[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)|[^\x07\x1b\x9c\s]*)"
    r"|\x1b[ -/]*[0-~]?"
)
# What is left: C0 but newline and tab, DEL, C1, and the Unicode bidi controls (embeddings,
# overrides, isolates, marks) that make a file name read differently from what it is.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with nothing in it that drives a terminal: escape sequences (CSI, OSC, DCS
    and the like, whole, parameters included), every other control character but newline and
    tab (C0, DEL, C1) and the Unicode bidi controls (U+061C, U+200E/F, U+202A-E, U+2066-9)
    are removed.

    They are removed, not replaced by a visible mark, because they take no room on the
    screen: a view laid out before this runs stays laid out. The result is unchanged by a
    second pass.
    """
    if text.isprintable():  # the common case, cheaply: no controls of any kind
        return text
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
