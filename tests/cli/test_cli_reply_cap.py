"""``relay run`` against an endpoint whose reply never ends: the task fails with one line
naming the cap (the ``max_reply_bytes`` setting), the call is not retried, and a cap too small
for any reply is refused as a usage error."""

from __future__ import annotations

import json

from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error

from agent_relay.runtime.testing import FakeOpenAIServer, FloodFault

MiB = 1 << 20


def test_an_endless_plan_fails_the_task_at_the_cap(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    flood = FloodFault(total_bytes=50 * MiB)
    with portal.wrap_async_context_manager(FakeOpenAIServer([flood] * 3)) as server:
        proc = relay_main(
            "run", "Plan forever", "--json", "--base-url", server.base_url,
            "--max-reply-bytes", str(MiB), "--max-retries", "2",
        )  # fmt: skip
        asked = len(server.chat_requests)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "failed"
    assert "passed the 1 MiB cap for one reply" in result["error"]
    assert "passed the 1 MiB cap for one reply" in proc.stderr
    assert asked == 1  # not retried
    assert flood.sent < 20 * MiB


def test_a_cap_too_small_is_a_usage_error(relay_main: RelayMain) -> None:
    proc = relay_main("run", "x", "--base-url", "http://127.0.0.1:1/v1", "--max-reply-bytes", "10")
    assert "max_reply_bytes" in assert_one_line_error(proc)
