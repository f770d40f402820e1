"""An endpoint that hangs, through the real entry point: the wait is shown while it lasts,
with its bound (attempts × request timeout), and the final error says the same bound."""

from __future__ import annotations

from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error

from agent_relay.runtime.testing import FakeOpenAIServer, SlowFault


def test_a_hanging_endpoint_says_how_long_relay_waits(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    slow = SlowFault(delay=2)
    with portal.wrap_async_context_manager(FakeOpenAIServer([slow, slow])) as server:
        proc = relay_main(
            "run", "Write a note", "--base-url", server.base_url,
            "--request-timeout", "0.3", "--max-retries", "1",
        )  # fmt: skip
    line = assert_one_line_error(proc, code=1)
    assert "did not answer within 0.3s" in line and "up to 2 × 0.3 s in all" in line
    assert "gave up after 2 attempts" in line
    # the plain view said so while it waited, once per retry
    waiting = [s for s in proc.stdout.splitlines() if s.startswith("planning: waiting")]
    assert len(waiting) == 1, proc.stdout
    assert "(attempt 2 of 2, " in waiting[0] and "up to 2 × 0.3 s)" in waiting[0]
