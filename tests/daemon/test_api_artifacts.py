"""A run's files over real HTTP, confined to its own directory: no way out by ``..``, by an
absolute path, by encoding or by a symlink planted in the run's directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from api_helpers import Api, error_of, running_api
from yarl import URL

pytestmark = pytest.mark.anyio


async def finished_run(api: Api) -> str:
    run_id = await api.create(
        {
            "task": "Draw a sunset over mountains and make a web page that shows it",
            "inputs": [{"name": "notes.txt", "content_base64": "aGVsbG8="}],
        }
    )
    assert (await api.finished(run_id))["status"] == "completed"
    return run_id


async def test_a_runs_files_are_served_with_safe_headers(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        run_id = await finished_run(api)
        async with api.http.get(f"/v1/runs/{run_id}/artifacts/index.html") as reply:
            assert reply.status == 200
            assert await reply.read() == (api.workspace / run_id / "index.html").read_bytes()
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in reply.headers["Content-Security-Policy"]
        async with api.http.get(f"/v1/runs/{run_id}/artifacts/notes.txt") as reply:
            assert (reply.status, await reply.read()) == (200, b"hello")


@pytest.mark.parametrize(
    "path",
    [
        "missing.txt",
        "..%2F..%2Fruns.sqlite3",
        "%2E%2E/%2E%2E/runs.sqlite3",
        "..%2f..%2fsecret.txt",
        "%2Fetc%2Fpasswd",
        "%2F%2Fetc%2Fpasswd",
        "sub/../../secret.txt",
        ".",
        "%2E",
        "%00",
        "index.html%00.png",
        "outside-link",
        "outside-dir/secret.txt",
        "inside-link",
        "subdir",
        "x" * 5000,
        "loop",
    ],
)
async def test_nothing_outside_the_run_directory_is_served(tmp_path: Path, path: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the network")
    async with running_api(tmp_path) as api:
        run_id = await finished_run(api)
        run_dir = api.workspace / run_id
        os.symlink(secret, run_dir / "outside-link")
        os.symlink(tmp_path, run_dir / "outside-dir")
        os.symlink(run_dir / "index.html", run_dir / "inside-link")
        (run_dir / "subdir").mkdir()
        os.symlink(run_dir / "loop", run_dir / "loop")
        before = await api.state()
        async with api.http.get(f"/v1/runs/{run_id}/artifacts/{path}") as reply:
            got = await error_of(reply)
        assert got[:2] == (404, "not_found"), got
        assert await api.state() == before
        assert secret.read_text() == "not for the network"


@pytest.mark.parametrize(
    "raw_path",
    ["../../secret.txt", "/../../secret.txt", "a/../../../secret.txt"],
)
async def test_dot_segments_sent_raw_do_not_escape(tmp_path: Path, raw_path: str) -> None:
    (tmp_path / "secret.txt").write_text("not for the network")
    async with running_api(tmp_path) as api:
        run_id = await finished_run(api)
        url = URL(api.daemon.url + f"/v1/runs/{run_id}/artifacts/{raw_path}", encoded=True)
        async with api.http.get(url) as reply:
            body = await reply.read()
        assert reply.status == 404
        assert b"not for the network" not in body


async def test_another_runs_files_are_not_reachable(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        first = await finished_run(api)
        second = await finished_run(api)
        async with api.http.get(f"/v1/runs/{second}/artifacts/..%2F{first}%2Fnotes.txt") as r:
            assert (await error_of(r))[:2] == (404, "not_found")
        async with api.http.delete(f"/v1/runs/{first}") as reply:
            assert reply.status == 204
        async with api.http.get(f"/v1/runs/{first}/artifacts/notes.txt") as reply:
            assert (await error_of(reply))[:2] == (404, "not_found")
