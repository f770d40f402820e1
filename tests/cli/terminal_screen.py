"""What a terminal would show after some output: enough of a VT100 to replay what rich writes
for a live display (carriage returns, cursor up and down, erase line), so a test can tell what
stays on screen rather than what passed by."""

from __future__ import annotations

import re

# CSI sequences (ESC [ params final) and OSC ones (ESC ] ... BEL or ESC \).
_ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def final_screen(output: str) -> list[str]:
    """The lines left on screen once ``output`` was written, trailing blanks dropped."""
    lines: list[list[str]] = [[]]
    row = col = 0
    position = 0
    while position < len(output):
        escape = _ESCAPE.match(output, position)
        if escape is not None:
            position = escape.end()
            params, final = escape.group(1) or "", escape.group(2)
            count = int(params) if params.isdigit() else 1
            if final == "A":
                row = max(row - count, 0)
            elif final == "B":
                row += count
            elif final == "G":
                col = max(count - 1, 0)
            elif final == "K":
                line = lines[row] if row < len(lines) else []
                if params in ("", "0"):
                    del line[col:]
                else:  # 1K and 2K: the whole line, for what a test needs
                    line.clear()
            continue  # colours, cursor shown or hidden: nothing on screen changes
        char = output[position]
        position += 1
        if char == "\r":
            col = 0
        elif char == "\n":
            row += 1
            col = 0
        elif char >= " ":
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
        while len(lines) <= row:
            lines.append([])
    shown = ["".join(line).rstrip() for line in lines]
    while shown and not shown[-1]:
        shown.pop()
    return shown
