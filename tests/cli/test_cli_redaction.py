"""The redactor that guards the command line's logs and error lines."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.runtime.cli._logging import MASK, Redactor

_TOKEN_CHARS = string.ascii_letters + string.digits + "_-"


@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    body=st.text(alphabet=_TOKEN_CHARS, min_size=6, max_size=60),
)
def test_openai_style_keys_are_masked_anywhere(before: str, after: str, body: str) -> None:
    key = "sk-" + body
    masked = Redactor()(f"{before} {key} {after}")
    assert key not in masked


@given(
    secret=st.text(alphabet=string.printable.strip().replace("*", ""), min_size=6, max_size=40),
    text=st.text(max_size=80),
)
def test_configured_secrets_are_masked(secret: str, text: str) -> None:
    redact = Redactor([secret])
    out = redact(text + secret + text)
    assert secret not in out
    assert MASK in out


def test_secrets_from_the_environment_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok_0123456789")
    monkeypatch.setenv("OPENAI_API_KEY", "not-prefixed-key-value")
    redact = Redactor()
    out = redact("token tok_0123456789 and key not-prefixed-key-value")
    assert "tok_0123456789" not in out and "not-prefixed-key-value" not in out


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def-123456",
        "api_key=abcdef123456",
        "{'api_key': 'abcdef123456'}",
        '{"api_key": "abcdef123456"}',
        "token r8_abcdefghijklmnop",
    ],
)
def test_secret_shapes_are_masked(text: str) -> None:
    out = Redactor()(text)
    assert "abcdef123456" not in out and "abc.def-123456" not in out
    assert "r8_abcdefghijklmnop" not in out


def test_ordinary_text_is_left_alone() -> None:
    text = "step s1 (image) saved sunset.png in 0.4s; the task-skeleton plan has 3 steps"
    assert Redactor()(text) == text
