"""The route table: which targets a topic goes to, as subscriptions come and go, agrees with
matching each pattern on its own, in subscription order."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.bus import Event, topic_matches
from agent_relay.bus._routes import RouteTable

TOKENS = st.sampled_from(["a", "b", "task", "42", "zz", "7"])
TOPICS = st.lists(TOKENS, min_size=1, max_size=5).map(".".join)
PATTERN_TOKENS = st.sampled_from(["a", "b", "task", "42", "*"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(PATTERN_TOKENS, min_size=0, max_size=4))
    if not tokens or draw(st.booleans()):
        tokens.append(">" if draw(st.booleans()) else draw(PATTERN_TOKENS))
    return ".".join(tokens)


@dataclass(eq=False)
class FakeTarget:
    name: str
    room_waiters: list[anyio.Event] = field(default_factory=list)

    def offer(self, event: Event) -> bool:
        return True


# Each operation adds a target on a pattern, or removes the one added by an earlier operation.
OPERATIONS = st.lists(st.tuples(patterns(), st.integers(min_value=-1, max_value=30)), max_size=25)


@given(OPERATIONS, st.lists(TOPICS, min_size=1, max_size=8), st.integers(1, 4))
def test_resolution_agrees_with_matching_each_pattern(
    operations: list[tuple[str, int]], topics: list[str], cache_size: int
) -> None:
    table = RouteTable(cache_size)
    live: list[tuple[str, FakeTarget]] = []  # in subscription order
    added: list[tuple[str, FakeTarget]] = []
    for step, (pattern, remove) in enumerate(operations):
        if 0 <= remove < len(added) and added[remove] in live:
            gone = added[remove]
            live.remove(gone)
            table.remove(*gone)
        else:
            entry = (pattern, FakeTarget(f"t{step}"))
            added.append(entry)
            live.append(entry)
            table.add(*entry)
        for topic in topics:  # resolving (and caching) between changes must not go stale
            expected = [t for p, t in live if "*" not in p and ">" not in p and p == topic]
            expected += [t for p, t in live if ("*" in p or ">" in p) and topic_matches(p, topic)]
            assert list(table.cache.get(topic) or table.resolve(topic)) == expected


def test_removing_every_pattern_leaves_an_empty_tree() -> None:
    table = RouteTable(8)
    targets = [FakeTarget(str(i)) for i in range(4)]
    subscribed = list(zip(["a.*.c", "a.>", "*.b", "a.*.c"], targets, strict=True))
    for pattern, target in subscribed:
        table.add(pattern, target)
    assert table.resolve("a.b.c") == (targets[0], targets[1], targets[3])
    for pattern, target in subscribed:
        table.remove(pattern, target)
    assert table.resolve("a.b.c") == ()
    assert table._wildcards.is_empty()
