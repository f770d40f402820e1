"""Who decides a task's approvals on the command line: the person at the terminal, asked
one request after another while the live view steps aside; everything approved at once with
``--yes``; or, when neither can be, nobody, and the command refuses to start.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

import anyio
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from agent_relay.bus import Event, one_line, utc_now

from .._handle import TaskHandle
from .._settings import RuntimeSettings
from ..engine._approval_desk import ApprovalHandler
from ..engine._approvals import ApprovalDecision, ApprovalError, ApprovalRequest, Decision
from ._approval_views import decision_line, request_view
from ._terminal_input import TerminalLines

#: Who decided, in the records, for what ``--yes`` approved.
BY_YES = "--yes"
_APPROVE = ("a", "approve", "y", "yes")
_REJECT = ("r", "reject", "n", "no")
_EDIT = ("e", "edit")
_CHOICES = "approve, reject or edit? [a/r/e] "
_PLAN_EDITING = (
    "A plan is edited through the library (TaskHandle.approve(plan=...)) or the daemon's API; "
    "here, approve or reject it."
)


def approvals_on(settings: RuntimeSettings) -> bool:
    """Whether a task run with ``settings`` may ask a person for approval."""
    return settings.approve_plan or settings.approve_tools != "never"


def nobody_to_ask(command: str, settings: RuntimeSettings, *, at_terminal: bool) -> str | None:
    """Why ``command`` cannot run without ``--yes`` (approvals are on and nobody can be asked:
    ``relay batch`` never asks, the others only at a terminal), or None when it can."""
    if not approvals_on(settings):
        return None
    which = ", ".join(
        part
        for part in (
            "approve_plan" if settings.approve_plan else "",
            f"approve_tools={settings.approve_tools}" if settings.approve_tools != "never" else "",
        )
        if part
    )
    if command == "batch":
        return (
            f"approvals are on ({which}) and relay batch cannot ask for them task by task: "
            "pass --yes to approve every request, or turn approvals off"
        )
    if at_terminal:
        return None
    return (
        f"approvals are on ({which}) but stdin is not a terminal to ask them at: pass --yes to "
        "approve every request, or run relay in a terminal"
    )


def approve_all(show: Callable[[ApprovalRequest, Text], None]) -> ApprovalHandler:
    """The approval handler of ``--yes``: approves every request as it comes, recorded as by
    ``--yes``, and ``show``s each request with one line saying what it approved."""

    async def approve(request: ApprovalRequest) -> Decision:
        decision = ApprovalDecision(
            approval_id=request.id, outcome="approved", by=BY_YES, decided_at=utc_now()
        )
        show(request, decision_line(request, decision))
        return Decision(decision="approve", by=BY_YES)

    return approve


def _person() -> str:
    try:
        return f"{getpass.getuser()} (terminal)"
    except Exception:  # no user name to be found (a container without one): say where
        return "terminal"


Pause = Callable[[], AbstractContextManager[None]]


class TerminalApprovals:
    """Asks the person at the terminal about each approval a task requests, oldest first,
    each under its id: approve, reject (with a reason the model reads) or edit (a tool call's
    arguments, as JSON, checked by the runtime: an error is shown and the question asked
    again). A request decided elsewhere meanwhile (expired, withdrawn when its step or task
    ended) stops being asked at once."""

    def __init__(self, console: Console, lines: TerminalLines) -> None:
        self.console = console
        self._lines = lines
        self._by = _person()
        self._changed = anyio.Event()

    def watching(self, handle: TaskHandle) -> _Watched:
        """``handle`` as the views follow it, telling this of each event as it passes."""
        return _Watched(handle, self._notice)

    def _notice(self, event: Event) -> None:
        if event.type.startswith("approval.") or event.type == "task.done":
            self._changed.set()

    async def answer(self, handle: TaskHandle, pause: Pause) -> None:
        """Ask about every request of ``handle`` until the task ends; ``pause`` takes the live
        view off the screen while asking. If stdin ends, the task is cancelled."""
        while await handle.wait_for_approval() is not None:
            with pause():
                while handle.pending_approvals and not handle.done:
                    pending = handle.pending_approvals
                    try:
                        await self._settle(handle, pending[0], waiting=len(pending))
                    except EOFError:
                        self._say(Text("\nstdin closed: nobody is left to decide", style="red"))
                        await handle.cancel(f"stdin closed while approval {pending[0].id} waited")
                        return

    async def _settle(self, handle: TaskHandle, request: ApprovalRequest, *, waiting: int) -> None:
        self.console.print()
        self.console.print(request_view(request, waiting=waiting))
        closed = answered = False
        async with anyio.create_task_group() as tg:

            async def until_decided() -> None:
                await self._until_decided(handle, request.id)
                tg.cancel_scope.cancel()

            tg.start_soon(until_decided)
            try:
                await self._ask(handle, request)
                answered = True
            except EOFError:
                closed = True  # raised again outside: a task group would wrap it in a group
            tg.cancel_scope.cancel()
        if closed:
            raise EOFError
        if not answered:  # put away unanswered: end the question's line, forget what was typed
            self.console.print()
            self._lines.discard()
        record = next((r for r in handle.approvals if r.request.id == request.id), None)
        if record is not None and record.decision is not None:
            self._say(decision_line(request, record.decision, arguments=False))
        else:
            self._say(Text("the task ended before a decision", style="dim"))

    async def _until_decided(self, handle: TaskHandle, approval_id: str) -> None:
        while True:
            if handle.done or approval_id not in {r.id for r in handle.pending_approvals}:
                return
            await self._changed.wait()
            self._changed = anyio.Event()

    async def _ask(self, handle: TaskHandle, request: ApprovalRequest) -> None:
        """Ask until a decision the runtime accepts is made."""
        while True:
            answer = (await self._prompt(_CHOICES)).strip().lower()
            decision: dict[str, Any] | None = None
            if answer in _APPROVE:
                decision = {"decision": "approve"}
            elif answer in _REJECT:
                reason = await self._prompt("reason (the model reads it; Enter for none): ")
                decision = {"decision": "reject", "reason": reason.strip() or None}
            elif answer in _EDIT and request.kind == "plan":
                self._say(Text(_PLAN_EDITING, style="yellow"))
            elif answer in _EDIT:
                arguments = await self._edited_arguments(request)
                if arguments is not None:
                    decision = {"decision": "approve", "arguments": arguments}
            elif answer:
                self._say(Text("answer a (approve), r (reject) or e (edit)", style="yellow"))
            if decision is not None and await self._decide(handle, request, decision):
                return

    async def _edited_arguments(self, request: ApprovalRequest) -> dict[str, Any] | None:
        """Arguments typed as one line of JSON (an object); None to go back to the choice."""
        now = json.dumps(request.arguments or {}, ensure_ascii=False)
        self._say(Text.assemble(("now: ", "dim"), now))
        while True:
            text = await self._prompt("new arguments as JSON on one line (Enter to go back): ")
            if not text.strip():
                return None
            try:
                value = json.loads(text)
            except ValueError as exc:
                self._say(Text(f"that is not JSON: {exc}", style="red"))
                continue
            if isinstance(value, dict):
                return value
            self._say(Text("the arguments must be a JSON object: {...}", style="red"))

    async def _decide(
        self, handle: TaskHandle, request: ApprovalRequest, fields: dict[str, Any]
    ) -> bool:
        """Send the decision; show why the runtime refused it (False) if it did."""
        try:
            await handle.decide(request.id, Decision(**fields, by=self._by))
        except ApprovalError as exc:
            self._say(Text(f"not accepted: {one_line(str(exc), 500)}", style="red"))
            return False
        except ValidationError as exc:  # a reason too long, say
            problem = "; ".join(e["msg"] for e in exc.errors())
            self._say(Text(f"not accepted: {one_line(problem, 300)}", style="red"))
            return False
        return True

    async def _prompt(self, question: str) -> str:
        self.console.print(Text(question, style="bold"), end="")
        return await self._lines.readline()

    def _say(self, text: Text) -> None:
        self.console.print(text, soft_wrap=True)


class _Watched:
    """A ``TaskHandle`` as the views follow it (see ``Followed``), each event told to
    ``notice`` before it is passed on."""

    def __init__(self, handle: TaskHandle, notice: Callable[[Event], None]) -> None:
        self._handle = handle
        self._notice = notice

    @property
    def task_id(self) -> str:
        return self._handle.task_id

    async def events(self) -> AsyncIterator[Event]:
        async for event in self._handle.events():
            self._notice(event)
            yield event
