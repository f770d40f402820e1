"""Text made safe for one line of a log, an event or a terminal."""

from __future__ import annotations


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
