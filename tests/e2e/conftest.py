"""Fixtures for the terminal-client tiers: the server as a subprocess, a private tmux server,
and raw-socket peers; each is torn down at the end of its test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import RawClient
from tests.e2e.terminal import IrcdProcess, Tmux


@pytest.fixture
def ircd(tmp_path: Path) -> Iterator[IrcdProcess]:
    srv = IrcdProcess(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()


@pytest.fixture
async def peers() -> AsyncIterator[list[RawClient]]:
    """Raw-socket peers appended here are closed at the end."""
    clients: list[RawClient] = []
    yield clients
    for c in clients:
        await c.close()
