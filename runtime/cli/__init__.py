"""The ``relay`` command line: ``relay run``, ``relay demo``, ``relay batch``, ``relay agents``."""

from ._app import console_main, main

__all__ = ["console_main", "main"]
