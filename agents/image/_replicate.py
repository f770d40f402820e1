"""Images from Replicate's HTTP API: create a prediction, poll it, fetch its output.

The API calls go to the configured endpoint with the token; the output file is fetched
through a ``Downloader`` (no token, address checks on), because its URL is whatever the
prediction says. The token is never logged, never put in an error message, and never sent
anywhere but ``base_url``: a ``urls.get`` link pointing elsewhere is ignored.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import anyio
from loguru import logger
from pydantic import BaseModel, ValidationError
from yarl import URL

from agent_relay.bus import one_line
from agent_relay.runtime import (
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConfigError,
    ModelError,
    ModelServerError,
    ModelTimeoutError,
)
from agent_relay.runtime.models._openai_errors import redact

from .._download import Downloader
from .._image_types import sniff_image_type
from .._units import MiB
from .._workspace import Workspace
from ._backend import GeneratedImage, ImageBackend, ImageGenerationError, check_prompt, parse_size
from ._saving import save_downloaded, save_image_bytes

DEFAULT_BASE_URL = "https://api.replicate.com/v1"
#: The aspect ratios FLUX models accept; a requested size is mapped to the nearest one.
ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_RUNNING = frozenset({"starting", "processing"})
_ENDED_BADLY = frozenset({"failed", "canceled", "aborted"})
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_PREDICTION_ID = re.compile(r"[A-Za-z0-9_-]+")
#: Replies are JSON; with ``Prefer: wait`` they may carry the image inline as a data URI.
_MAX_REPLY_BYTES = 48 * MiB
_TRANSIENT_RETRIES = 4
_CANCEL_TIMEOUT = 5.0


class _Prediction(BaseModel):
    id: str
    status: str
    output: Any = None
    error: Any = None
    urls: dict[str, Any] = {}


class ReplicateImageBackend(ImageBackend):
    """Runs an official Replicate model (``owner/name``) and saves the image it makes.

    ``token`` defaults to REPLICATE_API_TOKEN. With ``wait`` the create call asks Replicate
    to hold the request until the prediction ends (``Prefer: wait``); either way the
    prediction is polled until it ends, starting every ``poll_interval`` seconds and
    backing off to ``max_poll_interval``, and honouring 429 Retry-After. After ``timeout``
    seconds the prediction is canceled and ModelTimeoutError raised. The model input is
    ``{"prompt", "aspect_ratio"}`` plus ``extra_input`` (which wins on conflicts).
    """

    name = "replicate"

    def __init__(
        self,
        model: str = "black-forest-labs/flux-schnell",
        *,
        token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        poll_interval: float = 1.0,
        max_poll_interval: float = 5.0,
        timeout: float = 180.0,
        wait: bool = True,
        extra_input: Mapping[str, Any] | None = None,
        downloader: Downloader | None = None,
    ) -> None:
        token = token or os.environ.get("REPLICATE_API_TOKEN") or None
        if token is None:
            raise ModelConfigError(
                "Replicate needs an API token: set REPLICATE_API_TOKEN or pass token="
            )
        if not _MODEL_NAME.fullmatch(model):
            raise ModelConfigError(f"a Replicate model is named owner/name, not {model[:80]!r}")
        if not base_url.startswith(("http://", "https://")):
            raise ModelConfigError("the Replicate base URL must start with http:// or https://")
        self.model = model
        self.base_url = URL(base_url.rstrip("/"))
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.wait = wait
        self.extra_input = dict(extra_input or {})
        self._token = token
        self._downloader = downloader
        self._host = self.base_url.host or "?"

    def __repr__(self) -> str:
        return f"ReplicateImageBackend(model={self.model!r}, base_url={str(self.base_url)!r})"

    async def generate(
        self,
        prompt: str,
        *,
        size: str = "1024x1024",
        workspace: Workspace,
        filename: str | None = None,
    ) -> GeneratedImage:
        prompt = check_prompt(prompt)
        requested = parse_size(size)
        body = {
            "input": {"prompt": prompt, "aspect_ratio": aspect_ratio(*requested)} | self.extra_input
        }
        prediction = await self._run(body)
        output = _first_output(prediction.output)
        if output is None:
            raise ImageGenerationError(
                f"Replicate prediction {prediction.id} succeeded but returned no image"
            )
        if output.startswith("data:"):
            data = _decode_data_uri(output, prediction.id)
            return await save_image_bytes(
                data,
                workspace,
                filename=filename,
                prompt=prompt,
                requested=requested,
                backend=self.name,
            )
        downloader = (self._downloader or Downloader(workspace)).for_workspace(workspace)
        return await save_downloaded(
            output,
            downloader,
            filename=filename,
            prompt=prompt,
            requested=requested,
            backend=self.name,
        )

    # -- the prediction ------------------------------------------------------------------

    async def _run(self, body: dict[str, Any]) -> _Prediction:
        headers = {"Authorization": f"Bearer {self._token}"}
        timeout = aiohttp.ClientTimeout(total=None)  # the deadline is ``self.timeout``, below
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            prediction: _Prediction | None = None
            try:
                with anyio.move_on_after(self.timeout):
                    prediction = await self._create(session, body)
                    delay = self.poll_interval
                    while prediction.status in _RUNNING:
                        await anyio.sleep(delay)
                        delay = min(delay * 1.5, self.max_poll_interval)
                        prediction = await self._call(session, "GET", self._link(prediction, "get"))
                    return self._finished(prediction)
            except anyio.get_cancelled_exc_class():
                if prediction is not None:
                    await self._cancel(session, prediction)
                raise
            if prediction is not None:
                await self._cancel(session, prediction)
        raise ModelTimeoutError(
            f"Replicate did not finish the image within {self.timeout:g} s; "
            "the prediction was canceled (raise the timeout for slow models)"
        )

    async def _create(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> _Prediction:
        owner, name = self.model.split("/")
        url = self.base_url / "models" / owner / name / "predictions"
        # Replicate holds a request at most 60 s; polling takes over after that.
        seconds = min(60, max(1, math.ceil(self.timeout)))
        headers = {"Prefer": f"wait={seconds}"} if self.wait else {}
        return await self._call(session, "POST", url, json=body, headers=headers)

    def _finished(self, prediction: _Prediction) -> _Prediction:
        if prediction.status == "succeeded":
            return prediction
        if prediction.status in _ENDED_BADLY:
            detail = _redacted_line(str(prediction.error or ""), self._token)
            raise ImageGenerationError(
                f"Replicate prediction {prediction.id} {prediction.status}"
                + (f": {detail}" if detail else "")
            )
        raise ModelServerError(
            f"Replicate reported an unknown prediction status {prediction.status[:40]!r}"
        )

    async def _cancel(self, session: aiohttp.ClientSession, prediction: _Prediction) -> None:
        """Ask Replicate to stop a prediction we gave up on (it bills while it runs)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_TIMEOUT):
            try:
                await self._call(session, "POST", self._link(prediction, "cancel"), retry=False)
            except ModelError as error:
                logger.warning("could not cancel Replicate prediction {}: {}", prediction.id, error)

    def _link(self, prediction: _Prediction, kind: str) -> URL:
        """The prediction's ``get``/``cancel`` URL, provided it points at our endpoint."""
        given = prediction.urls.get(kind)
        if isinstance(given, str):
            try:
                url = URL(given)
            except ValueError:
                url = None
            if url is not None and self._is_ours(url):
                return url
        if not _PREDICTION_ID.fullmatch(prediction.id):
            raise ModelServerError("Replicate sent a prediction id that is not a plain name")
        url = self.base_url / "predictions" / prediction.id
        return url / "cancel" if kind == "cancel" else url

    def _is_ours(self, url: URL) -> bool:
        base_path = self.base_url.path.rstrip("/") + "/"
        return url.origin() == self.base_url.origin() and url.path.startswith(base_path)

    # -- one API call --------------------------------------------------------------------

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> _Prediction:
        """Make the call, waiting out 429s (and, for GETs, transient failures)."""
        transient = 0
        backoff = self.poll_interval
        while True:
            status: int | None = None
            try:
                async with session.request(method, url, json=json, headers=headers) as response:
                    status = response.status
                    text = await _read_limited(response)
                    retry_after = _retry_after(response.headers.get("Retry-After"))
            except aiohttp.ClientError as error:
                status, failure = None, type(error).__name__
            if status in (200, 201):
                return self._parse(text)
            # A GET can be repeated safely; a create may have gone through, so it is not.
            repeatable = retry and method == "GET" and transient < _TRANSIENT_RETRIES
            if status == 429 and retry:
                pause = retry_after if retry_after is not None else backoff
            elif (status is None or status >= 500) and repeatable:
                transient += 1
                pause = backoff
            elif status is None:
                raise ModelServerError(
                    f"could not reach Replicate at {self._host} ({failure}); "
                    "check the network and the base URL"
                )
            else:
                raise self._status_error(status, text, method)
            await anyio.sleep(pause)
            backoff = min(backoff * 2, self.max_poll_interval)

    def _parse(self, text: str) -> _Prediction:
        try:
            return _Prediction.model_validate_json(text)
        except ValidationError:
            raise ModelServerError(
                f"Replicate at {self._host} sent a reply that is not a prediction"
            ) from None

    def _status_error(self, status: int, text: str, method: str) -> ModelError:
        logger.debug(
            "Replicate call failed: status={} body={}", status, redact(text[:2000], [self._token])
        )
        detail = _detail(text, self._token)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            return ModelAuthenticationError(
                f"Replicate refused the API token (HTTP {status}); check REPLICATE_API_TOKEN"
            )
        if status == 404 and method == "POST":
            return ModelBadRequestError(
                f"Replicate has no model {self.model!r} (HTTP 404); check the model name"
            )
        if status == 429:
            return ModelError(f"Replicate is rate limiting (HTTP 429){suffix}")
        if status >= 500:
            return ModelServerError(f"Replicate failed (HTTP {status}); try again later")
        return ModelBadRequestError(f"Replicate rejected the request (HTTP {status}){suffix}")


