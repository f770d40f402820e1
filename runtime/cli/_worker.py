"""``relay worker``: agent actors only, taking steps from the bus's work queue.

A master (``relay serve`` or ``Runtime(bus="nats://...", workers="remote")``) puts the steps
of its tasks on the JetStream work queue; each worker takes the steps of its agents, runs
them and publishes their endings. A worker that dies mid-step has its step delivered to
another after the ack wait. On SIGTERM (or Ctrl-C) a worker stops taking steps, lets the
ones in flight finish within ``--grace`` seconds, hands the rest back to the queue at once,
and exits 0: nothing it took is lost.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import anyio

from agent_relay.bus import connect

from .._runtime import RuntimeUsageError, runtime_work_queue
from .._runtime_agents import build_agents
from ..engine._agent_actor import AgentActor
from ..models._chat_model import ChatModel
from ._config import ConfigError, RelaySettings
from ._endpoints import image_setup
from ._signals import watch_stop_signals

READY = "relay worker: ready"


async def worker_command(
    model: ChatModel,
    settings: RelaySettings,
    *,
    bus_url: str,
    agents: Sequence[str] | None,
    concurrency: int | None,
    ack_wait_s: float,
    max_deliver: int,
    grace_s: float,
) -> int:
    """Run the worker until a stop signal; 0 once it has drained.

    Raises:
        ConfigError: the bus URL, an agent name or an agent's options are wrong.
        BusError: the NATS server cannot be reached.
    """
    names = list(agents) if agents else settings.agents
    try:
        built, _ = build_agents(names, {"image": image_setup(settings, model).options})
    except RuntimeUsageError as exc:
        raise ConfigError(str(exc)) from None
    if not built:
        raise ConfigError("no agents to run: name them with --agents")
    bus = connect(bus_url)
    stop = anyio.Event()
    async with model, bus:
        work = runtime_work_queue(bus, ack_wait_s=ack_wait_s, max_deliver=max_deliver)
        actors = [
            AgentActor(bus, agent, model, concurrency=concurrency, work=work) for agent in built
        ]
        async with anyio.create_task_group() as tg:
            await tg.start(watch_stop_signals, lambda _: stop.set())
            async with anyio.create_task_group() as running:
                for actor in actors:
                    await running.start(actor.run)
                sys.stderr.write(f"{READY} ({', '.join(a.name for a in built)})\n")
                sys.stderr.flush()
                await stop.wait()
                async with anyio.create_task_group() as draining:
                    for actor in actors:
                        draining.start_soon(actor.drain, grace_s)
                for actor in actors:
                    actor.stop()
            tg.cancel_scope.cancel()  # the signal watcher
    sys.stderr.write("relay worker: stopped; every step it took is finished or handed back\n")
    return 0
