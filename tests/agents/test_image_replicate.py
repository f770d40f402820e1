"""ReplicateImageBackend against a fake Replicate speaking the real HTTP API on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ConnectionLog
from fake_replicate import TOKEN, FakeReplicate, Script
from fake_web import FakeWeb

from agent_relay.agents import (
    Downloader,
    DownloadError,
    ImageGenerationError,
    ReplicateImageBackend,
    Workspace,
    image_backend_from_config,
)
from agent_relay.agents._image_types import image_dimensions
from agent_relay.agents.image._replicate import aspect_ratio
from agent_relay.runtime import (
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConfigError,
    ModelServerError,
    ModelTimeoutError,
)

pytestmark = pytest.mark.anyio


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def backend_for(
    fake: FakeReplicate, workspace: Workspace, **options: object
) -> ReplicateImageBackend:
    settings: dict[str, object] = {
        "token": TOKEN,
        "base_url": fake.base_url,
        "poll_interval": 0.01,
        "max_poll_interval": 0.05,
        "downloader": Downloader(workspace, allow_hosts=[fake.host]),
    }
    settings.update(options)
    return ReplicateImageBackend(**settings)  # type: ignore[arg-type]


async def test_a_prediction_is_created_polled_and_its_output_downloaded(
    replicate: FakeReplicate, workspace: Workspace, connections: ConnectionLog
) -> None:
    backend = backend_for(replicate, workspace)
    image = await backend.generate("a lighthouse in fog", size="1536x1024", workspace=workspace)
    assert image.backend == "replicate"
    assert image.placeholder is False
    assert image.mime_type == "image/png"
    assert (image.width, image.height) == (48, 32)  # the fake draws 16 pixels per ratio unit
    assert image.url == f"{replicate.url}/files/p1x.png"
    assert re.fullmatch(r"image-a-lighthouse-in-fog-[0-9a-f]{8}\.png", image.path)
    assert image_dimensions(await workspace.read_bytes(image.path)) == (48, 32)
    # What went over the wire: the official-model endpoint, the input, then two polls.
    assert replicate.created == [
        {"input": {"prompt": "a lighthouse in fog", "aspect_ratio": "3:2"}}
    ]
    assert replicate.create_headers[0]["Prefer"] == "wait=60"
    assert replicate.polls == 2
    # The token goes to the API only, never to the host serving the file.
    assert all("Authorization" not in headers for headers in replicate.file_requests)
    assert connections.non_loopback == []


@pytest.mark.parametrize("output", ["string", "data-uri"])
async def test_other_output_shapes(
    replicate: FakeReplicate, workspace: Workspace, output: str
) -> None:
    replicate.script = Script(statuses=["succeeded"], output=output)  # type: ignore[arg-type]
    backend = backend_for(replicate, workspace, wait=False, extra_input={"output_format": "png"})
    image = await backend.generate("a quiet lake", workspace=workspace, filename="lake.png")
    assert image.path == "lake.png"
    assert (image.width, image.height) == (16, 16)
    assert "Prefer" not in replicate.create_headers[0]
    assert replicate.created[0]["input"]["output_format"] == "png"
    assert replicate.polls == 0  # finished at creation
    if output == "data-uri":
        assert image.url is None
        assert replicate.file_requests == []


async def test_rate_limited_polls_are_waited_out(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    replicate.script = Script(rate_limited_polls=2)
    image = await backend_for(replicate, workspace).generate("x", workspace=workspace)
    assert await workspace.exists(image.path)
    assert replicate.polls == 4


async def test_transient_poll_failures_are_retried_then_reported(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    replicate.script = Script(failing_polls=3)
    image = await backend_for(replicate, workspace).generate("x", workspace=workspace)
    assert await workspace.exists(image.path)
    assert replicate.polls == 5
    replicate.script = Script(failing_polls=100)
    with pytest.raises(ModelServerError, match=re.escape("Replicate failed (HTTP 503); try again")):
        await backend_for(replicate, workspace).generate("y", workspace=workspace)


async def test_an_unreachable_endpoint_is_a_clear_error(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    base_url = replicate.base_url
    await replicate.__aexit__(None, None, None)
    backend = backend_for(replicate, workspace, base_url=base_url)
    with pytest.raises(ModelServerError, match=r"could not reach Replicate at 127\.0\.0\.1"):
        await backend.generate("x", workspace=workspace)


async def test_a_failed_prediction_is_a_clear_error(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    replicate.script = Script(statuses=["starting", "failed"], error="NSFW content detected.\n")
    with pytest.raises(
        ImageGenerationError, match=r"^Replicate prediction p1x failed: NSFW content detected\.$"
    ):
        await backend_for(replicate, workspace).generate("x", workspace=workspace)
    assert files_in(workspace.root) == set()


async def test_a_canceled_prediction_is_a_clear_error(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    replicate.script = Script(statuses=["processing", "canceled"])
    with pytest.raises(ImageGenerationError, match=r"^Replicate prediction p1x canceled$"):
        await backend_for(replicate, workspace).generate("x", workspace=workspace)


async def test_a_wrong_token_is_a_clear_error_that_does_not_leak_it(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    wrong = "r8_wrong_token_that_must_stay_secret"
    backend = backend_for(replicate, workspace, token=wrong)
    with pytest.raises(ModelAuthenticationError) as caught:
        await backend.generate("x", workspace=workspace)
    assert str(caught.value) == (
        "Replicate refused the API token (HTTP 401); check REPLICATE_API_TOKEN"
    )
    assert wrong not in repr(backend)
    assert replicate.created == []


async def test_an_unknown_model_is_a_clear_error(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    backend = backend_for(replicate, workspace, model="someone/nothing-here")
    with pytest.raises(ModelBadRequestError, match="Replicate has no model 'someone/nothing-here'"):
        await backend.generate("x", workspace=workspace)


async def test_a_slow_prediction_times_out_and_is_canceled(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    replicate.script = Script(statuses=["starting", "processing"])
    backend = backend_for(replicate, workspace, timeout=0.3)
    with pytest.raises(
        ModelTimeoutError,
        match=re.escape("Replicate did not finish the image within 0.3 s; the prediction was"),
    ):
        await backend.generate("x", workspace=workspace)
    assert replicate.canceled == ["p1x"]
    assert files_in(workspace.root) == set()


async def test_a_get_link_to_another_host_is_ignored(
    replicate: FakeReplicate, web: FakeWeb, workspace: Workspace
) -> None:
    # A reply that points the polls elsewhere must not make us send the token there.
    replicate.script = Script(get_url=f"{web.url}/v1/predictions/p1x")
    image = await backend_for(replicate, workspace).generate("x", workspace=workspace)
    assert await workspace.exists(image.path)
    assert web.requests == []
    assert replicate.polls == 2


async def test_output_urls_get_the_download_checks(
    replicate: FakeReplicate, workspace: Workspace, connections: ConnectionLog
) -> None:
    replicate.script = Script(output_url="http://169.254.169.254/latest/meta-data/iam")
    with pytest.raises(
        DownloadError, match=re.escape("refused: 169.254.169.254 is a link-local address")
    ):
        await backend_for(replicate, workspace).generate("x", workspace=workspace)
    replicate.script = Script(output="html")
    with pytest.raises(DownloadError, match="is served as image/png but its content is not an"):
        await backend_for(replicate, workspace).generate("x", workspace=workspace)
    assert connections.non_loopback == []
    assert files_in(workspace.root) == set()


async def test_the_default_downloader_refuses_the_fake_as_a_loopback_host(
    replicate: FakeReplicate, workspace: Workspace
) -> None:
    backend = backend_for(replicate, workspace, downloader=None)
    with pytest.raises(DownloadError, match=re.escape("refused: 127.0.0.1 is a loopback address")):
        await backend.generate("x", workspace=workspace)


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    with pytest.raises(ModelConfigError, match="Replicate needs an API token"):
        ReplicateImageBackend()
    with pytest.raises(ModelConfigError, match="Replicate needs an API token"):
        image_backend_from_config("replicate")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_from_the_environment")
    assert isinstance(image_backend_from_config("Replicate"), ReplicateImageBackend)
    with pytest.raises(ModelConfigError, match="a Replicate model is named owner/name"):
        ReplicateImageBackend("flux")
    with pytest.raises(ModelConfigError, match="a Replicate model is named owner/name"):
        ReplicateImageBackend("../../v1/account/x")
    with pytest.raises(ModelConfigError, match="must start with http:// or https://"):
        ReplicateImageBackend(base_url="ftp://api.replicate.com")


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [
        (1024, 1024, "1:1"),
        (1920, 1080, "16:9"),
        (1024, 1536, "2:3"),
        (800, 1000, "4:5"),
        (3000, 1000, "21:9"),
        (1, 4096, "9:21"),
    ],
)
def test_sizes_map_to_the_nearest_aspect_ratio(width: int, height: int, ratio: str) -> None:
    assert aspect_ratio(width, height) == ratio
