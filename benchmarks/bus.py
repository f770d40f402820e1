"""Benchmark: publish -> handle on relay's in-memory bus vs autogen-core's runtime.

Three shapes, each run on both in the same process with the same message counts:

- 1 -> 1: one publisher, one handler;
- 1 -> 8 fan-out: every message handled by 8 handlers (relay: 8 actors on one topic;
  autogen: 8 agent types subscribed to one topic);
- queue group of 8: every message handled by one of 8 (relay: 8 actors in one queue group;
  autogen has no queue groups, so the publisher spreads messages round-robin over 8 topics,
  one agent type each).

relay is measured on its realistic path: ``bus.emit()`` builds and validates an ``Event``,
and an ``Actor`` handler takes it. autogen publishes a dataclass with ``publish_message`` to a
``RoutedAgent``'s ``message_handler`` and waits with ``stop_when_idle()``.

Throughput: publish N messages as fast as possible, until the last is handled; the median
of several runs. relay runs right before and right after each autogen run, and the ratio is
the median of those pairs' ratios, so that both sides of a ratio saw the same load. Latency:
publish at half of the measured peak rate, paced one message at a time, and time each
message from just before publishing to the start of its handler.

Run: ``python benchmarks/bus.py``. The last line printed is one JSON object with the 1 -> 1
figures.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
from autogen_core import (
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    TopicId,
    TypeSubscription,
    message_handler,
)
from rich.console import Console
from rich.table import Table

from agent_relay.bus import Actor, Event, InMemoryBus, handler

FAN = 8
REPEATS = 7
LATENCY_SECONDS = 1.0


@dataclass
class Tally:
    """What every handler of one run reports to: a count, and latencies when asked."""

    target: int
    done: anyio.Event = field(default_factory=anyio.Event)
    count: int = 0
    latencies_ns: list[int] | None = None

    def handled(self, sent_ns: Any) -> None:  # an int, read from JSON event data
        if self.latencies_ns is not None:
            self.latencies_ns.append(time.perf_counter_ns() - sent_ns)
        self.count += 1
        if self.count == self.target:
            self.done.set()


# --- relay --------------------------------------------------------------------------------


class OneSink(Actor):
    def __init__(self, bus: InMemoryBus, tally: Tally) -> None:
        super().__init__(bus, name="sink")
        self.tally = tally

    @handler("bench.one")
    async def on_tick(self, event: Event) -> None:
        self.tally.handled(event.data["t"])


class FanSink(OneSink):
    @handler("bench.fan")
    async def on_tick(self, event: Event) -> None:
        self.tally.handled(event.data["t"])


class PoolSink(OneSink):
    @handler("bench.pool", queue="sinks")
    async def on_tick(self, event: Event) -> None:
        self.tally.handled(event.data["t"])


RELAY_SHAPES: dict[str, tuple[type[OneSink], int, str]] = {
    # shape: (actor class, how many actors, topic)
    "1 -> 1": (OneSink, 1, "bench.one"),
    "1 -> 8 fan-out": (FanSink, FAN, "bench.fan"),
    "queue group of 8": (PoolSink, FAN, "bench.pool"),
}


async def relay_run(shape: str, count: int, rate: float | None) -> tuple[float, list[int]]:
    """Publish ``count`` messages (paced at ``rate`` per second if given); return the
    messages per second and the latencies."""
    actor_class, actors, topic = RELAY_SHAPES[shape]
    handled_per_message = actors if shape == "1 -> 8 fan-out" else 1
    tally = Tally(target=count * handled_per_message, latencies_ns=[] if rate else None)
    async with InMemoryBus() as bus, anyio.create_task_group() as tg:
        for _ in range(actors):
            await tg.start(actor_class(bus, tally).run)

        async def publish(n: int) -> None:
            await bus.emit(topic, "tick", {"n": n, "t": time.perf_counter_ns()})

        seconds = await _drive(publish, count, rate, tally)
        await bus.aclose()
    return count / seconds, tally.latencies_ns or []


async def relay_iterator_run(count: int, rate: float | None) -> tuple[float, list[int]]:
    """1 -> 1 with a plain subscription iterator instead of an actor."""
    tally = Tally(target=count, latencies_ns=[] if rate else None)
    async with InMemoryBus() as bus, anyio.create_task_group() as tg:
        subscription = bus.subscribe("bench.iter")

        async def consume() -> None:
            async for event in subscription:
                tally.handled(event.data["t"])

        tg.start_soon(consume)

        async def publish(n: int) -> None:
            await bus.emit("bench.iter", "tick", {"n": n, "t": time.perf_counter_ns()})

        seconds = await _drive(publish, count, rate, tally)
        await bus.aclose()
    return count / seconds, tally.latencies_ns or []


# --- autogen-core -------------------------------------------------------------------------


@dataclass
class Tick:
    n: int
    t: int


class AutogenSink(RoutedAgent):
    tally: Tally  # set per run, before the runtime creates agents

    def __init__(self) -> None:
        super().__init__("benchmark sink")

    @message_handler
    async def on_tick(self, message: Tick, ctx: MessageContext) -> None:
        AutogenSink.tally.handled(message.t)


async def autogen_run(shape: str, count: int, rate: float | None) -> tuple[float, list[int]]:
    agent_types = 1 if shape == "1 -> 1" else FAN
    handled_per_message = FAN if shape == "1 -> 8 fan-out" else 1
    tally = Tally(target=count * handled_per_message, latencies_ns=[] if rate else None)
    AutogenSink.tally = tally
    runtime = SingleThreadedAgentRuntime()
    topics = []
    for k in range(agent_types):
        await AutogenSink.register(runtime, f"sink{k}", AutogenSink)
        topic_type = "bench" if shape != "queue group of 8" else f"bench{k}"
        await runtime.add_subscription(TypeSubscription(topic_type, f"sink{k}"))
        topics.append(TopicId(topic_type, "default"))
    runtime.start()

    async def publish(n: int) -> None:
        topic = topics[n % len(topics)] if shape == "queue group of 8" else topics[0]
        await runtime.publish_message(Tick(n, time.perf_counter_ns()), topic)

    seconds = await _drive(publish, count, rate, tally, runtime.stop_when_idle)
    return count / seconds, tally.latencies_ns or []


# --- driving and reporting ----------------------------------------------------------------


async def _drive(
    publish: Callable[[int], Awaitable[None]],
    count: int,
    rate: float | None,
    tally: Tally,
    finish: Callable[[], Awaitable[None]] | None = None,
) -> float:
    """Publish ``count`` messages, flat out or paced; return the seconds until all were
    handled."""
    gc.collect()
    start = time.perf_counter()
    if rate is None:
        for n in range(count):
            await publish(n)
    else:
        interval = 1.0 / rate
        for n in range(count):
            due = start + n * interval
            while time.perf_counter() < due:  # pace by yielding: sleeps are ~1 ms coarse
                await anyio.lowlevel.checkpoint()
            await publish(n)
            # One message at a time: let the handlers run even when behind schedule, rather
            # than catching up in a burst.
            await anyio.lowlevel.checkpoint()
    if finish is not None:
        await finish()
    with anyio.fail_after(60):
        await tally.done.wait()
    return time.perf_counter() - start


Runner = Callable[[int, float | None], Awaitable[tuple[float, list[int]]]]


@dataclass
class Row:
    shape: str
    count: int
    relay_rate: float
    autogen_rate: float | None
    ratio: float | None
    """The median over runs of relay's rate over autogen's, each pair measured together."""
    relay_latency: tuple[float, float]
    autogen_latency: tuple[float, float] | None


def _percentiles_us(latencies_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(latencies_ns)
    return (
        ordered[len(ordered) // 2] / 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000,
    )


async def measure(
    shape: str, count: int, repeats: int, relay: Runner, autogen: Runner | None
) -> Row:
    await relay(min(count, 2000), None)  # warm up
    if autogen is not None:
        await autogen(min(count, 500), None)
    relay_rates, autogen_rates, ratios = [], [], []
    for _ in range(repeats):
        relay_rate = (await relay(count, None))[0]
        if autogen is not None:
            # relay runs just before and just after autogen's (much longer) run, so that a
            # pair's ratio compares the two under the same load of the shared machine.
            autogen_rates.append((await autogen(count, None))[0])
            relay_rate = (relay_rate + (await relay(count, None))[0]) / 2
            ratios.append(relay_rate / autogen_rates[-1])
        relay_rates.append(relay_rate)
    relay_peak = statistics.median(relay_rates)
    _, relay_latencies = await relay(int(relay_peak / 2 * LATENCY_SECONDS), relay_peak / 2)
    autogen_peak = statistics.median(autogen_rates) if autogen_rates else None
    autogen_latency = None
    if autogen is not None and autogen_peak is not None:
        _, latencies = await autogen(int(autogen_peak / 2 * LATENCY_SECONDS), autogen_peak / 2)
        autogen_latency = _percentiles_us(latencies)
    return Row(
        shape,
        count,
        relay_peak,
        autogen_peak,
        statistics.median(ratios) if ratios else None,
        _percentiles_us(relay_latencies),
        autogen_latency,
    )


def _runner(
    run: Callable[[str, int, float | None], Awaitable[tuple[float, list[int]]]], shape: str
) -> Runner:
    return lambda count, rate: run(shape, count, rate)


async def main() -> None:
    console = Console(width=max(Console().width, 110))  # no wrapping when piped
    plan = [
        ("1 -> 1", 20_000, REPEATS),
        ("1 -> 8 fan-out", 4_000, 3),
        ("queue group of 8", 20_000, 3),
    ]
    rows = []
    for shape, count, repeats in plan:
        console.print(f"measuring {shape} ({count} messages, {repeats} runs each)...")
        rows.append(
            await measure(
                shape, count, repeats, _runner(relay_run, shape), _runner(autogen_run, shape)
            )
        )
    console.print("measuring 1 -> 1 through a plain subscription iterator (relay only)...")
    rows.append(await measure("1 -> 1, iterator", 20_000, 3, relay_iterator_run, None))

    table = Table(title="publish -> handle: relay InMemoryBus vs autogen-core runtime")
    for column in (
        "shape",
        "messages",
        "relay msg/s",
        "autogen msg/s",
        "ratio",
        "relay p50/p99 µs",
        "autogen p50/p99 µs",
    ):
        table.add_column(column, justify="left" if column == "shape" else "right")
    for row in rows:
        table.add_row(
            row.shape,
            f"{row.count:,}",
            f"{row.relay_rate:,.0f}",
            "n/a" if row.autogen_rate is None else f"{row.autogen_rate:,.0f}",
            "" if row.ratio is None else f"{row.ratio:.1f}x",
            "{:.0f} / {:.0f}".format(*row.relay_latency),
            "n/a"
            if row.autogen_latency is None
            else "{:.0f} / {:.0f}".format(*row.autogen_latency),
        )
    console.print(table)
    console.print(
        "msg/s: messages published per second until all were handled (median of runs; a"
        " fan-out message counts once, handled 8 times). ratio: median of per-run ratios,"
        " relay measured right before and after each autogen run. Latency: paced at half of each"
        " side's own peak, from publish to handler start. autogen has no queue groups: its"
        " 'queue group' row publishes round-robin to 8 topics, one agent type each."
    )
    one = rows[0]
    assert one.autogen_rate is not None
    assert one.ratio is not None
    print(
        json.dumps(
            {
                "relay_msgs_per_s": round(one.relay_rate),
                "autogen_msgs_per_s": round(one.autogen_rate),
                "ratio": round(one.ratio, 1),
                "p99_us": round(one.relay_latency[1], 1),
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main)
