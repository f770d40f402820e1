"""``Setting``: how one settings field is offered to people, attached to the field itself.

A field of ``RuntimeSettings`` or of the command line's ``RelaySettings`` carries one
``Setting`` in its ``Annotated`` metadata. From it alone come the field's key in ``relay.toml``,
its environment variable, its flag (and the commands that take the flag) and its row in the
README's settings table, so no second table can drift from the field. A field without one is
not a user setting (it keeps its default on the command line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "RELAY_"

#: The commands that run tasks; most flags apply to all of them.
TASK_COMMANDS = frozenset({"run", "demo", "batch", "serve"})
#: ``relay worker`` runs agents only: no planner, no daemon, no workspace of its own (a step
#: names its task's directory), so it takes only the model's, the agents' and the bus's flags.
WORKER_COMMANDS = frozenset({"worker"})
#: The commands that call a model: the planner's and the agents' flags.
MODEL_COMMANDS = frozenset({"run", "batch", "serve"}) | WORKER_COMMANDS
#: The commands that talk to a daemon (``relay serve``) over HTTP.
CLIENT_COMMANDS = frozenset({"submit", "watch", "status", "cancel", "runs", "approve", "reject"})
ALL_COMMANDS = TASK_COMMANDS | CLIENT_COMMANDS | WORKER_COMMANDS | {"agents"}

#: Flag groups in ``--help``, in this order; the README table follows it too.
GROUPS = (
    "model",
    "workspace and limits",
    "approvals",
    "batch",
    "daemon",
    "bus and workers",
    "client",
    "configuration and logging",
)


@dataclass(frozen=True)
class Setting:
    """How a settings field is given by a person.

    ``key``: its name in ``relay.toml``, in flags (``--step-timeout``) and in
    ``RELAY_<KEY>``; the field's name when None (the engine's fields carry units in their
    names, ``step_timeout_s``, the command line spells them without). ``env``: a standard
    variable read instead of ``RELAY_<KEY>`` (``OPENAI_API_KEY``). ``env_only``: no flag and
    no ``relay.toml`` key (keys belong in the environment or ``.env``). ``commands``: the
    subcommands that take the flag. ``metavar``/``help``: for ``--help``; the help defaults to
    the field's description. A bool with default true gets the flag ``--no-<key>``, one with
    default false ``--<key>``.
    """

    group: str = "workspace and limits"
    key: str | None = None
    env: str | None = None
    env_only: bool = False
    commands: frozenset[str] = TASK_COMMANDS
    metavar: str | None = None
    help: str | None = None

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"unknown settings group {self.group!r}")


def setting_of(metadata: list[Any]) -> Setting | None:
    """The ``Setting`` among a field's metadata, if it has one."""
    return next((m for m in metadata if isinstance(m, Setting)), None)
