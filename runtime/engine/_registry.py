"""Finds agents through the ``relay.agents`` entry-point group.

relay registers its own agents there, and a user's package adds more the same way, so the
runtime, the command line and the daemon never import the agents package by name:

    [project.entry-points."relay.agents"]
    translate = "my_package.agents:TranslateAgent"
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from .._errors import RelayError
from ._agent import Agent

ENTRY_POINT_GROUP = "relay.agents"


class AgentRegistryError(RelayError):
    """An agent could not be loaded or two agents claim one name."""


@dataclass(frozen=True)
class AgentInfo:
    name: str
    description: str
    agent_class: type[Agent]
    source: str  # "agent-relay 0.1.0 (agents:ImageAgent)"


def _load(ep: EntryPoint) -> AgentInfo:
    try:
        obj = ep.load()
    except Exception as exc:  # an entry point may fail in any way while importing
        raise AgentRegistryError(
            f"agent entry point {ep.name!r} ({ep.value}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, Agent)):
        raise AgentRegistryError(
            f"agent entry point {ep.name!r} ({ep.value}) is not an Agent subclass"
        )
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown package"
    return AgentInfo(
        name=obj.name,
        description=obj.description,
        agent_class=obj,
        source=f"{dist} ({ep.value})",
    )


def discover_agents() -> dict[str, AgentInfo]:
    """Every agent registered in the environment (entry points of ``relay.agents``), by name.

    Raises:
        AgentRegistryError: an entry point fails to load or is not an ``Agent`` subclass, or
            two different agents claim one name.
    """
    found: dict[str, AgentInfo] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        info = _load(ep)
        if info.name in found and found[info.name].agent_class is not info.agent_class:
            raise AgentRegistryError(
                f"two agents are named {info.name!r}: {found[info.name].source} and {info.source}"
            )
        found[info.name] = info
    return found
