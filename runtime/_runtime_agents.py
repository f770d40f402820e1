"""The agents a ``Runtime`` runs and the model each one talks to.

Agents are given as instances, classes or names (of agents registered under the
``relay.agents`` entry points), or not at all: then every registered agent that loads runs,
and the entry points that fail to import are kept aside (``broken``) for the caller to
report, instead of taking the runtime down with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agent_relay.bus import one_line

from ._errors import RelayError
from .assistants._backend_choice import BackendChoice, check_backend_choice
from .engine._agent import Agent
from .engine._registry import AgentCatalog, BrokenAgent, find_agents
from .mcp._config import McpServer
from .models._chat_model import ChatModel

#: What ``Runtime(agents=...)`` takes for one agent.
AgentSpec = Agent | type[Agent] | str


class RuntimeUsageError(RelayError):
    """The runtime was misused (not started, closed, bad arguments)."""


def build_agents(
    agents: Iterable[AgentSpec] | None, options: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Agent], tuple[BrokenAgent, ...]]:
    """The agents to run, and the registered entry points that failed to load (only when
    ``agents`` is None: a run that names its agents does not use the others).

    Raises:
        TypeError: an entry is not an agent, an agent class or a name.
        AgentRegistryError: a name is unknown or its entry point failed to load; two
            registered agents share a name.
        RuntimeUsageError: two agents share a name.
    """
    broken: tuple[BrokenAgent, ...] = ()
    catalog: AgentCatalog | None = None
    specs: list[Agent | type[Agent]] = []
    if agents is None:
        catalog = find_agents()
        broken = catalog.broken
        specs = [info.agent_class for info in catalog.agents.values()]
    else:
        for a in agents:
            if isinstance(a, str):
                catalog = catalog or find_agents()
                specs += [info.agent_class for info in catalog.select([a])]
            else:
                specs.append(a)
    out: list[Agent] = []
    for a in specs:
        if isinstance(a, Agent):
            out.append(a)
        elif isinstance(a, type) and issubclass(a, Agent):
            out.append(a(**options.get(a.name, {})))
        else:
            raise TypeError(f"not an agent: {a!r}")
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise RuntimeUsageError(f"two agents share a name: {sorted(names)}")
    return out, broken


def check_agent_models(
    agent_models: Mapping[str, ChatModel], agents: Iterable[Agent]
) -> dict[str, ChatModel]:
    """``agent_models`` checked against the agents that run.

    Raises:
        TypeError: a value is not a ``ChatModel``.
        RuntimeUsageError: a name is not one of the running agents (the message lists them).
    """
    running = sorted(a.name for a in agents)
    for name, model in agent_models.items():
        if not isinstance(model, ChatModel):
            raise TypeError(
                f"agent_models[{name!r}] must be a ChatModel, got {type(model).__name__}"
            )
        if name not in running:
            raise RuntimeUsageError(
                f"agent_models names {name[:40]!r}, which is not one of the agents that run: "
                f"{', '.join(running) or 'none'}"
            )
    return dict(agent_models)


def check_assistant_backend(choice: object) -> BackendChoice | None:
    """``Runtime(assistant_backend=...)`` checked: None, a backend name or a factory
    ``(model) -> Backend`` (see ``check_backend_choice``).

    Raises:
        RuntimeUsageError: a name that names no backend (the message lists them).
        TypeError: a ``Backend`` instance (one cannot serve the per-step managers) or
            anything else.
    """
    if choice is None:
        return None
    try:
        return check_backend_choice(choice)
    except RelayError as exc:
        raise RuntimeUsageError(f"assistant_backend: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"assistant_backend: {exc}") from None


def check_agent_setup(
    agents: Iterable[Agent],
    model: ChatModel,
    agent_models: Mapping[str, ChatModel],
    assistant_backend: BackendChoice | None,
) -> None:
    """Each agent's ``check_setup`` with the model it runs on (``agent_models``, else
    ``model``) and the runtime's assistant backend, before any step.

    Raises:
        RuntimeUsageError: an agent cannot work so; one line naming it and why.
    """
    for agent in agents:
        try:
            agent.check_setup(agent_models.get(agent.name, model), assistant_backend)
        except RelayError as exc:
            raise RuntimeUsageError(f"the {agent.name} agent: {one_line(str(exc))}") from None


def check_agent_mcp(
    agents: list[Agent], servers: Sequence[McpServer], *, named: bool
) -> list[Agent]:
    """The agents that run, given the MCP servers there are: a server's ``agents`` get its
    tools (added to their ``mcp_servers``); an agent that uses every server (``mcp_servers
    = "all"``) is left out when there are none, unless the agents were ``named`` (then that
    is an error); an agent naming servers needs each of them.

    Raises:
        RuntimeUsageError: one line naming the agent and the servers it lacks, or the server
            and the agent it names that does not run.
    """
    names = [s.name for s in servers]
    running = {a.name: a for a in agents}
    for server in servers:
        for agent_name in server.agents:
            agent = running.get(agent_name)
            if agent is None:
                raise RuntimeUsageError(
                    f"MCP server {server.name} names the agent {agent_name[:40]!r}, which is "
                    f"not one of the agents that run: {', '.join(sorted(running)) or 'none'}"
                )
            if agent.mcp_servers != "all" and server.name not in agent.mcp_servers:
                agent.mcp_servers = (*agent.mcp_servers, server.name)
    out = []
    for agent in agents:
        wanted = agent.mcp_servers
        if wanted == "all":
            if not names:
                if named:
                    raise RuntimeUsageError(
                        f"the {agent.name} agent uses MCP servers and none are configured: "
                        "give some (mcp_servers) or leave the agent out"
                    )
                continue
        else:
            missing = [name for name in wanted if name not in names]
            if missing:
                raise RuntimeUsageError(
                    f"the {agent.name} agent uses MCP server(s) {', '.join(missing)}, which "
                    f"are not configured; configured: {', '.join(names) or 'none'}"
                )
        out.append(agent)
    return out
