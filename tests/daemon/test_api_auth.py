"""Bearer tokens over real HTTP: every endpoint but the probes and the API's description
needs one; a missing or wrong token changes nothing; the token never reaches the logs or
the store's file; without tokens the daemon binds loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import TASK, error_of, running_api
from loguru import logger

from agent_relay.runtime import Runtime
from agent_relay.runtime.cli._demo import QUICK, demo_model
from agent_relay.runtime.daemon import Daemon, DaemonConfig, DaemonConfigError

pytestmark = pytest.mark.anyio

TOKEN = "relay-test-token-5f0c9a7e1d"

PROTECTED = [
    ("GET", "/v1/runs"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/runs/{id}"),
    ("DELETE", "/v1/runs/{id}"),
    ("GET", "/v1/runs/{id}/wait"),
    ("POST", "/v1/runs/{id}/cancel"),
    ("GET", "/v1/runs/{id}/events"),
    ("GET", "/v1/runs/{id}/artifacts/index.html"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        TOKEN,
    ],
)
async def test_every_endpoint_needs_a_valid_token(
    tmp_path: Path, authorization: str | None
) -> None:
    async with running_api(tmp_path, token=TOKEN) as api:
        run_id = await api.create()
        await api.finished(run_id)
        before = await api.state()
        headers = {"Authorization": authorization} if authorization is not None else {}
        for method, path in PROTECTED:
            async with api.http.request(
                method, path.format(id=run_id), headers=headers, json={"task": TASK}
            ) as reply:
                got = await error_of(reply)
                assert got[:2] == (401, "unauthorized"), (method, path, got)
                assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert await api.state() == before
        assert (await api.view(run_id))["status"] == "completed"


async def test_probes_and_the_description_are_open(tmp_path: Path) -> None:
    async with running_api(tmp_path, token=TOKEN) as api:
        for path in ("/healthz", "/readyz", "/openapi.json"):
            async with api.http.get(path) as reply:
                assert reply.status == 200, path
        async with api.http.get("/metrics", headers=api.headers) as reply:
            assert reply.status == 200


async def test_a_lowercase_scheme_is_accepted(tmp_path: Path) -> None:
    async with running_api(tmp_path, token=TOKEN) as api:
        reply = await api.http.get("/v1/runs", headers={"Authorization": f"bearer {TOKEN}"})
        reply.release()
        assert reply.status == 200


async def test_the_token_is_never_logged_or_stored(tmp_path: Path) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE", format="{message} {extra}")
    try:
        async with running_api(tmp_path, token=TOKEN) as api:
            run_id = await api.create()
            await api.finished(run_id)
            for authorization in (f"Bearer {TOKEN}x", f"Basic {TOKEN}"):
                async with api.http.get(
                    "/v1/runs", headers={"Authorization": authorization}
                ) as reply:
                    assert reply.status == 401
            async with api.http.get(f"/v1/runs/{run_id}/events", headers=api.headers) as reply:
                assert TOKEN not in await reply.text()
            async with api.http.get(f"/v1/runs/{run_id}", headers=api.headers) as reply:
                assert TOKEN not in await reply.text()
            store_file = api.store_file
    finally:
        logger.remove(sink)
    assert lines, "the daemon logged nothing: the sink is not seeing its logs"
    assert not [line for line in lines if TOKEN in line]
    for path in store_file.parent.glob(store_file.name + "*"):  # the file, its WAL and SHM
        assert TOKEN.encode() not in path.read_bytes()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
async def test_without_tokens_it_refuses_to_listen_beyond_loopback(
    tmp_path: Path, host: str
) -> None:
    runtime = Runtime(demo_model(QUICK), workspace=tmp_path / "ws")
    config = DaemonConfig(host=host, port=0, store=tmp_path / "runs.sqlite3")
    with pytest.raises(DaemonConfigError, match="without tokens"):
        async with Daemon(runtime, config):
            pass
    assert not (tmp_path / "runs.sqlite3").exists()


async def test_a_taken_port_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    async with running_api(tmp_path / "a") as api:
        port = int(api.daemon.url.rsplit(":", 1)[1])
        runtime = Runtime(demo_model(QUICK), workspace=tmp_path / "ws")
        config = DaemonConfig(port=port, store=tmp_path / "b.sqlite3")
        with pytest.raises(DaemonConfigError, match="cannot listen"):
            async with Daemon(runtime, config):
                pass


async def test_a_bad_webhook_allow_list_is_a_config_error(tmp_path: Path) -> None:
    runtime = Runtime(demo_model(QUICK), workspace=tmp_path / "ws")
    config = DaemonConfig(
        port=0, store=tmp_path / "runs.sqlite3", webhook_allow_hosts=("127.0.0.1:99999",)
    )
    with pytest.raises(DaemonConfigError, match="webhook_allow_hosts"):
        async with Daemon(runtime, config):
            pass
