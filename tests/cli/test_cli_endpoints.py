"""Where a run's calls go: the image agent follows the model endpoint (never api.openai.com
because a key is exported), ``relay run`` says where the model and the images go before the
first step, and an endpoint without an images API fails the image step saying so and how to
choose another backend. Each runs ``relay`` in-process against ``FakeOpenAIServer``, whose
request log shows where the images went."""

from __future__ import annotations

import json

from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain

from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, Quirk

EXPORTED_KEY = "sk-exported-openai-key"
IMAGE_PLAN = json.dumps(
    {"plan": [{"id": "s1", "agent": "image", "prompt": "Draw a fox", "depends_on": []}]}
)


def _draw_script() -> list[FakeReply | str]:
    draw = FakeToolCall("generate_image", {"prompt": "a fox", "size": "256x256"})
    return [IMAGE_PLAN, FakeReply(tool_calls=[draw]), "Drew the fox."]


def _image_requests(server: FakeOpenAIServer) -> list[str]:
    return [r.path for r in server.requests if r.path.endswith("/images/generations")]


def test_images_follow_the_base_url_flag_not_the_exported_key(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    """The README's own example: OPENAI_API_KEY exported, --base-url at a local server. The
    images go to the local server, and the plain view says so before the first step."""
    with portal.wrap_async_context_manager(FakeOpenAIServer(_draw_script())) as server:
        proc = relay_main(
            "run", "Draw a fox", "--model", "openai:local-model", "--base-url", server.base_url,
            env={"OPENAI_API_KEY": EXPORTED_KEY},
        )  # fmt: skip
        images = _image_requests(server)
        host = server.url.removeprefix("http://")
    assert proc.returncode == 0, proc.stderr
    assert images == ["/v1/images/generations"]  # the one image went to the local server
    lines = proc.stdout.splitlines()
    assert lines[0] == f"model: openai:local-model at {host}"
    assert lines[1].startswith(f"images: openai (gpt-image-1) at {host} (")
    first_step = next(i for i, line in enumerate(lines) if line.startswith("s1 image:"))
    assert first_step > 1
    assert "api.openai.com" not in proc.stdout + proc.stderr
    assert EXPORTED_KEY not in proc.stdout + proc.stderr


def test_json_output_stays_pure_json(relay_main: RelayMain, portal: BlockingPortal) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(_draw_script())) as server:
        proc = relay_main("run", "Draw a fox", "--json", "--base-url", server.base_url)
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))  # nothing else on stdout
    assert [a.metadata["backend"] for a in result.artifacts] == ["openai"]
    assert "images:" not in proc.stderr


def test_a_chosen_offline_backend_is_said_and_no_image_is_requested(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(_draw_script())) as server:
        proc = relay_main(
            "run", "Draw a fox", "--base-url", server.base_url, "--image-backend", "offline"
        )
        images = _image_requests(server)
    assert proc.returncode == 0, proc.stderr
    assert images == []
    assert "images: offline placeholders (as chosen)" in proc.stdout.splitlines()


def test_an_endpoint_without_an_images_api_says_so_and_how_to_choose(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    fake = FakeOpenAIServer(
        [*_draw_script()[:2], "I could not draw it."], quirks=[Quirk.NO_IMAGES_API]
    )
    with portal.wrap_async_context_manager(fake) as server:
        proc = relay_main("run", "Draw a fox", "--json", "--base-url", server.base_url)
        images = _image_requests(server)
        host = server.url.removeprefix("http://")
    assert proc.returncode == 1, proc.stderr
    assert images == ["/v1/images/generations"]
    result = TaskResult.model_validate(json.loads(proc.stdout))
    assert result.status == "failed"
    error = result.steps[0].error or ""
    assert f"the endpoint at {host} has no images API (HTTP 404" in error
    assert "--image-backend offline|openai|replicate" in error
    assert result.artifacts == []  # nothing claims an image was made


def test_image_backend_openai_without_an_openai_endpoint_is_a_config_error(
    relay_main: RelayMain,
) -> None:
    proc = relay_main(
        "run", "Draw a fox", "--model", "ollama:llama3.1", "--image-backend", "openai"
    )
    assert proc.returncode == 2
    assert "--image-backend openai needs an OpenAI endpoint" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
