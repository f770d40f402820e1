"""The topics of a task's life on the bus, in one place so publishers and watchers agree.

task.<id>.submitted | resumed | plan | progress | cancel | done
task.<id>.step.<sid>.queued | started | progress | completed | failed | skipped | cancelled
task.<id>.step.<sid>.delta    (the text a step's model writes, as it comes; not stored)
agent.<name>.steps            (agents of one kind share it: a queue group in memory, a
                               durable consumer of the work-queue stream over NATS)
"""

from __future__ import annotations

STEP_EVENTS = (
    "queued",
    "started",
    "progress",
    "completed",
    "failed",
    "skipped",
    "cancelled",
    "rejected",
)


def task_topic(task_id: str, what: str) -> str:
    return f"task.{task_id}.{what}"


def step_topic(task_id: str, step_id: str, what: str) -> str:
    return f"task.{task_id}.step.{step_id}.{what}"


#: The subjects of the work-queue stream that carries step assignments over NATS.
WORK_SUBJECTS = ("agent.*.steps",)
#: The step endings the work queue records, for a master that missed one (see ``Master``).
ENDING_SUBJECTS = tuple(f"task.*.step.*.{what}" for what in ("completed", "failed", "cancelled"))


def agent_steps_topic(agent: str) -> str:
    return f"agent.{agent}.steps"


def task_id_of(topic: str) -> str:
    """The task id in any ``task.<id>...`` topic."""
    return topic.split(".", 2)[1]


def parse_step_topic(topic: str) -> tuple[str, str, str] | None:
    """``task.<id>.step.<sid>.<what>`` -> (task id, step id, what); None for other topics."""
    parts = topic.split(".")
    if len(parts) != 5 or parts[0] != "task" or parts[2] != "step":
        return None
    return parts[1], parts[3], parts[4]


def submission_topic(task_id: str, group: str | None) -> str:
    """Where a task is handed to masters: ``task.<id>.submitted`` for the shared group of
    masters, ``task.<id>.submitted.<group>`` for a group of its own (masters of another
    configuration on the same bus never take it)."""
    base = task_topic(task_id, "submitted")
    return base if group is None else f"{base}.{group}"


def submissions_pattern(group: str | None) -> str:
    """What the masters of ``group`` take (as a queue group, sharing the work)."""
    return "task.*.submitted" if group is None else f"task.*.submitted.{group}"
