"""The image agent: turns a description into an image file in the task's workspace."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from agent_relay.runtime import AgentContext, Artifact, StepAssignment
from agent_relay.runtime.assistants import FunctionTool, tool

from .._base import ArtifactLog, AssistantAgent
from .._workspace import Workspace
from . import ImageBackend, image_backend_from_config

ImageSize = Literal["1024x1024", "1024x1536", "1536x1024", "512x512", "256x256"]


def default_image_backend() -> str:
    """``RELAY_IMAGE_BACKEND`` if set; else the first backend with credentials in the
    environment; else the offline one, so a demo needs no key."""
    chosen = os.environ.get("RELAY_IMAGE_BACKEND", "").strip().lower()
    if chosen:
        return chosen
    if os.environ.get("REPLICATE_API_TOKEN"):
        return "replicate"
    if os.environ.get("OPENAI_API_KEY"):
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

    def __init__(self, backend: str | None = None, **backend_options: Any) -> None:
        self.backend_name = backend or default_image_backend()
        self.backend_options = backend_options
        # Fail at start-up, not at the first step, on a bad backend name or option.
        image_backend_from_config(self.backend_name, **backend_options)

    def tools(
        self, step: StepAssignment, ctx: AgentContext, artifacts: ArtifactLog
    ) -> Sequence[FunctionTool[..., Any]]:
        workspace = Workspace(ctx.workspace)

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
