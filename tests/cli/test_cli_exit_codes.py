"""Exit codes through the real entry point: 2 for what only the user's setup can fix (a refused
key, an account without credit, an unknown model, a workspace that cannot be made), 1 for a
task that failed on its own, each said in one line; the result records the error's kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error, clean_env, relay

from agent_relay.runtime import TaskResult
from agent_relay.runtime.testing import (
    AuthFault,
    FakeOpenAIServer,
    Fault,
    ProviderErrorFault,
    ServerErrorFault,
)

SECRET = "sk-test-secret-for-exit-codes"


def _run_against(
    relay_main: RelayMain, portal: BlockingPortal, fault: Fault, *, code: int = 2
) -> tuple[str, TaskResult]:
    with portal.wrap_async_context_manager(FakeOpenAIServer([fault])) as server:
        proc = relay_main(
            "run", "Write a note", "--json", "--model", "openai:gpt-x",
            "--base-url", server.base_url, "--max-retries", "0",
            env={"OPENAI_API_KEY": SECRET},
        )  # fmt: skip
    result = TaskResult.model_validate(json.loads(proc.stdout))
    assert SECRET not in proc.stdout + proc.stderr
    return assert_one_line_error(proc, code=code), result


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_exit_2(
    relay_main: RelayMain, portal: BlockingPortal, status: int
) -> None:
    line, result = _run_against(relay_main, portal, AuthFault(status=status))
    assert result.status == "failed" and result.error_kind == "ModelAuthenticationError"
    assert "refused the credentials" in line and f"HTTP {status}" in line
    assert "check the API key" in line


def test_an_account_without_credit_exits_2(relay_main: RelayMain, portal: BlockingPortal) -> None:
    body = {"error": {"message": "You exceeded your quota.", "code": "insufficient_quota"}}
    line, result = _run_against(relay_main, portal, ProviderErrorFault(429, body))
    assert result.error_kind == "ModelQuotaError"
    assert "no quota left" in line


def test_an_unknown_model_exits_2(relay_main: RelayMain, portal: BlockingPortal) -> None:
    body = {
        "error": {
            "message": "The model `gpt-x` does not exist.",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
    }
    line, result = _run_against(relay_main, portal, ProviderErrorFault(404, body))
    assert result.error_kind == "ModelNotFoundError"
    assert "does not know this model" in line and "model_not_found" in line


def test_a_server_error_is_a_failed_task_exit_1(
    relay_main: RelayMain, portal: BlockingPortal
) -> None:
    # Not the user's setup: another try later may work.
    line, result = _run_against(relay_main, portal, ServerErrorFault(), code=1)
    assert result.error_kind == "ModelServerError"
    assert "the task failed" in line


@pytest.mark.parametrize("where", ["taken", "taken/below"])
def test_a_workspace_that_cannot_be_made_exits_2_with_path_and_reason(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path, where: str
) -> None:
    (tmp_path / "taken").write_text("a file where the workspace should go")
    with portal.wrap_async_context_manager(FakeOpenAIServer(["never asked"])) as server:
        url = server.base_url
        proc = relay_main("run", "Write a note", "--base-url", url, "--workspace", where)
        assert server.chat_requests == []  # said before any model call
    line = assert_one_line_error(proc)
    assert f"cannot use the workspace {tmp_path / where}" in line
    assert ("File exists" if where == "taken" else "Not a directory") in line
    assert "bug in relay" not in line
    assert (tmp_path / "taken").read_text() == "a file where the workspace should go"


def test_the_executable_exits_2_for_a_refused_key(tmp_path: Path, portal: BlockingPortal) -> None:
    with portal.wrap_async_context_manager(FakeOpenAIServer([AuthFault()])) as server:
        proc = relay(
            "run", "Write a note", "--base-url", server.base_url, "--max-retries", "0",
            cwd=tmp_path, env=clean_env(OPENAI_API_KEY=SECRET),
        )  # fmt: skip
    line = assert_one_line_error(proc, code=2)
    assert "refused the credentials" in line and SECRET not in proc.stdout + proc.stderr
