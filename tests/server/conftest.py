"""Fixtures for the real-server tier: servers with a custom config, and their raw clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient, make_config

StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """``await start_server(server={"sendq_bytes": 65536})``: a server on port 0 with config
    overrides per section; stopped at teardown."""
    servers: list[Server] = []

    async def _start(**sections: dict[str, Any]) -> Server:
        state_dir = tmp_path / f"s{len(servers)}"
        state_dir.mkdir(exist_ok=True)
        srv = Server(make_config(state_dir, **sections))
        await srv.start()
        servers.append(srv)
        return srv

    yield _start
    for srv in servers:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[int], Awaitable[RawClient]]]:
    """``await clients(port)``: a raw client, closed at teardown."""
    made: list[RawClient] = []

    async def _connect(port: int) -> RawClient:
        c = await RawClient.connect(port)
        made.append(c)
        return c

    yield _connect
    for c in made:
        await c.close()
