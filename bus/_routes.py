"""Which subscription targets a concrete topic goes to, cached per topic.

Exact patterns sit in a dict; wildcard patterns sit in a tree of tokens, walked once per
topic along the topic's own tokens (and ``*`` branches), so resolving costs a few dictionary
lookups however many patterns there are. The answer is cached until a subscription that
could change it comes or goes. Subscribing to an exact pattern (a request's inbox, say) only
forgets that one topic; a wildcard pattern forgets the whole cache. The cache is bounded, the
older half out when it is full, because topics that carry ids (``task.<id>.done``) never
repeat forever.
"""

from __future__ import annotations

import itertools
from typing import Protocol, TypeVar

from ._event import Event
from ._room import RoomWaiters
from ._topics import is_wildcard_pattern

Key = TypeVar("Key")
Value = TypeVar("Value")


class Target(Protocol):
    """A subscription or a queue group: something an event is offered to."""

    room_waiters: RoomWaiters

    def offer(self, event: Event) -> bool: ...


class _Node:
    """One token position of the wildcard patterns: where each next token leads, and the
    targets of the patterns that end here (``ends``) or with a ``>`` here (``rests``), each
    with the order it subscribed in."""

    __slots__ = ("children", "ends", "rests", "star")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.star: _Node | None = None
        self.ends: list[tuple[int, Target]] = []
        self.rests: list[tuple[int, Target]] = []

    def is_empty(self) -> bool:
        return not (self.children or self.star or self.ends or self.rests)

    def child(self, token: str) -> _Node | None:
        return self.star if token == "*" else self.children.get(token)


def _match(node: _Node, tokens: list[str], index: int, found: list[tuple[int, Target]]) -> None:
    count = len(tokens)
    while True:
        if node.rests and index < count:  # ``>`` takes one or more tokens
            found.extend(node.rests)
        if index == count:
            found.extend(node.ends)
            return
        if node.star is not None:
            _match(node.star, tokens, index + 1, found)
        next_node = node.children.get(tokens[index])
        if next_node is None:
            return
        node = next_node
        index += 1


class RouteTable:
    """Where each topic's events go.

    Two caches keep matching off the publish path. ``cache`` maps a topic seen before to its
    targets. Most topics are new, though (they carry task and step ids), so the wildcard
    matches are also cached by the topic's *shape*: each token kept when some wildcard
    pattern has that literal at that position, else blanked. Topics of one shape match the
    same wildcard patterns, so ``task.<any id>.step.<any id>.completed`` is matched once.
    """

    __slots__ = ("_cache_size", "_exact", "_literals", "_order", "_shapes", "_wildcards", "cache")

    def __init__(self, cache_size: int) -> None:
        self._cache_size = cache_size
        self._exact: dict[str, list[Target]] = {}
        self._wildcards = _Node()
        self._order = itertools.count()
        self.cache: dict[str, tuple[Target, ...]] = {}
        """topic -> targets; read directly by the publisher, filled by :meth:`resolve`."""
        #: Per token position: the literal tokens wildcard patterns have there.
        self._literals: list[frozenset[str]] = []
        self._shapes: dict[tuple[str, ...], tuple[Target, ...]] = {}

    def resolve(self, topic: str) -> tuple[Target, ...]:
        """The targets of ``topic``, computed and cached: those of exact patterns first, then
        those of wildcard patterns in the order they subscribed."""
        wild = self._wild(topic)
        exact = self._exact.get(topic)
        resolved = (*exact, *wild) if exact else wild
        _bounded_put(self.cache, topic, resolved, self._cache_size)
        return resolved

    def has_targets(self, topic: str) -> bool:
        """Whether ``topic`` has any target, without caching the topic itself (asked of
        topics that are then mostly not published)."""
        return bool(self.cache.get(topic) or self._exact.get(topic) or self._wild(topic))

    def _wild(self, topic: str) -> tuple[Target, ...]:
        """The targets of the wildcard patterns ``topic`` matches, cached by its shape."""
        tokens = topic.split(".")
        literals = self._literals
        known = len(literals)
        # "" is never a token (the grammar has no empty ones), so it stands for "any other".
        shape = tuple([t if i < known and t in literals[i] else "" for i, t in enumerate(tokens)])
        wild = self._shapes.get(shape)
        if wild is None:
            found: list[tuple[int, Target]] = []
            _match(self._wildcards, tokens, 0, found)
            if len(found) > 1:
                found.sort(key=_first)
            wild = tuple(t for _, t in found)
            _bounded_put(self._shapes, shape, wild, self._cache_size)
        return wild

    def _wildcards_changed(self) -> None:
        """Forget every cached match and note the literals of the patterns now subscribed."""
        self.cache.clear()
        self._shapes.clear()
        literals: list[set[str]] = []
        level = [self._wildcards]
        while level:
            tokens = {token for node in level for token in node.children}
            literals.append(tokens)
            level = [
                child
                for node in level
                for child in (*node.children.values(), *((node.star,) if node.star else ()))
            ]
        self._literals = [frozenset(tokens) for tokens in literals]

    def add(self, pattern: str, target: Target) -> None:
        if is_wildcard_pattern(pattern):
            node = self._wildcards
            tokens = pattern.split(".")
            for token in tokens[:-1] if tokens[-1] == ">" else tokens:
                if token == "*":
                    node.star = node.star or _Node()
                    node = node.star
                else:
                    node = node.children.setdefault(token, _Node())
            entry = (next(self._order), target)
            (node.rests if tokens[-1] == ">" else node.ends).append(entry)
            self._wildcards_changed()
        else:
            self._exact.setdefault(pattern, []).append(target)
            self.cache.pop(pattern, None)

    def remove(self, pattern: str, target: Target) -> None:
        if is_wildcard_pattern(pattern):
            tokens = pattern.split(".")
            rest = tokens[-1] == ">"
            path = [self._wildcards]
            for token in tokens[:-1] if rest else tokens:
                node = path[-1].child(token)
                if node is None:
                    return
                path.append(node)
            entries = path[-1].rests if rest else path[-1].ends
            entries[:] = [(order, t) for order, t in entries if t is not target]
            self._prune(path, tokens)
            self._wildcards_changed()
        else:
            targets = self._exact.get(pattern, [])
            targets[:] = [t for t in targets if t is not target]
            if not targets:
                self._exact.pop(pattern, None)
            self.cache.pop(pattern, None)

    @staticmethod
    def _prune(path: list[_Node], tokens: list[str]) -> None:
        """Drop the nodes a removed pattern leaves empty, deepest first."""
        for depth in range(len(path) - 1, 0, -1):
            if not path[depth].is_empty():
                return
            parent, token = path[depth - 1], tokens[depth - 1]
            if token == "*":
                parent.star = None
            else:
                del parent.children[token]


def _first(entry: tuple[int, Target]) -> int:
    return entry[0]


def _bounded_put(cache: dict[Key, Value], key: Key, value: Value, size: int) -> None:
    if len(cache) >= size:
        # The older half goes at once: finding the oldest entry one at a time costs a scan
        # over the holes that earlier deletions left at the front of the dict.
        for old in list(itertools.islice(cache, max(1, len(cache) // 2))):
            del cache[old]
    cache[key] = value
