"""Issue 9, "unread means unread", on the real server with raw sockets and a fake clock (the
quiet time that gates ack PINGs is the server's clock; sockets, TCP acknowledgements and the
kernel's send queue are real):

* a client that answers every PING and quits 1.3 s after receiving (before the server asked
  for an ack) gets nothing again: its QUIT counts what its TCP stack acknowledged;
* a quiet client gets its ack PING in the same write as the posts: even a dropped connection
  right after its PONG gets nothing again;
* a client that never answers and whose connection drops (or closes without QUIT) gets
  everything again, marked ``[repeat?]``; one that never answers but QUITs gets nothing;
* the seam the QUIT rule reads (``unacked_bytes``: the transport's buffer plus SIOCOUTQ).
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import sys
from pathlib import Path
from typing import cast

import pytest

from ircd.clock import FakeClock
from ircd.config import Config
from ircd.irc import tick
from ircd.irc.acks import ACK_QUIET
from ircd.server import Server, unacked_bytes
from ircd.wire import Message, parse
from tests.conftest import TIMEOUT, RawClient, make_config

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] ")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path, limits={"messages_per_period": 1000})


@pytest.fixture
async def srv(cfg: Config):
    s = Server(cfg, clock=FakeClock(T0))
    await s.start()
    yield s
    await s.stop()


def clock(srv: Server) -> FakeClock:
    assert isinstance(srv.clock, FakeClock)
    return srv.clock


def is_ack(m: Message) -> bool:
    return m.command == "PING" and m.params[-1].startswith("ack-")


def texts(msgs: list[Message]) -> list[str]:
    """PRIVMSG texts without the [YYYY-MM-DD HH:MM] prefix of replayed lines."""
    return [STAMP.sub("", m.params[1]) for m in msgs if m.command == "PRIVMSG"]


async def land(srv: Server, nick: str = "alice") -> tuple[RawClient, list[Message]]:
    """An account connects, answers its landing's ack PING; what it got until then."""
    c = await RawClient.connect(srv.port)
    await c.register(nick, password="pw")
    got = await c.collect_until(is_ack)
    await c.sync()  # our PONG is in
    return c, got


async def bob_joins(srv: Server) -> RawClient:
    bob = await RawClient.connect(srv.port)
    await bob.registered_and_joined("bob")
    return bob


async def gone(bob: RawClient, nick: str = "alice") -> None:
    """Until the server has closed ``nick``'s connection (bob sees the QUIT)."""
    await bob.expect(lambda m: m.command == "QUIT" and (m.source or "").startswith(f"{nick}!"))


def drop(c: RawClient) -> None:
    """The connection dies: a TCP reset, no QUIT (a killed client, a lost network)."""
    sock = c.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.writer.transport.abort()


async def all_acknowledged(srv: Server, nick: str = "alice") -> None:
    """Until the peer's TCP stack has acknowledged every byte written to ``nick`` (the
    delayed ACK of a client that has not written since is up to 40 ms on Linux)."""
    session = srv.hub.session_by_nick(nick)
    assert session is not None
    conn = srv.conns[session]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (left := conn.unacked()) != 0:
        assert left is not None, "the server cannot read the socket's send queue"
        assert loop.time() < deadline, f"{left} bytes never acknowledged"
        await asyncio.sleep(0.01)


def after(c: RawClient, text: str) -> list[Message]:
    """The messages ``c`` received after the PRIVMSG with ``text``."""
    msgs = [parse(x) for x in c.lines]
    i = next(i for i, m in enumerate(msgs) if m.command == "PRIVMSG" and m.params[1] == text)
    return msgs[i + 1 :]


async def test_a_client_that_quits_before_any_ack_gets_nothing_again(srv: Server) -> None:
    bob = await bob_joins(srv)
    alice, _ = await land(srv)
    bob.send("PRIVMSG #general :hello alice", "PRIVMSG alice :psst")
    await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == "psst")
    # she just answered a PING, so the server waits until she has been quiet (ACK_QUIET)
    # before asking again; she reads for 1.3 s and quits
    clock(srv).advance(1.3)
    tick(srv.hub)
    await all_acknowledged(srv)
    alice.send("QUIT :bye")
    await alice.expect("ERROR")
    assert not any(is_ack(m) for m in after(alice, "psst"))  # it was never asked
    await alice.close()
    await gone(bob)
    alice, got = await land(srv)
    assert texts(got) == []
    assert any("No unread messages since your last visit." in m.params[-1] for m in got)
    await alice.close()
    await bob.close()


