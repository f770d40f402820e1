"""Scripting the fake server: reply lists, rules, a responder, queued faults, the request log
and the pytest fixture - all driven through the real AsyncOpenAI client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from agent_relay.runtime.testing import (
    AuthFault,
    FakeOpenAIServer,
    FakeReply,
    RateLimitFault,
    ScriptItem,
    ServerErrorFault,
)

pytestmark = pytest.mark.anyio

KEY = "sk-test-scripting-0123456789"


@pytest.fixture
async def client(fake_openai_server: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        api_key=KEY, base_url=fake_openai_server.base_url, max_retries=0
    ) as client:
        yield client


async def ask(client: openai.AsyncOpenAI, text: str, system: str | None = None) -> str | None:
    messages: list[Any] = [{"role": "user", "content": text}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    reply = await client.chat.completions.create(model="gpt-4.1-mini", messages=messages)
    return reply.choices[0].message.content


async def test_fixture_serves_on_loopback(fake_openai_server: FakeOpenAIServer) -> None:
    assert fake_openai_server.base_url.startswith("http://127.0.0.1:")
    assert fake_openai_server.base_url.endswith("/v1")


async def test_replies_are_consumed_in_order(
    fake_openai_server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai_server.add_reply("first", FakeReply(text="second"))
    assert await ask(client, "a") == "first"
    assert await ask(client, "b") == "second"
    assert fake_openai_server.pending_replies == 0
    with pytest.raises(openai.BadRequestError, match="no reply is scripted"):
        await ask(client, "c")


async def test_rules_match_substrings_and_predicates(
    fake_openai_server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server = fake_openai_server
    server.add_rule("image agent", "I draw.")
    server.add_rule(lambda body: body["messages"][-1]["content"].endswith("?"), "A question!")
    once = server.add_rule("once", "only once", times=1)
    assert await ask(client, "paint a cat", system="You are the image agent.") == "I draw."
    assert await ask(client, "why?") == "A question!"
    assert await ask(client, "just once") == "only once"
    assert once.used == 1
    with pytest.raises(openai.BadRequestError):
        await ask(client, "just once")  # the rule is spent; nothing else matches


async def test_a_rule_can_compute_its_reply(
    fake_openai_server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai_server.add_rule("echo", lambda body: f"echo: {body['messages'][-1]['content']}")
    assert await ask(client, "echo me") == "echo: echo me"


async def test_replies_come_before_rules_and_rules_before_the_responder(
    fake_openai_server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server = fake_openai_server
    seen: list[str] = []

    def responder(body: dict[str, Any]) -> ScriptItem:
        seen.append(body["messages"][-1]["content"])
        return f"responder saw {len(seen)}"

    server.responder = responder
    server.add_rule("rule", "from the rule")
    server.add_reply("from the list")
    assert await ask(client, "rule") == "from the list"
    assert await ask(client, "rule") == "from the rule"
    assert await ask(client, "other") == "responder saw 1"
    assert seen == ["other"]


async def test_default_reply_answers_everything_left() -> None:
    async with (
        FakeOpenAIServer(default_reply="fallback") as server,
        openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url) as client,
    ):
        assert await ask(client, "x") == "fallback"
        assert await ask(client, "y") == "fallback"


async def test_fail_next_comes_before_the_script(
    fake_openai_server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server = fake_openai_server
    server.add_reply("finally")
    server.fail_next(ServerErrorFault(500), times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await ask(client, "x")
    assert await ask(client, "x") == "finally"


async def test_faults_can_sit_in_the_reply_list(
    fake_openai_server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai_server.add_reply(AuthFault(), RateLimitFault(retry_after=None), "ok")
    with pytest.raises(openai.AuthenticationError):
        await ask(client, "x")
    with pytest.raises(openai.RateLimitError):
        await ask(client, "x")
    assert await ask(client, "x") == "ok"


async def test_the_request_log_keeps_bodies_and_redacts_credentials(
    fake_openai_server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai_server.add_reply("ok")
    await ask(client, "hello", system="be kind")
    (request,) = fake_openai_server.requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gpt-4.1-mini"
    assert request.messages == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "hello"},
    ]
    assert request.stream is False
    assert request.headers["authorization"] == "<redacted>"
    assert KEY not in repr(request)
    assert request.headers["content-type"] == "application/json"


async def test_required_key_is_checked() -> None:
    async with FakeOpenAIServer(default_reply="in", require_api_key=KEY) as server:
        async with openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url) as good:
            assert await ask(good, "x") == "in"
        async with openai.AsyncOpenAI(
            api_key="sk-wrong-key-abcd", base_url=server.base_url, max_retries=0
        ) as bad:
            with pytest.raises(openai.AuthenticationError, match=r"\*\*\*\*abcd"):
                await ask(bad, "x")


async def test_server_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        FakeOpenAIServer(chunk_size=0)
    server = FakeOpenAIServer()
    with pytest.raises(RuntimeError, match="has not started"):
        _ = server.base_url
