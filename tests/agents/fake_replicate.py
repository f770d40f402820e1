"""A fake of Replicate's HTTP API on 127.0.0.1, for driving ``ReplicateImageBackend``.

It speaks the real endpoints: ``POST /v1/models/{owner}/{name}/predictions`` (201 with a
prediction), ``GET /v1/predictions/{id}``, ``POST /v1/predictions/{id}/cancel``, with the
real statuses (starting, processing, succeeded, failed, canceled), the real error bodies
(``{"title", "detail", "status"}``) and 429 with Retry-After. Output files are served from
``/files/{id}.png`` on the same server, as replicate.delivery would serve them.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from agent_relay.agents.image._png import encode_png
from agent_relay.runtime.testing import serve_on_loopback

TOKEN = "r8_fake_token_0123456789abcdef"

OutputKind = Literal["list", "string", "data-uri", "none", "html"]


@dataclass
class Script:
    """How the next predictions behave.

    ``statuses`` are the statuses a prediction shows: the first in the create reply, then
    one more per poll; the last one sticks. ``rate_limited_polls`` polls answer 429 first.
    """

    statuses: list[str] = field(default_factory=lambda: ["starting", "processing", "succeeded"])
    output: OutputKind = "list"
    error: str = "CUDA out of memory"
    rate_limited_polls: int = 0
    failing_polls: int = 0  # polls answered 503 before the rate limits and the real answer
    retry_after: str = "0"
    get_url: str | None = None  # overrides urls.get in replies (a hostile server's trick)
    output_url: str | None = None  # overrides the output file's URL


@dataclass
class _Prediction:
    id: str
    input: dict[str, Any]
    statuses: list[str]
    polls: int = 0
    canceled: bool = False

    @property
    def status(self) -> str:
        if self.canceled:
            return "canceled"
        return self.statuses[min(self.polls, len(self.statuses) - 1)]


class FakeReplicate:
    """``async with FakeReplicate() as fake``; point the backend at ``fake.base_url``."""

    def __init__(self, *, token: str = TOKEN, models: tuple[str, ...] = ()) -> None:
        self.token = token
        self.models = set(models) or {"black-forest-labs/flux-schnell"}
        self.script = Script()
        self.created: list[dict[str, Any]] = []  # request bodies of created predictions
        self.create_headers: list[dict[str, str]] = []
        self.polls = 0
        self.canceled: list[str] = []
        self.file_requests: list[dict[str, str]] = []
        self._predictions: dict[str, _Prediction] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def host(self) -> str:
        """The allow-list entry for downloading this server's output files."""
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeReplicate:
        app = web.Application()
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._create)
        app.router.add_get("/v1/predictions/{id}", self._get)
        app.router.add_post("/v1/predictions/{id}/cancel", self._cancel)
        app.router.add_get("/files/{name}", self._file)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers ------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model not in self.models:
            return _problem(404, "Not found", "The requested resource could not be found.")
        body = await request.json()
        model_input = body.get("input") if isinstance(body, dict) else None
        if not isinstance(model_input, dict) or not isinstance(model_input.get("prompt"), str):
            return _problem(422, "Input validation failed", "input.prompt: prompt is required")
        self.created.append(body)
        self.create_headers.append(dict(request.headers))
        prediction = _Prediction(f"p{next(self._ids)}x", model_input, list(self.script.statuses))
        self._predictions[prediction.id] = prediction
        return web.json_response(self._json(prediction, model), status=201)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        prediction = self._predictions.get(request.match_info["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        self.polls += 1
        if self.script.failing_polls > 0:
            self.script.failing_polls -= 1
            return _problem(503, "Service Unavailable", "try again")
        if self.script.rate_limited_polls > 0:
            self.script.rate_limited_polls -= 1
            response = _problem(429, "Request was throttled.", "Expected available in 1 second.")
            response.headers["Retry-After"] = self.script.retry_after
            return response
        prediction.polls += 1
        return web.json_response(self._json(prediction, "black-forest-labs/flux-schnell"))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        prediction = self._predictions.get(request.match_info["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        prediction.canceled = True
        self.canceled.append(prediction.id)
        return web.json_response(self._json(prediction, "black-forest-labs/flux-schnell"))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.file_requests.append(dict(request.headers))
        name = request.match_info["name"]
        if self.script.output == "html":
            return web.Response(body=b"<html>oops</html>", content_type="image/png")
        prediction = self._predictions.get(name.removesuffix(".png"))
        if prediction is None:
            raise web.HTTPNotFound()
        return web.Response(body=_image_for(prediction), content_type="image/png")

    # -- helpers -------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _json(self, prediction: _Prediction, model: str) -> dict[str, Any]:
        status = prediction.status
        output: Any = None
        if status == "succeeded":
            file_url = self.script.output_url or f"{self.url}/files/{prediction.id}.png"
            kind = self.script.output
            if kind in ("list", "html"):
                output = [file_url]
            elif kind == "string":
                output = file_url
            elif kind == "data-uri":
                data = base64.b64encode(_image_for(prediction)).decode()
                output = [f"data:image/png;base64,{data}"]
        get_url = self.script.get_url or f"{self.base_url}/predictions/{prediction.id}"
        return {
            "id": prediction.id,
            "model": model,
            "version": "hidden",
            "input": prediction.input,
            "logs": "",
            "output": output,
            "data_removed": False,
            "error": self.script.error if status == "failed" else None,
            "status": status,
            "created_at": "2026-01-01T00:00:00.000Z",
            "urls": {
                "cancel": f"{self.base_url}/predictions/{prediction.id}/cancel",
                "get": get_url,
                "web": f"https://replicate.com/p/{prediction.id}",
            },
        }


def _image_for(prediction: _Prediction) -> bytes:
    """A small PNG with the aspect ratio that was asked for (16 pixels per unit)."""
    ratio = str(prediction.input.get("aspect_ratio", "1:1"))
    width, height = (int(part) * 16 for part in ratio.split(":"))
    return encode_png(width, height, bytes([90, 140, 200]) * (width * height))


def _problem(status: int, title: str, detail: str) -> web.Response:
    return web.json_response({"title": title, "detail": detail, "status": status}, status=status)
