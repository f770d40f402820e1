"""When a batch gives up early: after ``stop_after_failures`` tasks in a row failed the same way,
a way no task can fix (the key refused, no quota left, the endpoint unreachable). Without it a
wrong key would record a failure for each of a thousand tasks, and the output would bury the
one thing to do.

The kind of a failure is read from the typed error the engine records in the result
(``TaskResult.error_kind``), never from the wording of its message.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_relay.bus import one_line

from ..engine._result import TaskResult

#: The typed errors that say the setup is wrong rather than the task, and how to name each.
SETUP_FAILURES: dict[str, str] = {
    "ModelAuthenticationError": "the model endpoint refused the credentials",
    "ModelQuotaError": "the account has no quota left",
    "ModelConnectionError": "the model endpoint cannot be reached",
}


@dataclass
class FailureStreak:
    """Counts finished tasks that failed in a row with the same setup failure.

    ``limit``: how many in a row stop the batch; 0 never does.
    """

    limit: int
    kind: str | None = None
    count: int = 0
    last_error: str = ""

    def add(self, result: TaskResult) -> bool:
        """Count one finished task; True when the batch should stop now."""
        kind = result.error_kind if result.status == "failed" else None
        if kind not in SETUP_FAILURES:
            self.kind, self.count = None, 0
            return False
        self.count = self.count + 1 if kind == self.kind else 1
        self.kind = kind
        self.last_error = one_line(result.error or "", 300)
        return self.limit > 0 and self.count >= self.limit

    def reason(self) -> str:
        """Why the batch stopped, in one line (call once ``add`` has said to stop)."""
        what = SETUP_FAILURES.get(self.kind or "", "the same failure")
        return f"stopped after {self.count} tasks in a row failed because {what}"
