"""The text of a model's reply, made safe and kept apart from its reasoning.

Providers put an assistant's words in several shapes: a string; a list of content parts
(``{"type": "text", "text": ...}``, and Mistral's ``{"type": "thinking", "thinking": [...]}``);
reasoning in its own field (``reasoning_content``, ``reasoning``, ``reasoning_details``); or
reasoning inline in the text as ``<think>...</think>``. Every reader of a reply goes through
here, so the answer is never taken from inside reasoning and no text reaches relay that cannot
be encoded (a lone UTF-16 surrogate, half an emoji, is replaced by U+FFFD).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

#: Message fields in which providers send reasoning, in order of preference.
REASONING_FIELDS = ("reasoning_content", "reasoning", "reasoning_details")

_SURROGATE = re.compile("[\ud800-\udfff]")
_OPEN_TAGS = ("<think>", "<thinking>")
_CLOSE_TAGS = {"<think>": "</think>", "<thinking>": "</thinking>"}


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it always encodes as UTF-8.

    (``json.loads`` pairs escaped surrogates that belong together; one left alone is half an
    emoji cut off by a token limit or a bad tokenizer.)"""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def clean_value(value: Any) -> Any:
    """A parsed JSON value with every string in it cleaned (see ``clean_text``): what relay
    keeps of a reply as the provider shaped it must still serialize."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(item) for item in value]
    return value


def as_text(value: Any) -> str:
    """A string field as clean text; ``None`` and non-strings read as ``""``."""
    return clean_text(value) if isinstance(value, str) else ""


def content_parts(content: Any) -> tuple[str, str]:
    """(text, reasoning) of a ``content`` field: a string, a list of parts, or one part."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return clean_text(content), ""
    parts = [content] if isinstance(content, Mapping) else content
    if not isinstance(parts, list):
        return "", ""
    text: list[str] = []
    reasoning: list[str] = []
    for part in parts:
        if isinstance(part, str):
            text.append(clean_text(part))
        elif isinstance(part, Mapping):
            kind = part.get("type")
            if kind in ("thinking", "reasoning"):
                reasoning.append(_nested_text(part.get(kind) or part.get("text")))
            elif kind in (None, "text", "output_text"):
                text.append(as_text(part.get("text")))
    return "".join(text), "".join(reasoning)


def reasoning_field(message: Mapping[str, Any]) -> tuple[str, str]:
    """(field name, text) of the first reasoning field a message or delta carries."""
    for name in REASONING_FIELDS:
        value = message.get(name)
        if value:
            return name, _nested_text(value)
    return "", ""


def _nested_text(value: Any) -> str:
    """Text inside a reasoning value: a string, or parts with ``text``/``summary`` fields."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return as_text(value.get("text")) or as_text(value.get("summary"))
    if isinstance(value, list):
        return "".join(_nested_text(item) for item in value)
    return ""


def arguments_text(arguments: Any) -> str:
    """A tool call's arguments as JSON text: kept as sent when a string, serialized when a
    server sent them as a JSON object, ``""`` when absent."""
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return clean_text(arguments)
    return clean_text(json.dumps(arguments, ensure_ascii=False))


class ThinkSplitter:
    """Takes ``<think>...</think>`` (or ``<thinking>``) blocks out of text that arrives in
    pieces, so a tag cut between two stream chunks is still recognised.

    ``feed`` returns the (text, reasoning) that is certain so far; ``finish`` returns what was
    held back. An unclosed block at the end is reasoning: a model that stopped while thinking
    gave no answer.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._close: str | None = None  # the closing tag while inside a block

    def feed(self, piece: str) -> tuple[str, str]:
        text: list[str] = []
        reasoning: list[str] = []
        buffer = self._pending + piece
        self._pending = ""
        while buffer:
            if self._close is not None:
                end = buffer.find(self._close)
                if end < 0:
                    keep = _partial_suffix(buffer, (self._close,))
                    reasoning.append(buffer[: len(buffer) - keep])
                    self._pending = buffer[len(buffer) - keep :]
                    break
                reasoning.append(buffer[:end])
                buffer = buffer[end + len(self._close) :]
                self._close = None
                continue
            start, tag = _first_tag(buffer)
            if tag is None:
                keep = _partial_suffix(buffer, _OPEN_TAGS)
                text.append(buffer[: len(buffer) - keep])
                self._pending = buffer[len(buffer) - keep :]
                break
            text.append(buffer[:start])
            buffer = buffer[start + len(tag) :]
            self._close = _CLOSE_TAGS[tag]
        return "".join(text), "".join(reasoning)

    def finish(self) -> tuple[str, str]:
        pending, self._pending = self._pending, ""
        if self._close is not None:
            return "", pending
        return pending, ""


def split_think(text: str) -> tuple[str, str]:
    """(text, reasoning) of a whole text with ``<think>`` blocks in it."""
    if "<think" not in text:
        return text, ""
    splitter = ThinkSplitter()
    text_a, reasoning_a = splitter.feed(text)
    text_b, reasoning_b = splitter.finish()
    return text_a + text_b, reasoning_a + reasoning_b


def _first_tag(buffer: str) -> tuple[int, str | None]:
    found = [(buffer.find(tag), tag) for tag in _OPEN_TAGS]
    hits = [(at, tag) for at, tag in found if at >= 0]
    return min(hits) if hits else (-1, None)


def _partial_suffix(buffer: str, tags: tuple[str, ...]) -> int:
    """How many characters at the end of ``buffer`` could be the start of one of ``tags``."""
    for size in range(min(len(buffer), max(len(t) for t in tags) - 1), 0, -1):
        tail = buffer[-size:]
        if any(tag.startswith(tail) for tag in tags):
            return size
    return 0
