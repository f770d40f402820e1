"""Model strings: the parser (property-based), the provider defaults and the environment."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.runtime import (
    ChatMessage,
    ChatModel,
    ModelConfigError,
    ModelSpec,
    OpenAIChatModel,
    model_from_string,
    parse_model_string,
    register_provider,
)
from agent_relay.runtime.models import _model_string
from agent_relay.runtime.models._openai_clients import PLACEHOLDER_API_KEY
from agent_relay.runtime.testing import FakeOpenAIServer

pytestmark = pytest.mark.anyio

ENV_VARS = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENROUTER_API_KEY",
    "VLLM_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "OPENAI_API_VERSION",
]
BUILT_IN = ["azure", "llamacpp", "lmstudio", "ollama", "openai", "openrouter", "vllm"]
# Printable, no whitespace: letters, digits, punctuation (incl. ':' and '/'), symbols.
model_names = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=40
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


# -- the parser -----------------------------------------------------------------------------


@given(provider=st.sampled_from(BUILT_IN), model=model_names)
def test_any_known_provider_and_model_parse(provider: str, model: str) -> None:
    spec = parse_model_string(f"{provider}:{model}")
    assert spec == ModelSpec(provider=provider, model=model)
    assert parse_model_string(str(spec)) == spec


@given(model=model_names.filter(lambda m: ":" not in m))
def test_a_bare_model_means_openai(model: str) -> None:
    assert parse_model_string(model) == ModelSpec(provider="openai", model=model)


@given(provider=st.sampled_from(BUILT_IN), model=model_names)
def test_provider_case_and_surrounding_space_do_not_matter(provider: str, model: str) -> None:
    spec = parse_model_string(f"  {provider.upper()}:{model}\n")
    assert spec == ModelSpec(provider=provider, model=model)


@given(
    provider=st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True).filter(
        lambda p: p not in _model_string.PROVIDERS and p != "ft"
    ),
    model=model_names,
)
def test_unknown_providers_are_config_errors(provider: str, model: str) -> None:
    with pytest.raises(ModelConfigError, match="unknown model provider") as caught:
        parse_model_string(f"{provider}:{model}")
    assert "ollama, openai, openrouter" in str(caught.value)


@given(
    provider=st.sampled_from(BUILT_IN),
    before=model_names,
    space=st.sampled_from([" ", "\t", "\n", "\u00a0", "\x00", "\x7f"]),
    after=model_names,
)
def test_models_with_space_or_control_characters_are_config_errors(
    provider: str, before: str, space: str, after: str
) -> None:
    with pytest.raises(ModelConfigError, match="names no valid model"):
        parse_model_string(f"{provider}:{before}{space}{after}")


@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_config_error(text: str) -> None:
    try:
        spec = parse_model_string(text)
    except ModelConfigError as exc:
        error: ModelConfigError | None = exc
    else:
        error = None
        assert spec.provider in _model_string.PROVIDERS
        assert spec.model
    assert error is None or "\n" not in str(error)


@pytest.mark.parametrize("spec", ["", "   ", "openai:", "ollama:", ":gpt-4.1"])
def test_empty_parts_are_config_errors(spec: str) -> None:
    with pytest.raises(ModelConfigError):
        parse_model_string(spec)


def test_colons_after_the_provider_belong_to_the_model() -> None:
    assert parse_model_string("ollama:llama3.1:8b") == ModelSpec(
        provider="ollama", model="llama3.1:8b"
    )
    fine_tuned = "ft:gpt-4o-mini-2024-07-18:acme::abc123"
    assert parse_model_string(fine_tuned) == ModelSpec(provider="openai", model=fine_tuned)
    assert parse_model_string("openrouter:anthropic/claude-sonnet-4").model == (
        "anthropic/claude-sonnet-4"
    )


def test_a_very_long_bad_string_is_shortened_in_the_message() -> None:
    with pytest.raises(ModelConfigError) as caught:
        parse_model_string("nope:" + "m" * 5000)
    assert len(str(caught.value)) < 300


# -- building models and the environment ----------------------------------------------------


def test_no_key_and_no_base_url_is_a_config_error() -> None:
    with pytest.raises(ModelConfigError) as caught:
        model_from_string("gpt-4.1-mini")
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message
    assert "base URL" in message
    assert "\n" not in message


async def test_openai_key_and_base_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sk-env-key-0123456789"
    async with FakeOpenAIServer(["from env"], require_api_key=key) as server:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        async with model_from_string("openai:gpt-4.1-mini", max_retries=0) as model:
            response = await model.complete([ChatMessage.user("hi")])
    assert response.message.text == "from env"
    assert model.name == "openai:gpt-4.1-mini"


async def test_a_base_url_alone_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeOpenAIServer(["keyless"], require_api_key=PLACEHOLDER_API_KEY) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        async with model_from_string("gpt-4.1-mini", max_retries=0) as model:
            assert (await model.complete([ChatMessage.user("hi")])).message.text == "keyless"


async def test_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeOpenAIServer(["args"], require_api_key="sk-argument-key-000") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-environment-key-000")
        monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        model = model_from_string(
            "openai:m", base_url=server.base_url, api_key="sk-argument-key-000", max_retries=0
        )
        async with model:
            assert (await model.complete([ChatMessage.user("hi")])).message.text == "args"


@pytest.mark.parametrize(
    ("provider", "host"),
    [("ollama", "localhost:11434"), ("lmstudio", "localhost:1234"), ("llamacpp", "localhost:8080")],
)
async def test_local_servers_have_default_urls_and_never_get_the_openai_key(
    monkeypatch: pytest.MonkeyPatch, provider: str, host: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-000")
    default = model_from_string(f"{provider}:llama3.1:8b")
    assert isinstance(default, OpenAIChatModel)
    assert default.host == host
    assert default.name == f"{provider}:llama3.1:8b"
    assert default.max_tokens_param == "max_tokens"
    await default.aclose()
    async with FakeOpenAIServer(["local"], require_api_key=PLACEHOLDER_API_KEY) as server:
        async with model_from_string(
            f"{provider}:llama3.1:8b", base_url=server.base_url, max_retries=0
        ) as model:
            assert (await model.complete([ChatMessage.user("hi")])).message.text == "local"
        assert server.chat_requests[0].body["model"] == "llama3.1:8b"


async def test_vllm_takes_its_key_from_vllm_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    default = model_from_string("vllm:Qwen/Qwen2.5-7B-Instruct")
    assert isinstance(default, OpenAIChatModel)
    assert default.host == "localhost:8000"
    await default.aclose()
    async with FakeOpenAIServer(["served"], require_api_key="vllm-secret-token") as server:
        monkeypatch.setenv("VLLM_API_KEY", "vllm-secret-token")
        async with model_from_string(
            "vllm:Qwen/Qwen2.5-7B-Instruct", base_url=server.base_url, max_retries=0
        ) as model:
            assert (await model.complete([ChatMessage.user("hi")])).message.text == "served"


async def test_openrouter_needs_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-000")
    with pytest.raises(ModelConfigError, match="OPENROUTER_API_KEY"):
        model_from_string("openrouter:anthropic/claude-sonnet-4")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test-000000")
    default = model_from_string("openrouter:anthropic/claude-sonnet-4")
    assert isinstance(default, OpenAIChatModel)
    assert default.host == "openrouter.ai"
    await default.aclose()
    async with (
        FakeOpenAIServer(["routed"], require_api_key="sk-or-test-000000") as server,
        model_from_string(
            "openrouter:anthropic/claude-sonnet-4", base_url=server.base_url, max_retries=0
        ) as model,
    ):
        assert (await model.complete([ChatMessage.user("hi")])).message.text == "routed"


async def test_azure_comes_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelConfigError, match="AZURE_OPENAI_ENDPOINT"):
        model_from_string("azure:my-deploy")
    async with FakeOpenAIServer(["azure"], require_api_key="azure-key-0123456") as server:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
        with pytest.raises(ModelConfigError, match="AZURE_OPENAI_API_KEY"):
            model_from_string("azure:my-deploy")
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456")
        monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
        async with model_from_string("azure:my-deploy", max_retries=0) as model:
            assert (await model.complete([ChatMessage.user("hi")])).message.text == "azure"
        assert model.name == "azure:my-deploy"
        request = server.chat_requests[0]
    assert request.path == "/openai/deployments/my-deploy/chat/completions"
    assert request.query == {"api-version": "2025-01-01-preview"}


def test_a_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(ModelConfigError, match="http:// or https://"):
        model_from_string("ollama:llama3", base_url="ftp://user:pw@host/v1")


async def test_options_reach_the_model() -> None:
    model = model_from_string(
        "ollama:llama3", timeout=3.0, max_concurrency=4, supports_structured_output=False
    )
    assert isinstance(model, OpenAIChatModel)
    assert model.timeout == 3.0
    assert model.limiter.total_tokens == 4
    assert model.supports_structured_output is False
    await model.aclose()


async def test_other_modules_can_register_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_model_string, "PROVIDERS", dict(_model_string.PROVIDERS))
    built: list[tuple[str, Any]] = []

    def echo_factory(
        model: str, *, base_url: str | None, api_key: str | None, **options: Any
    ) -> ChatModel:
        built.append((model, options))
        return OpenAIChatModel(model, base_url="http://127.0.0.1:9/v1", name=f"echo:{model}")

    register_provider("echo", echo_factory)
    model = model_from_string("echo:anything", max_retries=0)
    assert model.name == "echo:anything"
    assert built == [("anything", {"max_retries": 0})]
    assert parse_model_string("echo:x") == ModelSpec(provider="echo", model="x")
    with pytest.raises(ValueError, match="already registered"):
        register_provider("echo", echo_factory)
    register_provider("echo", echo_factory, replace=True)
    with pytest.raises(ValueError, match="lower-case"):
        register_provider("Bad Name", echo_factory)
    await model.aclose()
