"""Fixtures for the workspace, download and image tests: real directories, real servers."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_replicate import FakeReplicate
from fake_web import FakeWeb
from isolation import lacking

from agent_relay.agents import Workspace


@pytest.fixture
def needs_root() -> None:
    """Skips the test without root (fails it under RELAY_REQUIRE_ISOLATION=1)."""
    if os.geteuid() != 0:
        lacking("needs root to switch users")


@pytest.fixture
def needs_setpriv() -> None:
    """Skips the test without setpriv (fails it under RELAY_REQUIRE_ISOLATION=1)."""
    if shutil.which("setpriv") is None:
        lacking("needs setpriv")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace, with a file nobody may read or change through it."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("top secret")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(root)


@pytest.fixture
async def web() -> AsyncIterator[FakeWeb]:
    async with FakeWeb() as server:
        yield server


@pytest.fixture
async def replicate() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as server:
        yield server


class ConnectionLog:
    """Every address a socket in this process tried to connect to during a test."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    @property
    def non_loopback(self) -> list[str]:
        return [a for a in self.addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> ConnectionLog:
    """Record socket connects, and stop any that would leave the machine.

    A tripwire, not a stand-in: loopback connects go through untouched. If a refusal ever
    regressed, the test would fail on the recorded address instead of sending traffic.
    """
    log = ConnectionLog()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: object) -> None:
        if isinstance(address, tuple) and address and isinstance(address[0], str):
            log.addresses.append(address[0])
            if not ipaddress.ip_address(address[0].split("%")[0]).is_loopback:
                raise ConnectionRefusedError(f"test tripwire: connect to {address[0]} blocked")

    def connect(self: socket.socket, address: object) -> None:
        check(address)
        real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return log
