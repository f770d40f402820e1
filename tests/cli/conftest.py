"""Fixtures for driving ``relay`` in-process: ``agent_relay.runtime.cli.main(argv)`` in a fresh
directory, with an environment scrubbed of keys and relay settings, its output captured, and
every piece of process-wide state it touches (environment, loguru, the standard library's
logging) put back afterwards. The subprocess tests (cli_helpers.relay) keep the entry point,
exit codes and signals honest; these make the rest fast."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from cli_helpers import SCRUBBED_PREFIXES, RelayMain
from loguru import logger

from agent_relay.runtime.cli import main


@pytest.fixture
def relay_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[RelayMain]:
    """``relay`` in-process, in ``tmp_path``, returning what a subprocess run would."""
    saved_environ = dict(os.environ)
    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level, logging.getLogger("httpcore").level)
    for name in list(os.environ):
        if name.startswith(SCRUBBED_PREFIXES) or name == "NO_COLOR":
            del os.environ[name]
    monkeypatch.chdir(tmp_path)

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        os.environ.update(env or {})
        capsys.readouterr()  # only this call's output
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["relay", *args], code, out, err)

    try:
        yield run
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        # main() configured loguru and the standard library's logging for a command line.
        logger.remove()
        logger.configure(patcher=None)
        logger.add(sys.stderr)
        logger.enable("agent_relay")
        root.handlers[:], level, httpcore_level = saved_logging
        root.setLevel(level)
        logging.getLogger("httpcore").setLevel(httpcore_level)


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    """An event loop in a thread of its own, to serve a fake (``FakeOpenAIServer``) while
    ``main()`` runs its own event loop in the test's thread, where its signal handling works.
    Enter a fake with ``portal.wrap_async_context_manager(fake)``."""
    with start_blocking_portal() as portal:
        yield portal
