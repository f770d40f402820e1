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

import anyio

from agent_relay.bus import connect

from .._errors import ModelConfigError
from .._runtime import RuntimeUsageError, runtime_work_queue
from .._runtime_agents import (
    build_agents,
    check_agent_mcp,
    check_agent_models,
    check_agent_setup,
)
from ..engine._agent_actor import AgentActor
from ..engine._step_text import DeltaOptions
from ..mcp._config import McpConfigError
from ..mcp._servers import McpServers
from ..models._chat_model import ChatModel
from ._bus_settings import is_memory_bus
from ._config import ConfigError, RelaySettings
from ._endpoints import image_setup
from ._model import build_agent_models, opened
from ._signals import watch_stop_signals

READY = "relay worker: ready"


async def worker_command(
    model: ChatModel, settings: RelaySettings, *, concurrency: int | None, grace_s: float
) -> int:
    """Run the worker on ``settings.bus`` until a stop signal; 0 once it has drained. It runs
    the agents ``settings.agents`` names (every registered one if unset), each on its model
    (``agent_models``, else ``model``), ``concurrency`` steps per agent at once (None: the
    agent's own), their runs on the assistant backend ``backend`` names.

    Raises:
        ConfigError: the bus is not a nats:// URL; an agent name, an agent's model or an
            agent's options are wrong, or an agent cannot run on the assistant backend.
        BusError: the NATS server cannot be reached.
    """
    if is_memory_bus(settings.bus):
        raise ConfigError(
            "relay worker takes its steps from a NATS server: give --bus nats://host:port "
            "(the master's --bus)"
        )
    agent_models = build_agent_models(settings)
    image_model = agent_models.get("image", model)
    try:
        built, _ = build_agents(
            settings.agents, {"image": image_setup(settings, image_model).options}
        )
        mcp = McpServers(settings.mcp_servers)
        built = check_agent_mcp(built, mcp.configs, named=settings.agents is not None)
        agent_models = check_agent_models(agent_models, built)
        check_agent_setup(built, model, agent_models, settings.assistant_backend)
    except (RuntimeUsageError, McpConfigError) as exc:
        raise ConfigError(str(exc)) from None
    except ModelConfigError as exc:
        raise ConfigError(f"cannot set up the agents: {exc}") from None
    if not built:
        raise ConfigError("no agents to run: name them with --agents")
    bus = connect(settings.bus)
    stop = anyio.Event()
    async with model, opened(agent_models), bus, mcp:
        work = runtime_work_queue(
            bus, ack_wait_s=settings.ack_wait, max_deliver=settings.max_deliver
        )
        actors = [
            AgentActor(
                bus,
                agent,
                agent_models.get(agent.name, model),
                concurrency=concurrency,
                work=work,
                assistant_backend=settings.assistant_backend,
                mcp=mcp if mcp.names else None,
                deltas=DeltaOptions.of(settings),
            )
            for agent in built
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
