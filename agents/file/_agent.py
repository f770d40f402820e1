"""The file agent: reads, writes and lists files in the task's workspace, and downloads from
the web, refusing private addresses. Every path is confined to the workspace."""

from __future__ import annotations

import mimetypes
from collections.abc import Collection, Sequence
from typing import Any, ClassVar, Unpack

from agent_relay.runtime import AgentContext, Artifact, StepAssignment
from agent_relay.runtime.assistants import FunctionTool, tool

from .._base import ArtifactLog, AssistantAgent, AssistantOptions
from .._units import MiB
from .._workspace import Workspace
from ..code._agent import SANDBOX_DIR


def _in_sandbox(path: str) -> bool:
    return path == SANDBOX_DIR or path.startswith(SANDBOX_DIR + "/")


class FileAgent(AssistantAgent):
    name: ClassVar[str] = "file"
    description: ClassVar[str] = (
        "reads, writes and lists files in the workspace (text, HTML, JSON, Markdown...) and "
        "downloads files or images from public http(s) URLs"
    )
    instructions: ClassVar[str] = (
        "You manage files in the workspace. Use the tools to read, write, list and download "
        "files; paths are relative to the workspace. When writing, write the complete content. "
        "Finish with a short summary of what you did and the paths involved."
    )
    concurrency = 8

    def __init__(
        self,
        *,
        allow_hosts: Collection[str] = (),
        max_read_bytes: int = 10 * MiB,
        max_write_bytes: int = 50 * MiB,
        max_download_bytes: int = 25 * MiB,
        download_timeout: float = 30.0,
        **options: Unpack[AssistantOptions],
    ) -> None:
        super().__init__(**options)
        self.allow_hosts = tuple(allow_hosts)
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_download_bytes = max_download_bytes
        self.download_timeout = download_timeout

    def tools(
        self, step: StepAssignment, ctx: AgentContext, artifacts: ArtifactLog
    ) -> Sequence[FunctionTool[..., Any]]:
        workspace = Workspace(
            ctx.workspace,
            max_read_bytes=self.max_read_bytes,
            max_write_bytes=self.max_write_bytes,
            read_only=step.read_only,
        )
        # Imported here: it brings aiohttp, which listing the agents does not need.
        from .._download import Downloader

        downloader = Downloader(
            workspace,
            max_bytes=self.max_download_bytes,
            timeout=self.download_timeout,
            allow_hosts=self.allow_hosts,
        )

        @tool
        async def read_file(path: str) -> str:
            """Read a text file from the workspace.

            Args:
                path: The file's path, relative to the workspace.
            """
            return await workspace.read_text(path)

        # Writing over a file and downloading are what the rule ``risky`` asks about here.
        @tool(risky=lambda args: workspace.holds(args.get("path")))
        async def write_file(path: str, content: str) -> str:
            """Write a text file in the workspace, replacing it if it exists (the task's
            input files are read-only: write results to new files).

            Args:
                path: Where to write, relative to the workspace, e.g. "index.html".
                content: The whole content of the file.
            """
            info = await workspace.write_text(path, content)
            artifacts.add(
                Artifact(
                    kind="file",
                    path=info.path,
                    mime_type=mimetypes.guess_type(info.path)[0],
                    description=f"{info.size} bytes",
                )
            )
            return f"wrote {info.path} ({info.size} bytes)"

        @tool
        async def list_files(path: str = ".") -> list[dict[str, Any]]:
            """List the files under a folder of the workspace, with their sizes in bytes.

            Args:
                path: The folder, relative to the workspace; "." for all of it.
            """
            files = await workspace.list_files(path)
            # The code agent's sandbox work dirs are machinery, not the task's files; what a
            # run produced reaches later steps as that step's artifacts.
            return [f.model_dump() for f in files if not _in_sandbox(f.path)]

        async def fetch(url: str, path: str | None, image: bool) -> dict[str, Any]:
            result = await downloader.download(url, path, expect_image=image)
            artifacts.add(
                Artifact(
                    kind="image" if image else "file",
                    path=result.path,
                    url=result.final_url,
                    mime_type=result.content_type,
                    description=f"downloaded, {result.size} bytes",
                )
            )
            return result.model_dump()

        @tool(timeout=self.download_timeout + 5, risky=True)
        async def download_file(url: str, path: str | None = None) -> dict[str, Any]:
            """Download a public http(s) URL into the workspace.

            Args:
                url: The URL to fetch.
                path: Where to save it, relative to the workspace; derived from the URL if omitted.
            """
            return await fetch(url, path, image=False)

        @tool(timeout=self.download_timeout + 5, risky=True)
        async def download_image(url: str, path: str | None = None) -> dict[str, Any]:
            """Download an image (PNG, JPEG, GIF or WebP) from a public http(s) URL.

            Args:
                url: The image's URL.
                path: Where to save it, relative to the workspace; derived from the URL if omitted.
            """
            return await fetch(url, path, image=True)

        return [read_file, write_file, list_files, download_file, download_image]