async def test_a_quiet_client_is_asked_at_once_and_its_pong_is_enough(srv: Server) -> None:
    bob = await bob_joins(srv)
    alice, _ = await land(srv)
    clock(srv).advance(ACK_QUIET)  # she has been quiet
    bob.send("PRIVMSG #general :for a quiet reader")
    await alice.expect(lambda m: m.command == "PRIVMSG")
    ping = await alice.expect(is_ack)  # asked right behind the post (and answered)
    assert ping.params[-1] == f"ack-{srv.messenger.seq}"
    await alice.sync()
    drop(alice)  # even a dropped connection now loses nothing and repeats nothing
    await gone(bob)
    alice, got = await land(srv)
    assert texts(got) == []
    await alice.close()
    await bob.close()


@pytest.mark.parametrize("end", ["reset", "close without QUIT"])
async def test_a_client_that_never_answers_gets_everything_again_marked(
    srv: Server, end: str
) -> None:
    bob = await bob_joins(srv)
    alice, _ = await land(srv)
    alice.auto_pong = False  # type: ignore[attr-defined]  # a half-dead client from now on
    clock(srv).advance(ACK_QUIET)
    bob.send("PRIVMSG #general :one", "PRIVMSG alice :two")
    await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == "two")
    await alice.expect(is_ack)  # never answered
    if end == "reset":
        drop(alice)
    else:
        await alice.close()  # a clean TCP close, but no QUIT: not a confirmation
    await gone(bob)
    bob.send("PRIVMSG #general :three")
    await bob.sync()
    alice, got = await land(srv)
    assert texts(got) == [
        "[repeat?] one",
        "three",
        "[repeat?] two",
    ]
    summary = [m.params[-1] for m in got if m.command == "NOTICE" and "You had" in m.params[-1]]
    assert summary == [
        "You had 3 unread messages: 2 in #general, 1 private from bob; "
        "2 of them may have reached you before (marked [repeat?])."
    ]
    await alice.close()
    await bob.close()


async def test_a_client_that_never_answers_but_quits_gets_nothing_again(srv: Server) -> None:
    bob = await bob_joins(srv)
    alice, _ = await land(srv)
    alice.auto_pong = False  # type: ignore[attr-defined]
    bob.send("PRIVMSG #general :read before quitting")
    await alice.expect(lambda m: m.command == "PRIVMSG")
    await all_acknowledged(srv)
    alice.send("QUIT")
    await alice.expect("ERROR")
    await alice.close()
    await gone(bob)
    alice, got = await land(srv)
    assert texts(got) == []
    await alice.close()
    await bob.close()


class FakeTransport:
    """What unacked_bytes reads from a transport: its buffer, its socket, TLS or not."""

    def __init__(self, sock: socket.socket, buffered: int, tls: bool) -> None:
        self.sock, self.buffered, self.tls = sock, buffered, tls

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str) -> object:
        return {"socket": self.sock, "sslcontext": object() if self.tls else None}.get(name)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCOUTQ is Linux's")
def test_unacked_bytes_adds_the_transport_buffer_and_is_all_or_nothing_with_tls() -> None:
    a, b = socket.socketpair()
    with a, b:
        t = cast(asyncio.Transport, FakeTransport(a, 0, tls=False))
        assert unacked_bytes(t) == 0
        t = cast(asyncio.Transport, FakeTransport(a, 7, tls=False))
        assert unacked_bytes(t) == 7  # written to the transport, not yet to the kernel
        # TLS: the counts on the wire are not the bytes written; all of it, or unknown
        assert unacked_bytes(cast(asyncio.Transport, FakeTransport(a, 0, tls=True))) == 0
        assert unacked_bytes(cast(asyncio.Transport, FakeTransport(a, 7, tls=True))) is None
