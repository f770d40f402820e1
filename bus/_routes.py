"""Which subscription targets a concrete topic goes to, cached per topic.

Exact patterns sit in a dict; wildcard patterns are matched one by one, once per topic: the
answer is cached until a subscription that could change it comes or goes. Subscribing to an
exact pattern (a request's inbox, say) only forgets that one topic; a wildcard pattern
forgets the whole cache. The cache is bounded, oldest entry out first, because topics that
carry ids (``task.<id>.done``) never repeat forever.
"""

from __future__ import annotations

from typing import Protocol

import anyio

from ._event import Event
from ._topics import is_wildcard_pattern, tokens_match


class Target(Protocol):
    """A subscription or a queue group: something an event is offered to."""

    room_waiters: list[anyio.Event]

    def offer(self, event: Event) -> bool: ...


class RouteTable:
    __slots__ = ("_cache_size", "_exact", "_wildcards", "cache")

    def __init__(self, cache_size: int) -> None:
        self._cache_size = cache_size
        self._exact: dict[str, list[Target]] = {}
        self._wildcards: list[tuple[tuple[str, ...], Target]] = []
        self.cache: dict[str, tuple[Target, ...]] = {}
        """topic -> targets; read directly by the publisher, filled by :meth:`resolve`."""

    def resolve(self, topic: str) -> tuple[Target, ...]:
        """The targets of ``topic``, computed and cached."""
        targets = list(self._exact.get(topic, ()))
        if self._wildcards:
            topic_tokens = topic.split(".")
            targets.extend(t for tokens, t in self._wildcards if tokens_match(tokens, topic_tokens))
        resolved = tuple(targets)
        cache = self.cache
        if len(cache) >= self._cache_size:
            del cache[next(iter(cache))]
        cache[topic] = resolved
        return resolved

    def add(self, pattern: str, target: Target) -> None:
        if is_wildcard_pattern(pattern):
            self._wildcards.append((tuple(pattern.split(".")), target))
            self.cache.clear()
        else:
            self._exact.setdefault(pattern, []).append(target)
            self.cache.pop(pattern, None)

    def remove(self, pattern: str, target: Target) -> None:
        if is_wildcard_pattern(pattern):
            self._wildcards = [(tokens, t) for tokens, t in self._wildcards if t is not target]
            self.cache.clear()
        else:
            targets = self._exact.get(pattern, [])
            targets[:] = [t for t in targets if t is not target]
            if not targets:
                self._exact.pop(pattern, None)
            self.cache.pop(pattern, None)
