"""The image agent: turns a description into an image file in the task's workspace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from agent_relay.bus import one_line
from agent_relay.runtime import AgentContext, Artifact, StepAssignment
from agent_relay.runtime.assistants import FunctionTool, tool

from .._base import (
    ArtifactLog,
    AssistantAgent,
    Shortfall,
    ToolCallRecord,
    last_call_failed,
    take_assistant_options,
)
from .._workspace import Workspace
from ._backend import ImageBackend
from ._config import image_backend_from_config

ImageSize = Literal["1024x1024", "1024x1536", "1536x1024", "512x512", "256x256"]


def default_image_backend(
    *, replicate_api_token: str | None = None, openai_api_key: str | None = None
) -> str:
    """The backend to use when none is named: the first one given credentials (Replicate,
    then OpenAI), else the offline one, so a demo needs no key. The environment is not read:
    whoever configures the agent passes what it found."""
    if replicate_api_token:
        return "replicate"
    if openai_api_key:
        return "openai"
    return "offline"


class ImageAgent(AssistantAgent):
    name: ClassVar[str] = "image"
    description: ClassVar[str] = (
        "creates an image (illustration, photo, icon, picture) from a description and saves "
        "it as a file in the workspace"
    )
    instructions: ClassVar[str] = (
        "You create images. Call generate_image once per image the step asks for, with a "
        "detailed visual description and a short descriptive file name ending in .png. Then "
        "reply with one line per image: its path and what it shows."
    )
    concurrency = 4

    def __init__(
        self,
        backend: str | None = None,
        *,
        openai_api_key: str | None = None,
        openai_base_url: str | None = None,
        replicate_api_token: str | None = None,
        **backend_options: Any,
    ) -> None:
        """``backend``: "offline", "openai" or "replicate"; when None, chosen by
        ``default_image_backend`` from the credentials given. The credentials (as the runtime's
        ``agent_options["image"]`` passes them) reach the chosen backend unless
        ``backend_options`` set its own (``api_key``, ``base_url``, ``token``). Raises
        ``ModelConfigError`` for an unknown backend, option or missing credentials. The
        ``AssistantOptions`` (``assistant_backend``) are taken out of ``backend_options``:
        ``backend`` here is the image backend, not the assistant one."""
        super().__init__(**take_assistant_options(backend_options))
        self.backend_name = backend or default_image_backend(
            replicate_api_token=replicate_api_token, openai_api_key=openai_api_key
        )
        credentials: dict[str, dict[str, str | None]] = {
            "openai": {"api_key": openai_api_key, "base_url": openai_base_url},
            "replicate": {"token": replicate_api_token},
        }
        given = credentials.get(self.backend_name.strip().lower(), {})
        self.backend_options = {
            **{k: v for k, v in given.items() if v is not None},
            **backend_options,
        }
        # Fail at start-up, not at the first step, on a bad backend name or option.
        image_backend_from_config(self.backend_name, **self.backend_options)

    def tools(
        self, step: StepAssignment, ctx: AgentContext, artifacts: ArtifactLog
    ) -> Sequence[FunctionTool[..., Any]]:
        workspace = Workspace(ctx.workspace, read_only=step.read_only)

        @tool(timeout=300)
        async def generate_image(
            prompt: str, size: ImageSize = "1024x1024", filename: str | None = None
        ) -> dict[str, Any]:
            """Generate an image and save it in the workspace.

            Args:
                prompt: A detailed visual description of the image.
                size: The image size in pixels, width x height.
                filename: Where to save it, relative to the workspace, e.g. "sunset.png".
            """
            backend: ImageBackend = image_backend_from_config(
                self.backend_name, **self.backend_options
            )
            async with backend:
                image = await backend.generate(
                    prompt, size=size, workspace=workspace, filename=filename
                )
            await ctx.progress(f"saved {image.path}", path=image.path)
            artifacts.add(
                Artifact(
                    kind="image",
                    path=image.path,
                    url=image.url,
                    mime_type=image.mime_type,
                    description=image.note or prompt[:120],
                    metadata={
                        "backend": image.backend,
                        "width": image.width,
                        "height": image.height,
                        "placeholder": image.placeholder,
                        **({"note": image.note} if image.note else {}),
                    },
                )
            )
            return image.model_dump(exclude_none=True)

        return [generate_image]

    def judge(
        self, step: StepAssignment, artifacts: ArtifactLog, calls: Sequence[ToolCallRecord]
    ) -> Shortfall | None:
        """An image step exists to make images: without one it failed, whatever the model
        says; with some, a last generation that failed means an image asked for is missing."""
        failed = last_call_failed(calls, "generate_image")
        if not any(a.kind == "image" for a in artifacts.items):
            why = f": {one_line(failed.output, 200)}" if failed else ""
            return Shortfall("failed", f"no image was made{why}")
        if failed is not None:
            return Shortfall(
                "incomplete", f"the last image generation failed: {one_line(failed.output, 200)}"
            )
        return super().judge(step, artifacts, calls)
