"""Finds agents through the ``relay.agents`` entry-point group.

relay registers its own agents there, and a user's package adds more the same way, so the
runtime, the command line and the daemon never import the agents package by name:

    [project.entry-points."relay.agents"]
    translate = "my_package.agents:TranslateAgent"

One package that fails to import must not take the others down: ``find_agents`` loads every
entry point it can and returns the broken ones beside them, for the caller to report once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from agent_relay.bus import one_line

from .._errors import RelayError
from ._agent import Agent

ENTRY_POINT_GROUP = "relay.agents"


class AgentRegistryError(RelayError):
    """An agent could not be loaded, two agents claim one name, or an agent asked for by name
    is not registered."""


@dataclass(frozen=True)
class AgentInfo:
    name: str
    description: str
    agent_class: type[Agent]
    source: str  # "agent-relay 0.1.0 (agents:ImageAgent)"
    entry_point: str = ""  # "image = agents:ImageAgent"
    package: str = ""  # "agent-relay 0.1.0"


@dataclass(frozen=True)
class BrokenAgent:
    """An entry point that could not be loaded: ``name`` is the entry point's name (its agent's
    name is unknown, since the agent never loaded), ``value`` what it points at
    (``"pkg.mod:Cls"``), ``package`` the distribution and version that declares it, ``error``
    what went wrong, in one line."""

    name: str
    value: str
    package: str
    error: str

    def describe(self) -> str:
        """``agent entry point 'x' (pkg.mod:Cls, pkg 1.0) failed to load: RuntimeError: ...``"""
        return (
            f"agent entry point {self.name!r} ({self.value}, {self.package}) "
            f"failed to load: {self.error}"
        )


@dataclass(frozen=True)
class AgentCatalog:
    """What the entry points hold: the agents that loaded, by name, and the broken ones."""

    agents: dict[str, AgentInfo]
    broken: tuple[BrokenAgent, ...]

    def select(self, names: Iterable[str]) -> list[AgentInfo]:
        """The agents called ``names`` (any case, in the order given, each once).

        Raises:
            AgentRegistryError: a name is not registered (the message lists the known ones),
                or names an entry point that failed to load (the message says why).
        """
        chosen: dict[str, AgentInfo] = {}
        broken = {b.name: b for b in self.broken}
        for raw in names:
            name = raw.strip().lower()
            if name in self.agents:
                chosen.setdefault(name, self.agents[name])
            elif name in broken:
                raise AgentRegistryError(broken[name].describe())
            else:
                known = ", ".join(sorted(self.agents)) or "none"
                raise AgentRegistryError(f"unknown agent {raw[:40]!r}; known agents: {known}")
        return list(chosen.values())


def _package(ep: EntryPoint) -> str:
    return f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown package"


def _load(ep: EntryPoint) -> AgentInfo | BrokenAgent:
    try:
        obj = ep.load()
    except Exception as exc:  # an entry point may fail in any way while importing
        error = one_line(f"{type(exc).__name__}: {exc}")
        return BrokenAgent(ep.name, ep.value, _package(ep), error)
    if not (isinstance(obj, type) and issubclass(obj, Agent)):
        return BrokenAgent(ep.name, ep.value, _package(ep), "not an Agent subclass")
    return AgentInfo(
        name=obj.name,
        description=obj.description,
        agent_class=obj,
        source=f"{_package(ep)} ({ep.value})",
        entry_point=f"{ep.name} = {ep.value}",
        package=_package(ep),
    )


def find_agents() -> AgentCatalog:
    """Every agent registered in the environment (entry points of ``relay.agents``), by name,
    and the entry points that failed to load (import error, not an ``Agent`` subclass).

    Raises:
        AgentRegistryError: two different agents claim one name.
    """
    found: dict[str, AgentInfo] = {}
    broken: list[BrokenAgent] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        info = _load(ep)
        if isinstance(info, BrokenAgent):
            broken.append(info)
            continue
        if info.name in found and found[info.name].agent_class is not info.agent_class:
            raise AgentRegistryError(
                f"two agents are named {info.name!r}: {found[info.name].source} and {info.source}"
            )
        found[info.name] = info
    return AgentCatalog(found, tuple(broken))


def discover_agents() -> dict[str, AgentInfo]:
    """Every agent registered in the environment, by name; strict: use ``find_agents`` to
    load the others when one is broken.

    Raises:
        AgentRegistryError: an entry point fails to load or is not an ``Agent`` subclass, or
            two different agents claim one name.
    """
    catalog = find_agents()
    if catalog.broken:
        raise AgentRegistryError(catalog.broken[0].describe())
    return catalog.agents
