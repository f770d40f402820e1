"""The ``relay`` command line: ``relay run``, ``relay demo``, ``relay batch``, ``relay agents``."""

from ._app import main

__all__ = ["main"]
