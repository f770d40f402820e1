"""The console every view of the command line draws on: untrusted text never drives the
terminal.

Model text (answers, step prompts and outputs, file names, errors) reaches the screen through
the live view, the plain lines, the final report and the batch views. Each of them renders
through :meth:`Console.render`, so that is where the text is made printable, once for all: an
escape sequence or a bidi control in any of them is removed there, while rich's own control
segments (the live view's cursor moves) and its styles, which are not text, pass.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from agent_relay.bus import printable


class SafeConsole(Console):
    """A rich ``Console`` whose rendered text is :func:`~agent_relay.bus.printable`."""

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and not segment.text.isprintable():
                yield Segment(printable(segment.text), segment.style)
            else:
                yield segment


_UNBOUNDED = 1_000_000


def print_whole(console: Console, renderable: RenderableType) -> None:
    """Print ``renderable`` to fit the terminal, or, to a pipe or a log, which have no edge,
    with every line whole instead of cut at an assumed 80 columns (``print``'s own width
    cannot pass the console's, hence the console's for the call)."""
    if console.is_terminal:
        console.print(renderable)
        return
    width, console.width = console.width, _UNBOUNDED
    try:
        console.print(renderable, soft_wrap=True)
    finally:
        console.width = width
