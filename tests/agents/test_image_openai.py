"""OpenAIImageBackend with the real AsyncOpenAI client against FakeOpenAIServer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest

from agent_relay.agents import (
    Downloader,
    DownloadError,
    ImageGenerationError,
    OpenAIImageBackend,
    Workspace,
    image_backend_from_config,
)
from agent_relay.agents._image_types import image_dimensions
from agent_relay.runtime import (
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConfigError,
    ModelRateLimitError,
    ModelServerError,
)
from agent_relay.runtime.testing import (
    AuthFault,
    BadRequestFault,
    FakeOpenAIServer,
    RateLimitFault,
    ServerErrorFault,
)

pytestmark = pytest.mark.anyio

KEY = "sk-test-image-key-0123456789"
PROMPT = "a paper boat on a pond"


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(require_api_key=KEY) as fake:
        yield fake


def backend_for(server: FakeOpenAIServer, **options: object) -> OpenAIImageBackend:
    settings: dict[str, object] = {"base_url": server.base_url, "api_key": KEY, "max_retries": 0}
    settings.update(options)
    return OpenAIImageBackend(**settings)  # type: ignore[arg-type]


async def test_a_base64_image_is_saved(server: FakeOpenAIServer, workspace: Workspace) -> None:
    async with backend_for(server) as backend:
        image = await backend.generate(
            "a paper boat on a pond", size="256x128", workspace=workspace
        )
    assert image.backend == "openai"
    assert image.url is None
    assert image.placeholder is False
    assert (image.mime_type, image.width, image.height) == ("image/png", 256, 128)
    assert re.fullmatch(r"image-a-paper-boat-on-a-pond-[0-9a-f]{8}\.png", image.path)
    assert image_dimensions(await workspace.read_bytes(image.path)) == (256, 128)
    [request] = [r for r in server.requests if r.path == "/v1/images/generations"]
    assert request.body == {
        "model": "gpt-image-1",
        "prompt": PROMPT,
        "size": "256x128",
        "n": 1,
    }


async def test_a_url_answer_is_downloaded_with_the_address_checks(
    server: FakeOpenAIServer, workspace: Workspace
) -> None:
    host = server.url.removeprefix("http://")
    allowed = Downloader(workspace, allow_hosts=[host])
    async with backend_for(
        server, model="dall-e-3", response_format="url", downloader=allowed
    ) as backend:
        image = await backend.generate("a kite", size="64x64", workspace=workspace, filename="kite")
    assert image.path == "kite.png"
    assert image.url is not None
    assert image.url.startswith(f"{server.url}/files/")
    assert (image.width, image.height) == (64, 64)
    # Without the allow-list the same URL is a loopback address, and refused.
    loopback = re.escape("refused: 127.0.0.1 is a loopback address")
    async with backend_for(server, response_format="url") as plain:
        with pytest.raises(DownloadError, match=loopback):
            await plain.generate("a kite", size="64x64", workspace=workspace, filename="kite2")
    assert files_in(workspace.root) == {"kite.png"}


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (
            AuthFault(),
            ModelAuthenticationError,
            "refused the credentials (HTTP 401, invalid_api_key)",
        ),
        (RateLimitFault(), ModelRateLimitError, "is rate limiting (HTTP 429, rate_limit_exceeded)"),
        (ServerErrorFault(), ModelServerError, "failed (HTTP 500); try again later"),
        (
            BadRequestFault("Your request was rejected by the safety system."),
            ModelBadRequestError,
            "rejected the request (HTTP 400): Your request was rejected by the safety system.",
        ),
    ],
)
async def test_api_errors_become_one_line_relay_errors(
    server: FakeOpenAIServer,
    workspace: Workspace,
    fault: object,
    error: type[Exception],
    message: str,
) -> None:
    server.fail_next(fault)  # type: ignore[arg-type]
    async with backend_for(server) as backend:
        with pytest.raises(error, match=re.escape(message)) as caught:
            await backend.generate("x", size="64x64", workspace=workspace)
    assert "\n" not in str(caught.value)
    assert KEY not in str(caught.value)
    assert files_in(workspace.root) == set()


async def test_a_wrong_key_is_refused_without_being_echoed(
    server: FakeOpenAIServer, workspace: Workspace
) -> None:
    wrong = "sk-wrong-key-that-must-not-leak"
    async with backend_for(server, api_key=wrong) as backend:
        with pytest.raises(ModelAuthenticationError) as caught:
            await backend.generate("x", size="64x64", workspace=workspace)
    assert wrong not in str(caught.value)
    assert wrong not in repr(backend)


async def test_bad_requests_are_refused_before_calling(
    server: FakeOpenAIServer, workspace: Workspace
) -> None:
    async with backend_for(server) as backend:
        with pytest.raises(ImageGenerationError, match="the image prompt is empty"):
            await backend.generate(" ", workspace=workspace)
        with pytest.raises(ImageGenerationError, match="is not of the form 1024x1024"):
            await backend.generate("x", size="huge", workspace=workspace)
    assert [r for r in server.requests if r.path.startswith("/v1/images")] == []


async def test_a_client_can_be_given(server: FakeOpenAIServer, workspace: Workspace) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        async with OpenAIImageBackend("gpt-image-1", client=client) as backend:
            image = await backend.generate("x", size="32x32", workspace=workspace, filename="a.png")
        assert image.path == "a.png"
        # The backend leaves a client it was given open for its owner.
        again = await OpenAIImageBackend(client=client).generate(
            "y", size="32x32", workspace=workspace
        )
        assert await workspace.exists(again.path)


async def test_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelConfigError, match="no model endpoint configured"):
        OpenAIImageBackend()
    with pytest.raises(ModelConfigError, match="no model endpoint configured"):
        image_backend_from_config("openai")
    async with image_backend_from_config("openai", model="dall-e-3", api_key=KEY) as backend:
        assert isinstance(backend, OpenAIImageBackend)
        assert backend.model == "dall-e-3"
    with pytest.raises(ModelConfigError, match=r"unknown image backend 'midjourney'; choose one"):
        image_backend_from_config("midjourney")
    with pytest.raises(
        ModelConfigError, match=r"image backend 'offline' does not take option\(s\) model"
    ):
        image_backend_from_config("offline", model="x")
