"""The topic grammar, with the semantics of NATS subjects.

A topic is dot-separated tokens, e.g. ``task.42.step.a.completed``. Tokens are non-empty and
hold no whitespace or control characters. A subscription pattern may use two wildcards, each
as a whole token: ``*`` matches exactly one token and ``>`` matches one or more trailing
tokens (so it may only be the last token). Concrete topics (what events are published on)
never contain wildcard characters.
"""

from __future__ import annotations

from ._errors import InvalidTopicError

_WILDCARD_CHARS = ("*", ">")


def _token_problem(token: str) -> str | None:
    """Say what is wrong with one token apart from wildcards, or None when it is fine."""
    if not token:
        return "empty token"
    for char in token:
        if char.isspace():
            return f"whitespace in token {token!r}"
        if not char.isprintable():
            return f"control character {char!r} in token {token!r}"
    return None


def _check_is_str(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTopicError(
            f"invalid {kind} {value!r}: must be a str, not {type(value).__name__}"
        )
    if not value:
        raise InvalidTopicError(f"invalid {kind} '': it is empty")
    return value


def validate_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid concrete topic.

    Raises:
        InvalidTopicError: ``topic`` is not a str, is empty, has an empty token, a wildcard,
            whitespace or a character that is not printable.
    """
    # Every event checks its topic and most topics carry ids, so the valid case is decided
    # in C string methods; the loop below only runs to say what is wrong. A printable string
    # without a space holds no whitespace at all (every other whitespace character is
    # unprintable), and no empty token means no leading, trailing or doubled dot.
    if (
        type(topic) is str
        and topic.isprintable()
        and topic
        and " " not in topic
        and "*" not in topic
        and ">" not in topic
        and ".." not in topic
        and topic[0] != "."
        and topic[-1] != "."
    ):
        return topic
    _check_is_str("topic", topic)
    for position, token in enumerate(topic.split("."), start=1):
        problem = _token_problem(token)
        if problem is not None:
            raise InvalidTopicError(f"invalid topic {topic!r}: {problem} at position {position}")
        for wildcard in _WILDCARD_CHARS:
            if wildcard in token:
                raise InvalidTopicError(
                    f"invalid topic {topic!r}: wildcard {wildcard!r} at position {position}"
                    " (wildcards are only allowed in subscription patterns)"
                )
    return topic


def validate_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid subscription pattern.

    Raises:
        InvalidTopicError: ``pattern`` breaks the grammar (as for :func:`validate_topic`, and
            ``*`` / ``>`` only as whole tokens, ``>`` only last).
    """
    _check_is_str("pattern", pattern)
    tokens = pattern.split(".")
    for position, token in enumerate(tokens, start=1):
        problem = _token_problem(token)
        if problem is not None:
            raise InvalidTopicError(
                f"invalid pattern {pattern!r}: {problem} at position {position}"
            )
        if token == ">" and position != len(tokens):
            raise InvalidTopicError(
                f"invalid pattern {pattern!r}: '>' at position {position} must be the last token"
            )
        if token not in _WILDCARD_CHARS:
            for wildcard in _WILDCARD_CHARS:
                if wildcard in token:
                    raise InvalidTopicError(
                        f"invalid pattern {pattern!r}: wildcard {wildcard!r} inside token"
                        f" {token!r} at position {position} (a wildcard must be a whole token)"
                    )
    return pattern


def is_wildcard_pattern(pattern: str) -> bool:
    """Whether a (valid) pattern uses a wildcard, i.e. can match more than one topic."""
    return any(token in _WILDCARD_CHARS for token in pattern.split("."))


def tokens_match(pattern_tokens: tuple[str, ...], topic_tokens: list[str]) -> bool:
    """Match pre-split tokens of a valid pattern against those of a valid topic."""
    count = len(pattern_tokens)
    if pattern_tokens[-1] == ">":
        count -= 1
        if len(topic_tokens) <= count:
            return False
    elif len(topic_tokens) != count:
        return False
    for index in range(count):
        token = pattern_tokens[index]
        if token != "*" and token != topic_tokens[index]:
            return False
    return True


def topic_matches(pattern: str, topic: str) -> bool:
    """Whether the subscription ``pattern`` matches the concrete ``topic``.

    Raises:
        InvalidTopicError: ``pattern`` or ``topic`` is malformed (both are validated first).
    """
    validate_pattern(pattern)
    validate_topic(topic)
    return tokens_match(tuple(pattern.split(".")), topic.split("."))
