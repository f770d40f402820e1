"""The sandbox in which the code agent executes untrusted, model-written code.

Each execution gets a fresh work dir under the sandbox root and a process tree started by
the launcher (``_child.py``), which puts in place whatever isolation the OS allows:
network, pid, mount, ipc and uts namespaces, a unique unprivileged uid (when relay runs as
root), resource limits, a scrubbed environment. The isolation actually in force is reported
in every result, so a weaker sandbox is never mistaken for a stronger one.

Here, the public class: check the arguments, prepare the work dir, build the child's world
(argv, environment, limits, what it must be able to reach), and turn what happened into an
`ExecutionResult`. The process tree itself is run and ended by ``_run``.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
from loguru import logger

from agent_relay.bus import utc_now

from ._bounds import RunBounds, bound_run
from ._files import (
    CODE_FILES,
    MAX_CODE_BYTES,
    Reclaimed,
    check_input_files,
    check_read_only,
    delete_produced,
    prepare_workdir,
    reclaim_workdir,
)
from ._output import CappedOutput
from ._report import describe_isolation, diagnose, summarize
from ._run import Run, run_launcher
from ._types import (
    LANGUAGES,
    ExecutionResult,
    Language,
    SandboxError,
    SandboxLimits,
)

NAMESPACES = ("mount", "ipc", "uts", "pid")
# Per-run uids when relay is root: far above any real user's, so a run owns nothing else.
UID_BASE = 1_500_000_000
UID_SPAN = 500_000_000

_uids_in_use: set[int] = set()


class Sandbox:
    """Runs snippets of python or shell under isolation and limits, one work dir each.

    ``root`` is where work dirs are created (inside the workspace, e.g. ``ws / ".sandbox"``);
    ``workspace`` (default: root's parent) is what result paths are relative to. ``python``
    is the interpreter for python snippets (default: the one running relay). Without a
    mount namespace the code would see the host's whole file system, so every execution then
    fails with `SandboxError`, unless ``unconfined`` says to run it anyway.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        limits: SandboxLimits | None = None,
        allow_network: bool = False,
        unconfined: bool = False,
        workspace: Path | str | None = None,
        python: Path | str | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.workspace = Path(workspace).resolve() if workspace is not None else self.root.parent
        if not self.root.is_relative_to(self.workspace):
            raise SandboxError(f"sandbox root {self.root} is not inside {self.workspace}")
        if limits is not None and not isinstance(limits, SandboxLimits):
            raise SandboxError("limits must be a SandboxLimits")
        if not isinstance(allow_network, bool):
            raise SandboxError("allow_network must be True or False")
        self.limits = limits or SandboxLimits()
        self.allow_network = allow_network
        if not isinstance(unconfined, bool):
            raise SandboxError("unconfined must be True or False")
        self.unconfined = unconfined
        self.python = Path(python) if python is not None else Path(sys.executable)
        if not self.python.is_absolute() or not os.access(self.python, os.X_OK):
            raise SandboxError(f"python interpreter {self.python} is not an executable path")
        self._python_dirs = _interpreter_dirs(self.python)
        self._shell = ["/bin/bash", "--noprofile", "--norc"]
        if not os.access("/bin/bash", os.X_OK):
            self._shell = ["/bin/sh"]

    async def execute(
        self,
        language: Language,
        code: str,
        files: Mapping[str, str | bytes] | None = None,
        *,
        read_only: Mapping[str, Path] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` in a fresh work dir (with ``files`` placed in it) and report on it.

        ``read_only`` maps a name in the work dir to a file or folder of the host (a task's
        input) that the run may read there but not change: with a mount namespace it is a
        read-only bind mount; without one, a symlink, protected only by the run's own uid
        (``isolation`` says which).

        Any failure of the code itself (an error, a limit hit, a timeout) is a result, not an
        exception.

        Raises:
            SandboxError: bad arguments (language, code, input files, read-only inputs that
                are missing, symlinks or not plain names) or the sandbox cannot be set up.
        """
        code_bytes = self._check_code(language, code)
        inputs = check_input_files(files, self.limits)
        shown = check_read_only(read_only, inputs)
        code_name = CODE_FILES[language]
        uid = _allocate_uid()
        owner = (uid, uid) if uid is not None else None
        stamp = utc_now().strftime("%Y%m%d-%H%M%S")
        run = Run(
            workdir=self.root / f"run-{stamp}-{secrets.token_hex(4)}",
            uid=uid,
            limits=self.limits,
            stdout=CappedOutput(self.limits.output_bytes),
            stderr=CappedOutput(self.limits.output_bytes),
        )
        try:
            try:
                await anyio.to_thread.run_sync(
                    prepare_workdir, run.workdir, code_name, code_bytes, inputs, owner, shown
                )
            except OSError as exc:
                raise SandboxError(
                    f"could not prepare the work dir {self._shown(run.workdir)}:"
                    f" {exc.strerror or exc}"
                ) from None
            env = self._child_env(run.workdir)
            bounds = await anyio.to_thread.run_sync(bound_run, self.limits)
            config = self._launcher_config(run, bounds, self._argv(language, code_name), env)
            config["read_only"] = [
                [str(source), str(run.workdir / name)] for name, source in shown.items()
            ]
            try:
                await run_launcher(run, config)
            finally:
                with anyio.CancelScope(shield=True):
                    # Every process of the run is dead by now: the cgroup can go.
                    oom_kills = await anyio.to_thread.run_sync(bounds.close)
                    back = (os.geteuid(), os.getegid()) if owner is not None else None
                    reclaimed = await anyio.to_thread.run_sync(
                        reclaim_workdir, run.workdir, code_name, back, [str(n) for n in shown]
                    )
        finally:
            _uids_in_use.discard(uid or 0)
        names = [str(n) for n in shown]
        if oom_kills:
            run.notes.append(
                f"the kernel killed {oom_kills} process(es) of the run at its total memory limit"
            )
        return await self._result(
            language, run, bounds, oom_kills > 0, reclaimed, code_name, sorted(env), names
        )

    def _shown(self, path: Path) -> str:
        """``path`` as the model may see it: relative to the workspace, never the host's."""
        return (
            path.relative_to(self.workspace).as_posix()
            if path.is_relative_to(self.workspace)
            else path.name
        )

    def _relative(self, text: str, workdir: Path) -> str:
        """Host paths in a launcher's message, said relative to the work dir / workspace."""
        return text.replace(str(workdir), ".").replace(str(self.workspace), "<workspace>")

    # -- checking ---------------------------------------------------------------------------

    @staticmethod
    def _check_code(language: object, code: object) -> bytes:
        if language not in LANGUAGES:
            shown = repr(language)[:40]
            raise SandboxError(f"unknown language {shown}: use one of {', '.join(LANGUAGES)}")
        if not isinstance(code, str):
            raise SandboxError("code must be a string")
        if not code.strip():
            raise SandboxError("code is empty")
        if "\0" in code:
            raise SandboxError("code contains a NUL byte")
        try:
            data = code.encode()
        except UnicodeEncodeError:
            raise SandboxError("code is not valid Unicode text (lone surrogates)") from None
        if len(data) > MAX_CODE_BYTES:
            raise SandboxError(f"code is {len(data)} bytes, over the {MAX_CODE_BYTES} limit")
        return data

    # -- the child's world ------------------------------------------------------------------

    def _argv(self, language: Language, code_name: str) -> list[str]:
        if language == "python":
            return [str(self.python), "-s", code_name]
        return [*self._shell, code_name]

    def _child_env(self, workdir: Path) -> dict[str, str]:
        """Built from nothing: not one variable of relay's own environment gets through."""
        return {
            "PATH": f"{self.python.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),  # the launcher points it at /tmp when /tmp is private
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "dumb",
            "USER": "sandbox",
            "LOGNAME": "sandbox",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONUTF8": "1",
            "MPLBACKEND": "Agg",
        }

    def _launcher_config(
        self, run: Run, bounds: RunBounds, argv: list[str], env: dict[str, str]
    ) -> dict[str, Any]:
        limits = self.limits
        rlimits = {
            # The hard limit a second later: SIGXCPU first, SIGKILL if it is ignored.
            "cpu": [limits.cpu_seconds, limits.cpu_seconds + 1],
            "as": [bounds.process_memory] * 2,
            "fsize": [limits.file_size_bytes] * 2,
            "nofile": [limits.open_files] * 2,
            "nproc": [bounds.nproc_rlimit] * 2,
            "core": [0, 0],
        }
        namespaces = list(NAMESPACES) if self.allow_network else ["net", *NAMESPACES]
        return {
            "argv": argv,
            "env": env,
            "workdir": str(run.workdir),
            "uid": run.uid,
            "gid": run.uid,
            "rlimits": rlimits,
            "namespaces": namespaces,
            "reveal": [str(run.workdir), *self._python_dirs],
            "scratch_bytes": limits.disk_bytes,
            "max_files": limits.max_files,
            "unconfined": self.unconfined,
            "cgroup_procs": bounds.cgroup.procs_files if bounds.cgroup is not None else [],
        }

    # -- reporting --------------------------------------------------------------------------

    async def _result(
        self,
        language: Language,
        run: Run,
        bounds: RunBounds,
        out_of_memory: bool,
        reclaimed: Reclaimed,
        code_name: str,
        env_keys: list[str],
        read_only: list[str],
    ) -> ExecutionResult:
        error = run.message("error")
        setup = run.message("setup")
        exit_info = run.message("exit")
        if error is not None:
            raise SandboxError(self._relative(str(error.get("message")), run.workdir))
        if setup is None:
            if run.kill_reason is None:
                logger.warning("sandbox launcher failed: {}", run.stderr.text()[-2000:])
                raise SandboxError("the sandbox launcher failed before starting the code")
            setup = {"facts": {}}
        limits = self.limits
        notes = [*run.notes, *reclaimed.notes]
        limit_hit = run.kill_reason or ("memory" if out_of_memory else None)
        if reclaimed.used_bytes > limits.disk_bytes or reclaimed.entries > limits.max_files:
            limit_hit = "disk"
        if limit_hit == "disk":
            await anyio.to_thread.run_sync(delete_produced, run.workdir, code_name)
            notes.append(
                f"the work dir held {reclaimed.used_bytes} bytes in {reclaimed.entries} entries,"
                " over the limit: its contents were deleted"
            )
            reclaimed = Reclaimed()
        if exit_info is not None:
            exit_code: int | None = exit_info["code"]
            signal_name = _signal_name(exit_info["signal"])
            cpu_s: float | None = exit_info["cpu_s"]
        else:
            exit_code, signal_name, cpu_s = None, "SIGKILL", None
        stderr_text = run.stderr.text()
        if limit_hit is None:
            limit_hit = diagnose(exit_code, signal_name, stderr_text[-4000:], cpu_s, limits)
        duration = run.duration_s
        summary = summarize(exit_code, signal_name, limit_hit, duration, limits, bounds)
        logger.debug("sandbox run {}: {}", run.workdir.name, summary)
        return ExecutionResult(
            language=language,
            exit_code=exit_code,
            signal=signal_name,
            timed_out=limit_hit == "wall_timeout",
            limit_hit=limit_hit,
            stdout=run.stdout.text(),
            stderr=stderr_text,
            stdout_bytes=run.stdout.total,
            stderr_bytes=run.stderr.total,
            stdout_truncated=run.stdout.truncated,
            stderr_truncated=run.stderr.truncated,
            duration_s=duration,
            cpu_s=cpu_s,
            workdir=run.workdir.relative_to(self.workspace).as_posix(),
            files_produced=reclaimed.files,
            files_omitted=reclaimed.omitted,
            disk_bytes_used=reclaimed.used_bytes,
            isolation=describe_isolation(
                setup["facts"], limits, bounds, run.uid, self.allow_network, env_keys, read_only
            ),
            notes=notes,
            summary=summary,
        )


def _interpreter_dirs(python: Path) -> list[str]:
    """The directories an interpreter needs: its prefix, and its base prefix if a venv."""
    dirs = {python.parent.parent, python.resolve().parent.parent}
    config = python.parent.parent / "pyvenv.cfg"
    if config.is_file():
        for line in config.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                dirs.add(Path(value.strip()).resolve().parent)
    if python == Path(sys.executable):
        dirs |= {Path(sys.prefix), Path(sys.base_prefix)}
    return sorted(str(d.resolve()) for d in dirs if d.is_dir() and d != Path("/"))


def _allocate_uid() -> int | None:
    """A uid no other run of this process holds; None when not root (no switching users)."""
    if os.geteuid() != 0:
        return None
    while True:
        uid = UID_BASE + secrets.randbelow(UID_SPAN)
        if uid not in _uids_in_use:
            _uids_in_use.add(uid)
            return uid


def _signal_name(number: int | None) -> str | None:
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
