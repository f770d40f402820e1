"""The file agent: reads, writes and lists workspace files, and downloads from public URLs."""

from ._agent import FileAgent

__all__ = ["FileAgent"]
