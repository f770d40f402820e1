"""A model reply has a size cap: an endless stream, an endless SSE line or an endless JSON
body ends the call with a clear ``ModelServerError`` once the cap is passed - not retried, and
without reading (or holding) the rest: the server counts what the client took."""

from __future__ import annotations

from typing import Literal

import pytest
from model_helpers import MODES, Mode, ask, model_for

from agent_relay.runtime import ModelConfigError, ModelServerError, OpenAIChatModel
from agent_relay.runtime.testing import FakeOpenAIServer, FloodFault

MiB = 1 << 20


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", ["chunks", "line", "json"])
async def test_an_endless_reply_stops_at_the_cap(
    mode: Mode, shape: Literal["chunks", "line", "json"]
) -> None:
    flood = FloodFault(total_bytes=50 * MiB, shape=shape)
    async with (
        FakeOpenAIServer([flood, flood, flood]) as server,
        model_for(server, max_reply_bytes=1 * MiB, max_retries=2) as model,
    ):
        with pytest.raises(ModelServerError) as caught:
            await ask(model, mode)
    message = str(caught.value)
    assert f"the reply from {model.host} passed the 1 MiB cap for one reply" in message
    assert "max_reply_bytes" in message
    assert not caught.value.retryable and len(server.chat_requests) == 1  # not retried
    # The client hung up soon after the cap: what it took is the cap plus what the socket
    # buffers held, far from the 50 MiB the server had to send.
    assert MiB < flood.sent < 20 * MiB


@pytest.mark.parametrize("mode", MODES)
async def test_a_reply_under_the_cap_is_read_whole(mode: Mode) -> None:
    text = "word " * 20_000  # 100 kB, across many chunks
    async with (
        FakeOpenAIServer([text], chunk_size=500) as server,
        model_for(server, max_reply_bytes=1 * MiB) as model,
    ):
        reply = await ask(model, mode)
    assert reply.message.text == text


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ModelConfigError, match="max_reply_bytes"):
        OpenAIChatModel("m", base_url="http://127.0.0.1:1/v1", max_reply_bytes=0)
