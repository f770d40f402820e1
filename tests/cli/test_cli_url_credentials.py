"""Credentials inside a configured URL - a userinfo password, a key-like query parameter -
never reach the terminal: not in relay's messages, not in its log, not in the HTTP client's
own request lines, which relay's log forwards."""

from __future__ import annotations

import json

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain

from agent_relay.runtime.cli._logging import MASK, Redactor
from agent_relay.runtime.testing import FakeOpenAIServer

PASSWORD = "Pr0xyPassw0rd"
KEY = "qk4Z"  # short: a query parameter is masked whatever its length


@pytest.mark.parametrize("json_logs", [False, True], ids=["text-log", "json-log"])
def test_a_password_in_the_base_url_is_masked_everywhere(
    relay_main: RelayMain, portal: BlockingPortal, json_logs: bool
) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer(["no plan here"] * 3)) as server:
        url = server.base_url.replace("://", f"://proxyuser:{PASSWORD}@") + f"?key={KEY}"
        proc = relay_main(
            "run", "Write a note", "--base-url", url, "--log-level", "DEBUG",
            *(["--log-json"] if json_logs else []),
        )  # fmt: skip
    assert "HTTP Request: POST" in proc.stderr  # the HTTP client's own lines were on
    assert f"proxyuser:{MASK}@" in proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert PASSWORD not in stream and f"key={KEY}" not in stream
    if json_logs:
        for line in proc.stderr.splitlines():
            if line.startswith("{"):
                json.loads(line)  # still JSON lines


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("POST http://u:hunter2@h:8/v1/x", f"POST http://u:{MASK}@h:8/v1/x"),
        ("wss://user:p@h/", f"wss://user:{MASK}@h/"),
        ("https://h/v1?key=abc&model=m", f"https://h/v1?key={MASK}&model=m"),
        ("https://h/o?x-auth-token=abc#top", f"https://h/o?x-auth-token={MASK}#top"),
        ("https://h/b?se=1&sig=Zz9%2Fq&sp=r", f"https://h/b?se=1&sig={MASK}&sp=r"),
        ("'https://h/?access_token=t'", f"'https://h/?access_token={MASK}'"),
    ],
)
def test_url_credentials_are_masked(text: str, masked: str) -> None:
    assert Redactor()(text) == masked


@pytest.mark.parametrize(
    "text",
    ["mail me at a@b.example", "https://h/v1/chat?model=m&n=2", "x=1 y=2", "http://h:8/v1"],
)
def test_urls_without_credentials_are_left_alone(text: str) -> None:
    assert Redactor()(text) == text
