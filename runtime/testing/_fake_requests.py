"""What the fake server remembers about each request, and how scripted rules match one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._fake_script import ScriptItem

_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})

#: A function of the parsed request body that decides the answer.
Responder: TypeAlias = Callable[[dict[str, Any]], ScriptItem]
#: A rule's condition: a predicate on the request body, or a substring of its messages' text.
Match: TypeAlias = Callable[[dict[str, Any]], bool] | str


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers with lower-case names and credentials replaced, safe to keep and print."""
    return {
        name.lower(): ("<redacted>" if name.lower() in _SECRET_HEADERS else value)
        for name, value in headers.items()
    }


@dataclass(frozen=True)
class FakeRequest:
    """One request as the server received it. Credentials are redacted from ``headers``;
    ``json`` is the parsed body (``None`` when there was none or it was not JSON)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body when it is an object, else an empty dict."""
        return self.json if isinstance(self.json, dict) else {}

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


def conversation_text(body: dict[str, Any]) -> str:
    """The text of every message of a chat request (or every input item of a Responses
    request, tool outputs included), joined by newlines."""
    texts: list[str] = []
    messages = body.get("messages", body.get("input"))
    if isinstance(messages, str):
        messages = [{"content": messages}]
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        content = message.get("content", message.get("output"))
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
    return "\n".join(texts)


@dataclass
class FakeRule:
    """Answer ``reply`` to every chat request ``match`` accepts, ``times`` times or forever.

    A string ``match`` is a substring of the text of the request's messages (all roles)."""

    match: Match
    reply: ScriptItem | Responder
    times: int | None = None
    used: int = 0

    def accepts(self, body: dict[str, Any]) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if isinstance(self.match, str):
            return self.match in conversation_text(body)
        return bool(self.match(body))

    def answer(self, body: dict[str, Any]) -> ScriptItem:
        self.used += 1
        return self.reply(body) if callable(self.reply) else self.reply
