"""Fixtures for the web listener: a real server with ``[web]`` on a free port, and an IRC
client over WebSocket (the ``websockets`` library's client) with RawClient's bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ircd.server import Server
from ircd.wire import parse
from tests.conftest import TIMEOUT, RawClient, make_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WSClient(RawClient):
    """RawClient's API (send, expect, register, sync...) over a WebSocket: one line a message."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.lines = []
        self._pos = 0
        self.nick = "*"
        self.frames: list[str | bytes] = []  # every message as received (text or bytes)
        self._out: asyncio.Queue[str | bytes] = asyncio.Queue()  # sent in order by one task
        self._sender = asyncio.get_running_loop().create_task(self._send_all())

    async def _send_all(self) -> None:
        while True:
            data = await self._out.get()
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(data)

    @classmethod
    async def open(
        cls,
        port: int,
        subprotocols: list[str] | None = None,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> WSClient:
        ws = await asyncio.wait_for(
            connect(
                f"ws://127.0.0.1:{port}/irc",
                subprotocols=subprotocols,  # type: ignore[arg-type]
                origin=origin,  # type: ignore[arg-type]
                additional_headers=headers,
                ping_interval=None,
                max_queue=None,  # never stop reading: close() must see the server's close frame
                open_timeout=TIMEOUT,
            ),
            TIMEOUT,
        )
        return cls(ws)

    def send(self, *lines: str) -> None:
        for line in lines:
            self.send_raw(line)

    def send_raw(self, data: str | bytes) -> None:
        self._out.put_nowait(data)

    async def _read_line(self, timeout: float) -> str | None:
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            return None
        except ConnectionClosed as e:
            raise ConnectionError(f"server closed the WebSocket: {e}") from e
        self.frames.append(data)
        line = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        assert "\r" not in line and "\n" not in line, f"a frame with CR/LF: {line!r}"
        msg = parse(line)
        if msg.command == "PING" and getattr(self, "auto_pong", True):
            self.send(f"PONG :{msg.params[-1]}")
        self.lines.append(line)
        return line

    async def close(self) -> None:
        self._sender.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), TIMEOUT)


@pytest.fixture
async def web_server(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """``await web_server(web={"allowed_origins": "*"})``: a server with its web listener on a
    free port (``srv.web_port``); stopped at teardown."""
    servers: list[Server] = []

    async def _start(**sections: dict[str, Any]) -> Server:
        web = {"port": free_port(), **sections.pop("web", {})}
        state_dir = tmp_path / f"s{len(servers)}"
        state_dir.mkdir(exist_ok=True)
        srv = Server(make_config(state_dir, web=web, **sections))
        await srv.start()
        servers.append(srv)
        return srv

    yield _start
    for srv in servers:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


@pytest.fixture
async def ws_clients() -> AsyncIterator[Callable[..., Awaitable[WSClient]]]:
    """``await ws_clients(port, subprotocols=[...])``: a WebSocket client, closed at teardown."""
    made: list[WSClient] = []

    async def _open(port: int, **kw: Any) -> WSClient:
        c = await WSClient.open(port, **kw)
        made.append(c)
        return c

    yield _open
    for c in made:
        await c.close()
