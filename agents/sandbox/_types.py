"""The sandbox's data at the edges: its limits, its result and its error."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from agent_relay.runtime import RelayError

from .._units import GiB, KiB, MiB

Language = Literal["python", "shell"]
LANGUAGES: tuple[Language, ...] = ("python", "shell")

LimitName = Literal["wall_timeout", "cpu", "memory", "file_size", "processes", "disk", "output"]


class SandboxError(RelayError):
    """A sandboxed execution was refused (bad arguments) or could not be set up."""


class SandboxLimits(BaseModel):
    """What one execution may use. Out-of-range values raise `SandboxError`."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    cpu_seconds: int = Field(default=10, ge=1, le=3600, description="CPU time per process")
    memory_bytes: int = Field(
        default=512 * MiB,
        ge=32 * MiB,
        le=64 * GiB,
        description="memory of the whole run: its cgroup's limit where the machine allows"
        " one, else shared out as address space per process (512 MiB: 8 of 64 MiB)",
    )
    max_processes: int = Field(default=32, ge=1, le=4096, description="processes at once")
    file_size_bytes: int = Field(
        default=16 * MiB, ge=1 * KiB, le=64 * GiB, description="largest file it may write"
    )
    open_files: int = Field(default=64, ge=16, le=65536, description="open descriptors")
    wall_timeout: float = Field(
        default=20.0,
        ge=0.1,
        le=86400.0,
        allow_inf_nan=False,
        description="seconds before the whole tree is killed",
    )
    output_bytes: int = Field(
        default=64 * KiB, ge=1 * KiB, le=64 * MiB, description="kept of stdout and of stderr"
    )
    output_kill_bytes: int = Field(
        default=32 * MiB,
        ge=1 * KiB,
        le=16 * GiB,
        description="total output after which the run is killed as a flood",
    )
    disk_bytes: int = Field(
        default=256 * MiB,
        ge=1 * MiB,
        le=1024 * GiB,
        description="bytes the work dir may hold, and the size of the private /tmp",
    )
    max_files: int = Field(
        default=4096, ge=16, le=1_000_000, description="entries the work dir may hold"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _one_line_errors(cls, data: object, handler: ValidatorFunctionWrapHandler) -> Self:
        try:
            limits: Self = handler(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "limits"
            shown = repr(error.get("input"))
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise SandboxError(f"invalid sandbox limit {field}={shown}: {error['msg']}") from None
        if limits.output_kill_bytes < limits.output_bytes:
            raise SandboxError(
                "invalid sandbox limits: output_kill_bytes must be at least output_bytes"
            )
        return limits


class ProducedFile(BaseModel):
    """A regular file the run left in its work dir."""

    path: str = Field(description="relative to the work dir, with forward slashes")
    size: int


class ExecutionResult(BaseModel):
    """What one sandboxed execution did, ready to report as a step result."""

    language: Language
    exit_code: int | None = Field(description="None when the process was killed by a signal")
    signal: str | None = Field(description="e.g. 'SIGKILL' when killed by a signal")
    timed_out: bool
    limit_hit: LimitName | None = Field(
        description="the limit that stopped the run, when one evidently did"
    )
    stdout: str
    stderr: str
    stdout_bytes: int = Field(description="bytes the code wrote, before truncation")
    stderr_bytes: int
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    cpu_s: float | None = Field(description="CPU time of the main process, when it exited")
    workdir: str = Field(description="the run's directory, relative to the workspace")
    files_produced: list[ProducedFile]
    files_omitted: int = Field(description="files left out of files_produced by the cap")
    disk_bytes_used: int
    isolation: list[str] = Field(description="what was in force, one line per aspect")
    notes: list[str] = Field(description="anything unusual the sandbox did or noticed")
    summary: str = Field(description="one line, e.g. 'exited 0 in 0.4s'")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit_hit is None
