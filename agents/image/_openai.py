"""Images from OpenAI's image API (or any server that speaks it), through ``AsyncOpenAI``."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal, cast

import openai

from agent_relay.runtime.models._openai_clients import endpoint_host, openai_client
from agent_relay.runtime.models._openai_errors import ErrorContext, translate

from .._download import Downloader
from .._image_types import sniff_image_type
from .._workspace import Workspace
from ._backend import GeneratedImage, ImageBackend, ImageGenerationError, check_prompt, parse_size
from ._saving import save_downloaded, save_image_bytes


class OpenAIImageBackend(ImageBackend):
    """Calls ``images.generate``; saves the returned base64 image, or downloads its URL.

    The key comes from ``api_key`` or OPENAI_API_KEY, the endpoint from ``base_url`` or
    OPENAI_BASE_URL, unless a ready ``client`` is given. ``response_format`` is sent only
    when set (``gpt-image-1`` always answers base64 and refuses the parameter; the DALL-E
    models and some compatible servers answer with a URL unless asked for ``b64_json``).
    URLs are fetched through ``downloader`` (a default ``Downloader`` when None), so they
    get the same address checks as any other download. Close the backend when done
    (``async with`` or ``aclose``); a given ``client`` is left open.
    """

    name = "openai"

    def __init__(
        self,
        model: str = "gpt-image-1",
        *,
        client: openai.AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        response_format: Literal["b64_json", "url"] | None = None,
        downloader: Downloader | None = None,
    ) -> None:
        self.model = model
        self._owns_client = client is None
        self._client = client or openai_client(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self._errors = ErrorContext(
            host=endpoint_host(self._client),
            timeout=timeout,
            max_retries=max_retries,
            secrets=(self._client.api_key,),
        )
        self._response_format = response_format
        self._downloader = downloader

    def __repr__(self) -> str:
        return f"OpenAIImageBackend(model={self.model!r}, host={self._errors.host!r})"

    async def aclose(self) -> None:
        """Close the SDK client, unless it was given (its owner closes it then)."""
        if self._owns_client:
            await self._client.close()

    async def generate(
        self,
        prompt: str,
        *,
        size: str = "1024x1024",
        workspace: Workspace,
        filename: str | None = None,
    ) -> GeneratedImage:
        prompt = check_prompt(prompt)
        requested = (1024, 1024) if size == "auto" else parse_size(size)
        options: dict[str, Any] = {}
        if self._response_format is not None:
            options["response_format"] = self._response_format
        try:
            response = await self._client.images.generate(
                model=self.model, prompt=prompt, size=cast(Any, size), n=1, **options
            )
        except openai.APIStatusError as exc:
            if _no_images_api(exc):
                raise ImageGenerationError(
                    f"the endpoint at {self._errors.host} has no images API (HTTP "
                    f"{exc.status_code} from /images/generations); choose another image "
                    "backend: --image-backend offline|openai|replicate (RELAY_IMAGE_BACKEND, "
                    "or the image agent's backend option)"
                ) from None
            raise translate(exc, self._errors) from None
        except openai.OpenAIError as exc:
            raise translate(exc, self._errors) from None
        image = response.data[0] if response.data else None
        if image is not None and image.b64_json:
            try:
                data = base64.b64decode(image.b64_json, validate=True)
            except (binascii.Error, ValueError):
                raise self._failure("sent image data that is not valid base64") from None
            if sniff_image_type(data) is None:
                raise self._failure("sent data that is not a PNG, JPEG, GIF or WebP image")
            return await save_image_bytes(
                data,
                workspace,
                filename=filename,
                prompt=prompt,
                requested=requested,
                backend=self.name,
            )
        if image is not None and image.url:
            downloader = (self._downloader or Downloader(workspace)).for_workspace(workspace)
            return await save_downloaded(
                image.url,
                downloader,
                filename=filename,
                prompt=prompt,
                requested=requested,
                backend=self.name,
            )
        raise self._failure("answered without an image")

    def _failure(self, what: str) -> ImageGenerationError:
        return ImageGenerationError(f"the image endpoint at {self._errors.host} {what}")


def _no_images_api(exc: openai.APIStatusError) -> bool:
    """The endpoint has no images route: 405, or 404 that is not about an unknown model
    (OpenAI answers an unknown model with 404 and the code ``model_not_found``)."""
    if exc.status_code == 405:
        return True
    if exc.status_code != 404:
        return False
    return exc.code not in ("model_not_found", "model_not_available")
