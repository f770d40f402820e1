"""The code agent: writes code into the task's workspace and, where allowed, runs Python or
shell snippets in the sandbox."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any, ClassVar, Literal, Unpack

import anyio
import pydantic_core
from loguru import logger

from agent_relay.bus import one_line
from agent_relay.runtime import AgentContext, Artifact, StepAssignment, StepOutput
from agent_relay.runtime.assistants import FunctionTool, tool

from .._base import (
    ArtifactLog,
    AssistantAgent,
    AssistantOptions,
    Shortfall,
    ToolCallRecord,
    every_call_failed,
    last_call_failed,
)
from .._workspace import Workspace
from ..sandbox._probe import isolation_unavailable
from ..sandbox._sandbox import Sandbox
from ..sandbox._types import SandboxLimits

# File endings the agent recognises, for the artifact's language metadata.
LANGUAGES = {
    ".py": "python",
    ".sh": "shell",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".js": "javascript",
    ".ts": "typescript",
    ".json": "json",
    ".md": "markdown",
    ".sql": "sql",
    ".txt": "text",
}

SANDBOX_DIR = ".sandbox"


class CodeAgent(AssistantAgent):
    name: ClassVar[str] = "code"
    description: ClassVar[str] = (
        "writes code and code-like files (Python, shell, HTML, CSS, JavaScript, SQL...) into "
        "the workspace, and can run Python or shell snippets in a sandbox to compute or check "
        "results"
    )
    instructions: ClassVar[str] = (
        "You write code. Save every file the step asks for with save_code, complete and "
        "working, under a sensible relative path. When execute_code is available and running "
        "the code helps (to compute a result or to check your code), run it and use its "
        "output. Finish with a short summary: the files you wrote and what they do, and any "
        "result of running code."
    )
    concurrency = 4

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        allow_network: bool = False,
        **options: Unpack[AssistantOptions],
    ) -> None:
        super().__init__(**options)
        self.limits = limits or SandboxLimits()
        self.allow_network = allow_network

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        # Whether code can be isolated here is found by running the launcher once per
        # process; ``tools`` (synchronous) reads the cached answer, so the first step must
        # not wait for that process on the event loop.
        if step.allow_code_execution and not step.unconfined_code_execution:
            await anyio.to_thread.run_sync(_refusal)
        return await super().run_step(step, ctx)

    def tools(
        self, step: StepAssignment, ctx: AgentContext, artifacts: ArtifactLog
    ) -> Sequence[FunctionTool[..., Any]]:
        workspace = Workspace(ctx.workspace, read_only=step.read_only)

        @tool(risky=lambda args: workspace.holds(args.get("path")))
        async def save_code(path: str, code: str, language: str | None = None) -> str:
            """Save a file of code in the workspace.

            Args:
                path: Where to save it, relative to the workspace, e.g. "index.html".
                code: The whole content of the file.
                language: The language, e.g. "python" or "html"; guessed from the name if omitted.
            """
            info = await workspace.write_text(path, code)
            lang = language or LANGUAGES.get(PurePosixPath(info.path).suffix.lower(), "text")
            artifacts.add(
                Artifact(
                    kind="code",
                    path=info.path,
                    description=f"{lang} file",
                    metadata={"language": lang, "filename": PurePosixPath(info.path).name},
                )
            )
            return f"saved {info.path} ({info.size} bytes)"

        if not step.allow_code_execution:
            return [save_code]
        unconfined = step.unconfined_code_execution
        if not unconfined and _refusal() is not None:
            return [save_code]  # fail closed: the reason was logged once, by _refusal

        sandbox = Sandbox(
            ctx.workspace / SANDBOX_DIR,
            limits=self.limits,
            allow_network=self.allow_network,
            unconfined=unconfined,
            workspace=ctx.workspace,
        )

        # The task's inputs, readable at their own names in the run's work dir.
        read_only = {name: ctx.workspace / name for name in step.read_only}

        @tool(timeout=self.limits.wall_timeout + 30, risky=True)
        async def execute_code(
            language: Literal["python", "shell"], code: str
        ) -> dict[str, Any] | str:
            """Run a Python or shell snippet in a sandbox: no network, limited CPU, memory and
            time, a fresh working directory in which the task's input files are present,
            read-only. Returns exit status, output and files produced.

            Args:
                language: "python" or "shell".
                code: The program to run.
            """
            result = await sandbox.execute(language, code, read_only=read_only)
            await ctx.progress(f"ran {language}: {result.summary}")
            for produced in result.files_produced:
                artifacts.add(
                    Artifact(
                        kind="file",
                        path=f"{result.workdir}/{produced.path}",
                        description="produced by running code",
                    )
                )
            report = result.model_dump(
                include={
                    "summary",
                    "exit_code",
                    "stdout",
                    "stderr",
                    "stdout_truncated",
                    "stderr_truncated",
                    "files_produced",
                    "isolation",
                    "limit_hit",
                }
            )
            if result.ok:
                return report
            # A run that failed is a tool call that failed, said the way every tool says it,
            # so that the model and the step's judgement both see it; the model still gets
            # the whole report to fix its code.
            details = pydantic_core.to_json(report).decode()
            return f"error: the code failed ({result.summary})\n{details}"

        return [save_code, execute_code]

    def judge(
        self, step: StepAssignment, artifacts: ArtifactLog, calls: Sequence[ToolCallRecord]
    ) -> Shortfall | None:
        """A code step exists to write code or to compute by running it: with no file saved
        or produced and no run that succeeded it failed; when its last run failed, what it
        computed or checked is missing."""
        ran_well = any(c.name == "execute_code" and not c.failed for c in calls)
        # Without execution allowed the tool is not offered: a call to it ran nothing, and
        # whether the step is done is up to the files it saved.
        failed_run = last_call_failed(calls, "execute_code") if step.allow_code_execution else None
        if not artifacts.items and not ran_well:
            if failed_run is not None:
                return Shortfall("failed", _headline(failed_run))
            # Tools were called, so every one failed; or none was.
            return every_call_failed(calls) or Shortfall(
                "failed", "no file was saved and no code was run"
            )
        if failed_run is not None:
            return Shortfall("incomplete", f"the last run of code failed: {_headline(failed_run)}")
        return super().judge(step, artifacts, calls)


def _headline(call: ToolCallRecord) -> str:
    """A failed run's first line (``error: the code failed (exited 1 in 0.2s)``), without the
    report that follows it for the model."""
    return one_line(call.output.partition("\n")[0], 200)


@functools.cache
def _refusal() -> str | None:
    """Why code execution is not offered on this machine (logged once), or None."""
    reason = isolation_unavailable()
    if reason is not None:
        logger.warning(
            "code execution is off: the sandbox cannot isolate code here ({}); set"
            " unconfined_code_execution to run code with the host's files in view",
            reason,
        )
    return reason
