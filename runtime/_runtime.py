"""``Runtime``: the embedding API. It owns a bus, a model, the agents and a workspace.

::

    async with Runtime(model=OpenAIChatModel("gpt-4.1-mini")) as rt:
        result = await rt.run("Draw a sunset over mountains and make a web page that shows it")

Everything runs under the runtime's task group: leaving the ``async with`` block cancels the
tasks still in flight and closes the bus (when the runtime created it).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from agent_relay.bus import (
    Actor,
    Bus,
    BusError,
    Event,
    InMemoryBus,
    WorkQueue,
    connect,
    handler,
    new_short_id,
    open_work_queue,
)

from ._handle import TaskHandle
from ._inputs import InputFile, copy_inputs
from ._runtime_agents import (
    AgentSpec,
    build_agents,
    check_agent_mcp,
    check_agent_models,
    check_agent_setup,
    check_assistant_backend,
)
from ._runtime_agents import RuntimeUsageError as RuntimeUsageError
from ._settings import RuntimeSettings, task_settings
from .assistants._backend_choice import BackendChoice
from .engine._agent import Agent
from .engine._agent_actor import AgentActor
from .engine._approval_desk import ApprovalHandler
from .engine._approvals import (
    ApprovalDecision,
    ApprovalError,
    Decision,
    ToolApprovalPolicy,
    approval_topic,
    check_tool_rule,
)
from .engine._checkpoint import TaskCheckpoint
from .engine._master import Master, TaskSubmission
from .engine._registry import BrokenAgent
from .engine._result import TaskResult
from .engine._step_text import DeltaOptions
from .engine._topics import (
    ENDING_SUBJECTS,
    WORK_SUBJECTS,
    submission_topic,
    task_id_of,
    task_topic,
)
from .mcp._config import McpConfigError, McpServer
from .mcp._servers import McpServers
from .models._chat_model import ChatModel

_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: Files or folders given to a task: paths, absolute or relative to the current directory.
Inputs = Sequence[str | os.PathLike[str]]


#: Seconds a decision waits for the master running its task to answer.
_DECIDE_TIMEOUT_S = 30.0


async def _send_decision(
    bus: Bus, task_id: str, approval_id: str, decision: Decision
) -> ApprovalDecision:
    """Ask the master running the task to record ``decision`` (a bus request: the master
    may be in another process)."""
    try:
        reply = await bus.request(
            approval_topic(task_id, approval_id, "decide"),
            decision.model_dump(mode="json", exclude_none=True),
            timeout=_DECIDE_TIMEOUT_S,
            type="approval.decide",
            task_id=task_id,
        )
    except BusError as exc:
        raise ApprovalError(
            f"no master answered for task {task_id} (it ended, or its master is not reachable):"
            f" {exc}"
        ) from None
    error = reply.data.get("error")
    if error is not None:
        raise ApprovalError(str(error))
    return ApprovalDecision.model_validate(reply.data.get("decision"))


def _checked_policy(policy: ToolApprovalPolicy) -> ToolApprovalPolicy:
    try:
        return {
            str(agent): {str(tool): check_tool_rule(rule) for tool, rule in rules.items()}
            for agent, rules in policy.items()
        }
    except (TypeError, AttributeError) as exc:
        raise RuntimeUsageError(f"tool_approvals: {exc}") from None


def new_task_id() -> str:
    """A new task id of 20 characters (``t`` and 19 of ``0-9a-v``), usable as a topic token and
    a directory name, unique across processes (a forked child included) and sortable by
    creation time: :func:`agent_relay.bus.new_short_id` with the prefix ``t``."""
    return new_short_id("t")


def runtime_work_queue(bus: Bus, *, ack_wait_s: float = 30.0, max_deliver: int = 3) -> WorkQueue:
    """The work queue step assignments travel on over ``bus``: the JetStream stream
    ``RELAY_STEPS`` over ``agent.*.steps`` on a NATS bus (the steps' endings recorded on
    ``RELAY_STEPS_RECORDS``), else the bus's queue groups.

    Raises:
        BusConfigError: ``ack_wait_s`` is not > 0 or ``max_deliver`` not >= 1.
    """
    return open_work_queue(
        bus,
        stream="RELAY_STEPS",
        subjects=WORK_SUBJECTS,
        records=ENDING_SUBJECTS,
        ack_wait_s=ack_wait_s,
        max_deliver=max_deliver,
    )


class _TaskWatcher(Actor):
    """Routes a task's events to its handle (one subscription for all tasks, so watching a
    task costs a dictionary lookup, not a subscription): its ``done`` and approval events,
    which every handle needs. The handles that keep all their task's events get them from
    an ``_EventKeeper`` instead, started only once one does, so that a runtime whose callers
    only wait for results (``run``) has nobody listening to each step's events."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus, concurrency=1, name="task-watcher")
        self.handles: dict[str, TaskHandle] = {}

    @handler("task.*.done", buffer=4096)
    @handler("task.*.approval.>", buffer=4096)
    def on_task_outcome(self, event: Event) -> None:
        handle = self.handles.get(task_id_of(event.topic))
        if handle is not None and not handle.keeps_events:
            self.deliver(handle, event)

    def deliver(self, handle: TaskHandle, event: Event) -> None:
        handle._deliver(event)
        if handle.done:
            del self.handles[handle.task_id]