def aspect_ratio(width: int, height: int) -> str:
    """The supported aspect ratio nearest to ``width``:``height``."""
    wanted = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(int(w) / int(h)) - wanted)

    return min(ASPECT_RATIOS, key=distance)


def _first_output(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    return output if isinstance(output, str) and output else None


def _decode_data_uri(uri: str, prediction_id: str) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise ImageGenerationError(f"Replicate prediction {prediction_id} sent unreadable data")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageGenerationError(
            f"Replicate prediction {prediction_id} sent image data that is not valid base64"
        ) from None
    if sniff_image_type(data) is None:
        raise ImageGenerationError(
            f"Replicate prediction {prediction_id} sent data that is not a PNG, JPEG, GIF "
            "or WebP image"
        )
    return data


async def _read_limited(response: aiohttp.ClientResponse) -> str:
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > _MAX_REPLY_BYTES:
            raise ModelServerError("Replicate sent an oversized reply")
    return body.decode("utf-8", errors="replace")


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return None if seconds is None or not math.isfinite(seconds) else max(0.0, min(seconds, 60.0))


def _detail(text: str, token: str) -> str:
    """The short ``detail`` of a Replicate error body, on one line, without the token."""
    try:
        body = _ErrorBody.model_validate_json(text)
    except ValidationError:
        return ""
    return _redacted_line(str(body.detail or body.title or ""), token)


class _ErrorBody(BaseModel):
    detail: Any = None
    title: Any = None


def _redacted_line(text: str, token: str) -> str:
    return one_line(redact(text, [token]), 200)
