"""Shared fixtures: a real server on port 0 with its state in a temp folder, and a raw IRC
client whose every wait is bounded by a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ircd.config import Config, default_config
from ircd.server import Server
from ircd.wire import Message, parse

TIMEOUT = 5.0


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    """The default config with port 0, state under tmp_path, and overrides per section:
    ``make_config(tmp_path, limits={"messages_per_period": 3})``."""
    cfg = default_config()
    changes: dict[str, Any] = {
        "server": dataclasses.replace(cfg.server, port=0),
        "web": dataclasses.replace(cfg.web, port=0),  # no web listener unless a test asks
        "storage": dataclasses.replace(
            cfg.storage, state_file=str(tmp_path / "state.json"), fsync="never"
        ),
    }
    for name, values in sections.items():
        base = changes.get(name, getattr(cfg, name))
        changes[name] = dataclasses.replace(base, **values)
    return dataclasses.replace(cfg, **changes)


class RawClient:
    """A line-based IRC client over a real socket, for tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.lines: list[str] = []  # everything received, in order
        self._pos = 0  # lines before this were consumed by expect()
        self.nick = "*"

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        return cls(r, w)

    def send(self, *lines: str) -> None:
        for line in lines:
            self.writer.write(line.encode() + b"\r\n")

    async def _read_line(self, timeout: float) -> str | None:
        try:
            raw = await asyncio.wait_for(self.reader.readline(), timeout)
        except asyncio.TimeoutError:
            return None
        if not raw:
            raise ConnectionError("server closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("PING ") or " PING " in line.split(" :", 1)[0]:
            msg = parse(line)
            # the PING of the welcome burst is answered even by a "half-dead" client (one that
            # leaves the delivery acks unanswered): the landing waits for it (welcome.py)
            if msg.command == "PING" and (
                getattr(self, "auto_pong", True) or msg.params == ("welcome",)
            ):
                self.send(f"PONG :{msg.params[-1]}")
        self.lines.append(line)
        return line

    async def expect(
        self, pred: Callable[[Message], bool] | str, timeout: float = TIMEOUT
    ) -> Message:
        """Wait for the next line (after the last one expected) that matches: a predicate on
        the parsed message, or a command/numeric string."""
        if isinstance(pred, str):
            want = pred
            pred = lambda m: m.command == want  # noqa: E731
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._pos < len(self.lines):
                line = self.lines[self._pos]
                self._pos += 1
                msg = parse(line)
                if pred(msg):
                    return msg
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError("timed out waiting; got:\n" + "\n".join(self.lines[-30:]))
            await self._read_line(left)

    async def collect_until(self, pred: Callable[[Message], bool] | str) -> list[Message]:
        """All messages up to and including the first that matches."""
        start = self._pos
        last = await self.expect(pred)
        got = [parse(x) for x in self.lines[start : self._pos]]
        assert got[-1] == last
        return got

    async def register(self, nick: str, *, password: str | None = None, caps: str = "") -> None:
        self.nick = nick
        if caps:
            self.send("CAP LS 302", f"CAP REQ :{caps}")
        if password is not None:
            self.send(f"PASS {password}")
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        if caps:
            self.send("CAP END")
        await self.expect("001")

    async def registered_and_joined(self, nick: str, **kw: Any) -> None:
        await self.register(nick, **kw)
        # the landing waits for a line after the welcome (a silent client gets a PING after
        # 0.1 s of quiet): send one at once, as a client that speaks after 001 does
        # (ircd/irc/welcome.py)
        self.send("PONG :welcome")
        await self.expect(lambda m: m.command == "366")

    async def sync(self) -> None:
        """Wait until the server has processed everything sent so far."""
        token = f"sync{id(self)}{len(self.lines)}"
        self.send(f"PING :{token}")
        await self.expect(lambda m: m.command == "PONG" and m.params[-1] == token)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, OSError):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)

    def numerics(self) -> list[str]:
        return [m.command for m in map(parse, self.lines) if re.fullmatch(r"\d{3}", m.command)]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def server(config: Config) -> AsyncIterator[Server]:
    srv = Server(config)
    await srv.start()
    try:
        yield srv
    finally:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


@pytest.fixture
async def connect(server: Server) -> AsyncIterator[Callable[[], Any]]:
    clients: list[RawClient] = []

    async def _connect() -> RawClient:
        c = await RawClient.connect(server.port)
        clients.append(c)
        return c

    yield _connect
    for c in clients:
        await c.close()