class _EventKeeper(Actor):
    """Every task event, for the handles that keep them (see ``_TaskWatcher``)."""

    def __init__(self, watcher: _TaskWatcher) -> None:
        super().__init__(watcher.bus, concurrency=1, name="task-events")
        self._watcher = watcher

    @handler("task.>", buffer=4096)
    def on_task_event(self, event: Event) -> None:
        handle = self._watcher.handles.get(task_id_of(event.topic))
        if handle is not None and handle.keeps_events:
            self._watcher.deliver(handle, event)


class Runtime:
    """See the module docstring. ``agents`` defaults to every agent registered under the
    ``relay.agents`` entry points that loads (the entry points that fail to import are left
    out and listed in ``broken_agents``); pass instances, classes or registered names
    (``["code", "file"]``) to choose: the planner plans with these only.

    ``agent_models`` gives an agent its own model, by agent name (``{"code": model}``); the
    others, and the planner, use ``model``. Like ``model``, they are the caller's to open and
    close.

    ``assistant_backend`` is where the runs of the agents built on the assistant layer happen,
    for those that choose none themselves (``CodeAgent(assistant_backend=...)``, or
    ``agent_options={"code": {"assistant_backend": ...}}``): ``"local"`` (the default: the
    run loop here, over the agent's model), ``"responses"`` (the OpenAI Responses API, at the
    endpoint of the agent's ``OpenAIChatModel``), or a factory ``(model) -> Backend`` called
    for each step (``lambda model: BedrockAgentsBackend(...)``; not a ``Backend`` instance,
    which the steps cannot share). Each agent here is checked against it at construction.

    ``agent_options`` maps an agent's name to the keyword arguments its class is built with,
    for the agents the runtime builds (from the entry points, or given as classes): this is
    how an application configures them, e.g. ``{"image": {"backend": "openai", "openai_api_key":
    key}}``; agents never read the process environment for it. ``settings`` are the engine's
    limits and policies (``RuntimeSettings``).

    ``bus`` is a bus (the caller's to open and close) or a URL the runtime opens with
    ``agent_relay.bus.connect`` (``"nats://127.0.0.1:4222"``); by default a new in-memory
    bus. Over NATS, step assignments travel on a JetStream work queue (see
    :func:`runtime_work_queue`): ``ack_wait_s`` seconds after a worker stops answering for a
    step it is delivered to another, at most ``max_deliver`` times. ``workers="local"`` runs
    the agents in this process too; ``"remote"`` runs none here, so every step goes to
    ``relay worker`` processes (the planner still plans with ``agents``).

    Approvals (see ``RuntimeSettings.approve_plan`` and ``approve_tools``): ``tool_approvals``
    gives this runtime's agents their own rules, by agent name then tool name (``"*"`` for
    any), each ``"always"``, ``"never"``, ``"risky"`` or a function ``(step, tool_name,
    arguments) -> bool``; a tool it names no rule for follows the task's ``approve_tools``.
    ``approval_handler``, an ``async`` function ``(ApprovalRequest) -> Decision | None``,
    decides requests in this process as they come (None leaves one to the task's handle,
    the daemon's API or its expiry).

    ``mcp_servers`` are MCP servers whose tools agents use (see ``agent_relay.runtime.mcp``):
    ``McpServer``s, a mapping of names to tables as ``relay.toml`` has them, or an
    ``McpServers``; the runtime opens each on first use and closes them on exit. An agent
    attaches servers by name (``mcp_servers`` of ``AssistantAgent``); the ``mcp`` agent
    uses them all, and is left out when there are none.

    Raises:
        TypeError: ``model`` or a value of ``agent_models`` is not a ``ChatModel``, an
            entry of ``agents`` is not an agent (instance, class or name), or
            ``assistant_backend`` is neither a name nor a factory.
        RuntimeUsageError: two agents share a name; ``agent_models`` names an agent that does
            not run; a ``tool_approvals`` rule is not one; ``assistant_backend`` names no
            backend, or an agent cannot run on its backend (``"responses"`` with a model that
            is not an ``OpenAIChatModel``); an agent names an MCP server not configured, or
            an MCP server's configuration is bad; (entering) no agents at all.
        AgentRegistryError: a name in ``agents`` is not registered (the message lists the
            known ones) or its entry point fails to load; two registered agents share a name.
        OSError: (entering) the workspace directory cannot be created.
        ModelConfigError: an agent's options are wrong (the image agent's backend or key); any
            error an agent's constructor raises for its options comes through as is.
    """

    def __init__(
        self,
        model: ChatModel,
        agents: Iterable[AgentSpec] | None = None,
        workspace: str | Path = "relay-workspace",
        *,
        bus: Bus | str | None = None,
        settings: RuntimeSettings | None = None,
        agent_options: dict[str, dict[str, Any]] | None = None,
        agent_models: Mapping[str, ChatModel] | None = None,
        assistant_backend: BackendChoice | None = None,
        workers: Literal["local", "remote"] = "local",
        ack_wait_s: float = 30.0,
        max_deliver: int = 3,
        master_group: str | None = None,
        tool_approvals: ToolApprovalPolicy | None = None,
        approval_handler: ApprovalHandler | None = None,
        mcp_servers: McpServers | Sequence[McpServer] | Mapping[str, Any] | None = None,
    ) -> None:
        if workers not in ("local", "remote"):
            raise RuntimeUsageError(f"workers must be 'local' or 'remote', not {workers!r}")
        if master_group is not None and not _TASK_ID.match(master_group):
            raise RuntimeUsageError(
                f"master_group {master_group!r} must be 1-64 letters, digits, '-' or '_'"
            )
        #: The masters this runtime's tasks go to, and whose tasks its master takes: None is
        #: the group every runtime shares by default; on a shared bus (NATS), runtimes of
        #: another configuration need a group of their own.
        self.master_group = master_group
        if not isinstance(model, ChatModel):
            raise TypeError(f"model must be a ChatModel, got {type(model).__name__}")
        self.model = model
        self.tool_approvals = _checked_policy(tool_approvals or {})
        if approval_handler is not None and not (
            inspect.iscoroutinefunction(approval_handler)
            or inspect.iscoroutinefunction(type(approval_handler).__call__)
        ):
            # A plain function's answer could not be awaited: every request would hang.
            raise RuntimeUsageError("approval_handler must be an async function (async def)")
        self.approval_handler = approval_handler
        self.settings = settings or RuntimeSettings()
        self.workspace = Path(workspace).resolve()
        self.agents: list[Agent]
        #: Registered entry points that failed to load and were left out (``agents`` unset).
        self.broken_agents: tuple[BrokenAgent, ...]
        self.agents, self.broken_agents = build_agents(agents, agent_options or {})
        try:
            #: The MCP servers the agents' tools may come from (entered with the runtime).
            self.mcp_servers = (
                mcp_servers if isinstance(mcp_servers, McpServers) else McpServers(mcp_servers)
            )
        except McpConfigError as exc:
            raise RuntimeUsageError(str(exc)) from None
        self.agents = check_agent_mcp(
            self.agents, self.mcp_servers.configs, named=agents is not None
        )
        self.agent_models = check_agent_models(agent_models or {}, self.agents)
        self.assistant_backend = check_assistant_backend(assistant_backend)
        if workers == "local":
            check_agent_setup(self.agents, model, self.agent_models, self.assistant_backend)
        # A URL is checked now (a bad one is a usage error here, not on entering).
        self._given_bus: Bus | None = bus if not isinstance(bus, str) else None
        self._bus_to_open: Bus | None = connect(bus) if isinstance(bus, str) else None
        self.workers = workers
        self._ack_wait_s, self._max_deliver = ack_wait_s, max_deliver
        self._bus: Bus | None = None
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self._watcher: _TaskWatcher | None = None
        self._keeper: _EventKeeper | None = None
        self._keeper_ready = anyio.Event()

    @property
    def bus(self) -> Bus:
        """The bus the runtime runs on.

        Raises:
            RuntimeUsageError: the runtime is not started (outside ``async with``).
        """
        if self._bus is None:
            raise RuntimeUsageError("the runtime is not started: use `async with Runtime(...)`")
        return self._bus

    async def __aenter__(self) -> Runtime:
        if not self.agents:
            raise RuntimeUsageError("no agents: install some or pass them as Runtime(agents=[...])")
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            await anyio.to_thread.run_sync(
                lambda: self.workspace.mkdir(parents=True, exist_ok=True)
            )
            if self._given_bus is not None:
                bus: Bus = self._given_bus
            else:
                bus = await stack.enter_async_context(self._bus_to_open or InMemoryBus())
                self._bus_to_open = None  # a bus is entered once; a second entry opens anew
            work = runtime_work_queue(
                bus, ack_wait_s=self._ack_wait_s, max_deliver=self._max_deliver
            )
            # Closed after the tasks that use them are cancelled (the stack unwinds backwards).
            mcp = await stack.enter_async_context(self.mcp_servers) if self.mcp_servers else None
            tg = await stack.enter_async_context(anyio.create_task_group())
            # Cancelling on exit must happen before the bus closes, hence this order.
            stack.callback(tg.cancel_scope.cancel)
            self._watcher = _TaskWatcher(bus)
            self._keeper = None
            await tg.start(self._watcher.run)
            for agent in self.agents if self.workers == "local" else ():
                model = self.agent_models.get(agent.name, self.model)
                actor = AgentActor(
                    bus,
                    agent,
                    model,
                    work=work,
                    tool_approvals=self.tool_approvals,
                    assistant_backend=self.assistant_backend,
                    mcp=mcp,
                    deltas=DeltaOptions.of(self.settings),
                )
                await tg.start(actor.run)
            master = Master(
                bus,
                model=self.model,
                agents={a.name: a.description for a in self.agents},
                settings=self.settings,
                workspace=self.workspace,
                work=work,
                group=self.master_group,
                approval_handler=self.approval_handler,
            )
            await tg.start(master.run)
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        self._bus, self._tg, self._stack = bus, tg, stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._bus = self._stack, None, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def submit(
        self,
        task: str,
        *,
        task_id: str | None = None,
        id: str | None = None,
        inputs: Inputs = (),
        checkpoint: TaskCheckpoint | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> TaskHandle:
        """Start a task and return its handle once it is submitted. ``task_id`` defaults to
        a new :func:`new_task_id`; ``id`` is the caller's own, carried into the result.

        ``checkpoint`` resumes a task that stopped (see ``TaskCheckpoint``): its complete
        plan is taken as it is, and the steps it lists as completed are not run again; the
        task publishes ``task.<id>.resumed`` with ``{"completed_steps": [ids reused],
        "planned_again": bool}`` before it hands out any step.

        ``settings`` gives this task its own values of some ``RuntimeSettings`` fields
        (``{"step_timeout_s": 60, "max_steps": 8}``), checked before anything is submitted.
        Not ``max_agent_parallel`` nor ``max_concurrent_tasks`` (all tasks share those), and
        code execution only as far as the runtime's own settings allow it.

        ``inputs`` are files and folders copied, before the task is planned, into its
        directory ``<workspace>/<task id>/`` under their own names (folders whole): the
        planner is told their paths and sizes, the agents see them as workspace files and
        must leave them unchanged (they are read-only, to sandboxed code too). At most
        ``settings.max_input_files`` files and ``settings.max_input_bytes`` bytes in all.

        Raises:
            RuntimeUsageError: the runtime is not started, ``task`` is blank, ``task_id`` is
                not 1-64 letters, digits, ``-`` or ``_``, or a task of that id is running;
                ``settings`` names an unknown or shared setting, has an invalid value, or
                allows code execution the runtime does not; ``checkpoint`` is not a
                ``TaskCheckpoint``.
            InputError: an input cannot be used (missing, unreadable, too large, two of the
                same name, a symlink leading out of a folder, inside the workspace); raised
                before anything is copied or any model is called.
            BusClosedError: the runtime's bus is closed.
        """
        return await self._submit(
            task,
            task_id,
            id,
            inputs,
            keep_events=True,
            checkpoint=checkpoint,
            settings=settings,
        )

    async def _submit(
        self,
        task: str,
        task_id: str | None,
        id: str | None,
        inputs: Inputs,
        *,
        keep_events: bool,
        checkpoint: TaskCheckpoint | None = None,
        settings: Mapping[str, Any] | None = None,
        placed_inputs: Sequence[InputFile] = (),
    ) -> TaskHandle:
        """``placed_inputs``: files already in the task's directory, read-only, that count
        as its inputs (the daemon writes a run's uploads there itself, once)."""
        if not isinstance(task, str) or not task.strip():
            raise RuntimeUsageError("a task must be a non-empty string")
        if checkpoint is not None and not isinstance(checkpoint, TaskCheckpoint):
            raise RuntimeUsageError(
                f"checkpoint must be a TaskCheckpoint, not {type(checkpoint).__name__}"
            )
        overrides = dict(settings) if isinstance(settings, Mapping) else settings or {}
        try:
            own_settings = task_settings(self.settings, overrides)
        except ValueError as exc:
            raise RuntimeUsageError(str(exc)) from None
        task_id = task_id or new_task_id()
        if not _TASK_ID.match(task_id):
            raise RuntimeUsageError(f"task id {task_id!r} must be 1-64 letters, digits, '-' or '_'")
        bus = self.bus
        assert self._watcher is not None
        if task_id in self._watcher.handles:
            raise RuntimeUsageError(f"task {task_id} is already running")

        async def cancel(reason: str) -> None:
            await bus.emit(
                task_topic(task_id, "cancel"), "task.cancel", {"reason": reason}, task_id=task_id
            )

        if isinstance(inputs, str | os.PathLike):
            raise RuntimeUsageError("inputs must be a list of paths, not one path")
        task_dir = self.workspace / task_id
        copied = await self._copy_inputs(list(inputs), task_dir, own_settings) if inputs else []
        copied = [*placed_inputs, *copied]

        async def decide(approval_id: str, decision: Decision) -> ApprovalDecision:
            return await _send_decision(bus, task_id, approval_id, decision)

        if keep_events:
            await self._keep_events()
        handle = TaskHandle(task_id, id, cancel, keep_events=keep_events, decide=decide)
        self._watcher.handles[task_id] = handle
        submission = TaskSubmission(
            task=task,
            id=id,
            inputs=copied,
            checkpoint=checkpoint,
            # As validated (``"30"`` becomes 30.0): the master validates them again.
            settings={name: getattr(own_settings, name) for name in overrides},
        )
        try:
            # Validated as it was built: its JSON goes unchecked, and a master in this
            # process takes the model itself (see ``Event.attached``).
            await bus.emit_unvalidated(
                submission_topic(task_id, self.master_group),
                "task.submitted",
                submission.model_dump(mode="json"),
                task_id=task_id,
                attached=submission,
            )
        except BaseException:
            del self._watcher.handles[task_id]
            raise
        return handle

    async def _keep_events(self) -> None:
        """Start the actor that routes every task event to the handles that keep them, once,
        and return when it is subscribed."""
        if self._keeper is None:
            assert self._watcher is not None
            assert self._tg is not None
            self._keeper = keeper = _EventKeeper(self._watcher)
            self._keeper_ready = anyio.Event()
            await self._tg.start(keeper.run)
            self._keeper_ready.set()
        await self._keeper_ready.wait()

    async def _copy_inputs(
        self, inputs: list[str | os.PathLike[str]], task_dir: Path, settings: RuntimeSettings
    ) -> list[InputFile]:
        def copy() -> list[InputFile]:
            made_dir = not task_dir.exists()
            try:
                return copy_inputs(
                    inputs,
                    task_dir,
                    self.workspace,
                    max_files=settings.max_input_files,
                    max_bytes=settings.max_input_bytes,
                )
            except BaseException:
                if made_dir:  # a refused task leaves no empty directory behind
                    shutil.rmtree(task_dir, ignore_errors=True)
                raise

        return await anyio.to_thread.run_sync(copy)

    async def run(
        self,
        task: str,
        *,
        task_id: str | None = None,
        id: str | None = None,
        inputs: Inputs = (),
        checkpoint: TaskCheckpoint | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> TaskResult:
        """Run a task to its end and return its result; a task that fails is a result (see
        ``TaskResult.status``), not an error. ``inputs``, ``checkpoint`` and ``settings`` as
        for :meth:`submit`.

        Raises:
            RuntimeUsageError: as for :meth:`submit`.
            InputError: as for :meth:`submit`.
            BusClosedError: the runtime's bus is closed.
        """
        handle = await self._submit(
            task,
            task_id,
            id,
            inputs,
            keep_events=False,
            checkpoint=checkpoint,
            settings=settings,
        )
        try:
            return await handle.result()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await handle.cancel("the caller stopped waiting")
            raise

    async def run_many(
        self, tasks: Sequence[str], *, concurrency: int = 8, inputs: Inputs = ()
    ) -> list[TaskResult]:
        """Run many tasks, at most ``concurrency`` at once; results in the order of ``tasks``.
        Each task gets its own copy of ``inputs`` (as for :meth:`submit`).

        Raises:
            RuntimeUsageError: ``concurrency`` is below 1, or as for :meth:`submit` (the
                first such error, in an exception group with any others).
            InputError: as for :meth:`submit` (likewise).
        """
        if concurrency < 1:
            raise RuntimeUsageError("concurrency must be at least 1")
        results: list[TaskResult | None] = [None] * len(tasks)
        limiter = anyio.CapacityLimiter(concurrency)

        async def one(i: int, task: str) -> None:
            async with limiter:
                results[i] = await self.run(task, inputs=inputs)

        async with anyio.create_task_group() as tg:
            for i, task in enumerate(tasks):
                tg.start_soon(one, i, task)
        return [r for r in results if r is not None]
