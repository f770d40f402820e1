"""``relay run`` and ``relay serve`` say where the steps go before the first one: the bus,
without its credentials or options, and whether agents run here too."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_relay.runtime.cli._config import load_settings
from agent_relay.runtime.cli._model import build_model, build_runtime, setup_lines


@pytest.mark.parametrize(
    ("workers", "said"),
    [
        ("remote", "bus: nats://127.0.0.1:4222 (agents only in relay worker processes)"),
        ("local", "bus: nats://127.0.0.1:4222 (agents here and in any relay worker)"),
    ],
)
def test_the_bus_is_named_without_its_password(tmp_path: Path, workers: str, said: str) -> None:
    settings = load_settings(
        {
            "bus": "nats://relay:s3cret-pw@127.0.0.1:4222?name=master",
            "workers": workers,
            "base_url": "http://127.0.0.1:9/v1",
            "workspace": str(tmp_path / "ws"),
        },
        cwd=tmp_path,
    )
    lines = setup_lines(build_runtime(build_model(settings), settings), settings)
    assert said in lines
    assert not any("s3cret-pw" in line or "name=master" in line for line in lines)


def test_the_in_memory_bus_is_not_mentioned(tmp_path: Path) -> None:
    settings = load_settings(
        {"base_url": "http://127.0.0.1:9/v1", "workspace": str(tmp_path / "ws")}, cwd=tmp_path
    )
    lines = setup_lines(build_runtime(build_model(settings), settings), settings)
    assert not any(line.startswith("bus:") for line in lines)
