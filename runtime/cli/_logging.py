"""Logging for the command line: loguru to stderr, text or JSON lines, secrets masked.

Every record passes a patcher that masks secrets in its message and extras, and the sink masks
the formatted line again (tracebacks included), so a key cannot reach the terminal by any path.
The standard library's logging (the openai SDK, httpx) is routed into loguru, so it gets the
same treatment.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent_relay.bus import printable

# Re-exported: the masking moved to the engine, which records contents in traces too.
from .._redact import MASK as MASK
from .._redact import Redactor as Redactor
from .._redact import redact as redact

if TYPE_CHECKING:
    from loguru import Message, Record


def _patch(record: Record) -> None:
    # Printable too: a message can quote a model's text, and the log goes to the terminal.
    record["message"] = printable(redact(record["message"]))
    for key, value in list(record["extra"].items()):
        if isinstance(value, str):
            record["extra"][key] = printable(redact(value))


def _stderr_sink(message: Message) -> None:
    # sys.stderr is looked up on every write: the live view redirects it above its display.
    sys.stderr.write(redact(str(message)))
    sys.stderr.flush()


class _ToLoguru(logging.Handler):
    """Hands records of the standard library's logging to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Named after the library's logger ("aiohttp.server"), not after the logging module.
        named = logger.patch(lambda entry: entry.update({"name": record.name}))
        named.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


_STDLIB_LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": 25,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}

_TEXT_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{name}</cyan>: <level>{message}</level>"
)


def configure_logging(level: str = "WARNING", *, json_lines: bool = False) -> None:
    """Send logs at ``level`` and above to stderr, as text or as JSON lines."""
    logger.remove()
    logger.configure(patcher=_patch)
    logger.enable("agent_relay")
    options: dict[str, Any] = {
        "level": level,
        # Values of local variables in tracebacks could hold secrets; never show them.
        "diagnose": False,
        "backtrace": False,
    }
    if json_lines:
        logger.add(_stderr_sink, serialize=True, **options)
    else:
        colorize = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        logger.add(_stderr_sink, format=_TEXT_FORMAT, colorize=colorize, **options)
    number = _STDLIB_LEVELS.get(level, logging.WARNING)
    logging.basicConfig(handlers=[_ToLoguru()], level=number, force=True)
    # At DEBUG the HTTP stack's byte-level chatter drowns everything else.
    logging.getLogger("httpcore").setLevel(max(logging.INFO, number))
    # The daemon's clients' protocol errors (a connection dropped mid-body, an oversized
    # header): the client got its 400; a traceback in the log tells the operator nothing.
    logging.getLogger("aiohttp.server").setLevel(
        number if number <= logging.DEBUG else logging.CRITICAL
    )
