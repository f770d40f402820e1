"""The command line's settings: precedence of their sources, validation, the model they name,
and the README's table of them."""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.runtime import ModelConfigError, OpenAIChatModel, RuntimeSettings
from agent_relay.runtime.cli._config import (
    ConfigError,
    RelaySettings,
    env_name,
    load_settings,
    user_settings,
)
from agent_relay.runtime.cli._model import build_model
from agent_relay.runtime.cli._settings_views import settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def environ() -> Iterator[None]:
    """A scrubbed environment, restored afterwards (.env files write into it)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "RELAY_", "AZURE_")):
            del os.environ[name]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.usefixtures("environ")
def test_precedence_flags_env_dotenv_toml_defaults(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text('model = "openai:toml"\nmax_steps = 5\nreplan = true\n')
    assert load_settings({}, cwd=tmp_path).model == "openai:toml"
    (tmp_path / ".env").write_text("RELAY_MODEL=openai:dotenv\nRELAY_STEP_TIMEOUT=7\n")
    settings = load_settings({}, cwd=tmp_path)
    assert (settings.model, settings.step_timeout_s, settings.max_steps) == ("openai:dotenv", 7, 5)
    os.environ["RELAY_MODEL"] = "openai:env"
    assert load_settings({}, cwd=tmp_path).model == "openai:env"
    settings = load_settings({"model": "openai:flag", "max_steps": None}, cwd=tmp_path)
    assert settings.model == "openai:flag"
    assert settings.max_steps == 5  # a flag not given leaves the lower sources alone
    assert settings.concurrency == 4 and settings.workspace == Path("relay-workspace")


@pytest.mark.usefixtures("environ")
def test_dotenv_never_replaces_the_environment(tmp_path: Path) -> None:
    os.environ["OPENAI_API_KEY"] = "sk-from-the-environment"
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\nOTHER_TOKEN=abc\n")
    settings = load_settings({}, cwd=tmp_path)
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-from-the-environment"
    assert os.environ["OTHER_TOKEN"] == "abc"  # reaches what reads the environment itself
    assert "sk-from" not in repr(settings)


@pytest.mark.usefixtures("environ")
def test_settings_map_onto_the_runtime(tmp_path: Path) -> None:
    flags = {
        "step_timeout": 9.5,
        "task_timeout": 60.0,
        "max_steps": 4,
        "replan": True,
        "code_execution": False,
        "max_parallel_steps": 2,
    }
    runtime = load_settings(flags, cwd=tmp_path).runtime_settings()
    assert runtime == RuntimeSettings(
        step_timeout_s=9.5,
        task_timeout_s=60.0,
        max_steps=4,
        replan=True,
        allow_code_execution=False,
        max_parallel_steps=2,
        stream_deltas=True,  # the command streams; a Runtime made in Python does not, unasked
    )


@pytest.mark.usefixtures("environ")
@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ({"log_level": "LOUD"}, "log_level"),
        ({"image_backend": "crayons"}, "image_backend"),
        ({"concurrency": 0}, "concurrency"),
        ({"max_steps": 0}, "max_steps"),
        ({"task_timeout": -1.0}, "task_timeout"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, flags: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=f"bad setting {says}"):
        load_settings(flags, cwd=tmp_path)


@pytest.mark.usefixtures("environ")
def test_bad_value_from_the_environment_never_shows_the_value(tmp_path: Path) -> None:
    os.environ["RELAY_MAX_RETRIES"] = "sk-looks-like-a-secret"
    with pytest.raises(ConfigError) as caught:
        load_settings({}, cwd=tmp_path)
    assert "max_retries" in str(caught.value)
    assert "sk-looks" not in str(caught.value)


@pytest.mark.usefixtures("environ")
def test_config_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml not found"):
        load_settings({}, config_file=tmp_path / "nope.toml", cwd=tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("model = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, config_file=bad, cwd=tmp_path)
    keys = tmp_path / "keys.toml"
    keys.write_text('OPENAI_API_KEY = "sk-x"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({}, config_file=keys, cwd=tmp_path)
    given_file = tmp_path / "elsewhere.toml"
    given_file.write_text("concurrency = 12\n")
    assert load_settings({}, config_file=given_file, cwd=tmp_path).concurrency == 12


@given(
    level=st.sampled_from(["trace", "debug", "info", "success", "warning", "error", "critical"]),
    flips=st.lists(st.booleans(), min_size=8, max_size=8),
    pad=st.text(alphabet=" \t", max_size=3),
)
def test_log_levels_read_in_any_case(level: str, flips: list[bool], pad: str) -> None:
    mixed = "".join(c.upper() if flip else c for c, flip in zip(level, flips, strict=False))
    settings = RelaySettings(log_level=pad + mixed + level[len(flips) :] + pad)
    assert settings.log_level == level.upper()


@given(st.text(alphabet=string.ascii_letters, min_size=1, max_size=12))
def test_unknown_log_levels_are_refused(word: str) -> None:
    if word.upper() in {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"}:
        return
    with pytest.raises(ValueError, match="log_level"):
        RelaySettings(log_level=word)


@pytest.mark.usefixtures("environ")
def test_build_model_needs_a_key_or_a_base_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="relay demo"):
        build_model(load_settings({}, cwd=tmp_path))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_model(load_settings({"model": "openai:gpt-4.1"}, cwd=tmp_path))
    model = build_model(load_settings({"base_url": "http://127.0.0.1:9/v1"}, cwd=tmp_path))
    assert isinstance(model, OpenAIChatModel) and model.name == "openai:gpt-4.1-mini"
    local = build_model(load_settings({"model": "ollama:llama3.1"}, cwd=tmp_path))
    assert local.name == "ollama:llama3.1"
    with pytest.raises(ModelConfigError, match="http"):
        build_model(load_settings({"model": "openai:x", "base_url": "ftp://x"}, cwd=tmp_path))


def test_readme_documents_every_setting() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "## Configuration" in readme
    for key in user_settings():
        assert f"`{env_name(key)}`" in readme, key
    assert settings_table() in readme
