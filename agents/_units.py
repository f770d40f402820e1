"""Byte sizes, written once for every limit the agents set."""

from __future__ import annotations

KiB = 2**10
MiB = 2**20
GiB = 2**30
