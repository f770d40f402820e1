"""Topic grammar: validation with clear errors, and NATS-style matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.bus import (
    BusError,
    InvalidTopicError,
    topic_matches,
    validate_pattern,
    validate_topic,
)

TOKENS = st.sampled_from(["a", "b", "c", "task", "42"])
TOPICS = st.lists(TOKENS, min_size=1, max_size=6).map(".".join)
PATTERN_TOKENS = st.sampled_from(["a", "b", "c", "task", "42", "*"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(PATTERN_TOKENS, min_size=0, max_size=5))
    if not tokens or draw(st.booleans()):
        tokens.append(">" if draw(st.booleans()) else draw(PATTERN_TOKENS))
    return ".".join(tokens)


def reference_match(pattern: list[str], topic: list[str]) -> bool:
    """Obviously correct, one token at a time."""
    if not pattern:
        return not topic
    if pattern[0] == ">":
        return len(topic) >= 1
    if not topic:
        return False
    return pattern[0] in ("*", topic[0]) and reference_match(pattern[1:], topic[1:])


def reference_token_ok(token: str, *, wildcards: bool) -> bool:
    if wildcards and token in ("*", ">"):
        return True
    return bool(token) and not any(c.isspace() or not c.isprintable() or c in "*>" for c in token)


@given(patterns(), TOPICS)
def test_matching_agrees_with_a_reference_matcher(pattern: str, topic: str) -> None:
    assert topic_matches(pattern, topic) == reference_match(pattern.split("."), topic.split("."))


@given(TOPICS)
def test_a_topic_matches_itself_and_the_catch_all(topic: str) -> None:
    assert topic_matches(topic, topic)
    assert topic_matches(">", topic)
    assert topic_matches(".".join("*" for _ in topic.split(".")), topic)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a.*", "a.b", True),
        ("a.*", "a", False),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("*.b.>", "x.b.y", True),
        ("*", "a.b", False),
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
    ],
)
def test_matching_examples(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


CHARS = st.sampled_from(["a", "b", ".", "*", ">", " ", "\t", "\x00", "é", "_", "-"])


@given(st.text(CHARS, max_size=12))
def test_topic_validation_agrees_with_the_grammar(text: str) -> None:
    valid = bool(text) and all(reference_token_ok(t, wildcards=False) for t in text.split("."))
    if valid:
        assert validate_topic(text) == text
    else:
        with pytest.raises(InvalidTopicError) as info:
            validate_topic(text)
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("invalid topic")


@given(st.text(CHARS, max_size=12))
def test_pattern_validation_agrees_with_the_grammar(text: str) -> None:
    tokens = text.split(".")
    valid = (
        bool(text)
        and all(reference_token_ok(t, wildcards=True) for t in tokens)
        and ">" not in tokens[:-1]
    )
    if valid:
        assert validate_pattern(text) == text
    else:
        with pytest.raises(InvalidTopicError) as info:
            validate_pattern(text)
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("invalid pattern")


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("a..b", "invalid topic 'a..b': empty token at position 2"),
        (".a", "invalid topic '.a': empty token at position 1"),
        ("a.", "invalid topic 'a.': empty token at position 2"),
        ("", "invalid topic '': it is empty"),
        ("a.b c", "invalid topic 'a.b c': whitespace in token 'b c' at position 2"),
        ("a.*", "invalid topic 'a.*': wildcard '*' at position 2"),
        ("a.>", "invalid topic 'a.>': wildcard '>' at position 2"),
        ("a\x00", "invalid topic 'a\\x00': control character '\\x00' in token"),
    ],
)
def test_invalid_topics_say_what_is_wrong(topic: str, message: str) -> None:
    with pytest.raises(InvalidTopicError) as info:
        validate_topic(topic)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a.>.b", "invalid pattern 'a.>.b': '>' at position 2 must be the last token"),
        ("a.b*", "invalid pattern 'a.b*': wildcard '*' inside token 'b*' at position 2"),
        ("a.>x", "invalid pattern 'a.>x': wildcard '>' inside token '>x' at position 2"),
        ("a..*", "invalid pattern 'a..*': empty token at position 2"),
        ("", "invalid pattern '': it is empty"),
    ],
)
def test_invalid_patterns_say_what_is_wrong(pattern: str, message: str) -> None:
    with pytest.raises(InvalidTopicError) as info:
        validate_pattern(pattern)
    assert str(info.value).startswith(message)


def test_non_strings_are_rejected_clearly() -> None:
    with pytest.raises(InvalidTopicError, match="must be a str, not int"):
        validate_topic(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidTopicError, match="must be a str, not NoneType"):
        validate_pattern(None)  # type: ignore[arg-type]


def test_invalid_topic_error_is_a_bus_error_and_a_value_error() -> None:
    assert issubclass(InvalidTopicError, BusError)
    assert issubclass(InvalidTopicError, ValueError)


def test_topic_matches_validates_its_arguments() -> None:
    with pytest.raises(InvalidTopicError):
        topic_matches("a.>.b", "a.x.b")
    with pytest.raises(InvalidTopicError):
        topic_matches("a.*", "a.*")
