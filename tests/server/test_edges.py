"""The real server on port 0 with raw sockets: bad bytes, long lines, slow readers, limits and
shutdown. Every wait is bounded (RawClient.expect has a timeout)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

import pytest

from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient

from .conftest import StartServer

Connect = Callable[[], Awaitable[RawClient]]
SERVER = "irc.messenger.local"


async def _eof(c: RawClient) -> list[str]:
    """Read until the server closes the connection (bounded); returns the lines read."""
    got: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        left = deadline - loop.time()
        assert left > 0, f"connection not closed; got {got}"
        try:
            raw = await asyncio.wait_for(c.reader.readline(), left)
        except (ConnectionError, OSError):
            return got
        except asyncio.TimeoutError:
            raise AssertionError(f"connection not closed; got {got}") from None
        if not raw:
            return got
        got.append(raw.decode("utf-8", "replace").rstrip("\r\n"))


async def _until(cond: Callable[[], bool], what: str) -> None:
    """Poll server state (bounded) for something that happens after a socket event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not cond():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_pong_format(connect: Connect) -> None:
    c = await connect()
    c.send("PING :LAG1700000000123")
    await c.expect("PONG")
    assert c.lines[-1] == f":{SERVER} PONG {SERVER} :LAG1700000000123"


async def test_invalid_utf8_is_refused_not_altered(connect: Connect) -> None:
    """ircv3.net UTF8ONLY (advertised): non-UTF-8 content is not relayed; the line is
    refused with ``FAIL <command> INVALID_UTF8`` and both connections go on."""
    alice = await connect()
    bob = await connect()
    await alice.registered_and_joined("alice")
    await bob.registered_and_joined("bob")
    alice.writer.write(b"PRIVMSG #general :caf\xc3\xa9 \xff\xfe broken \xc3\r\n")
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ("PRIVMSG", "INVALID_UTF8")
    # a bad nick in bad bytes is refused, not a crash
    alice.writer.write(b"NICK \xff\xff\r\n")
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ("NICK", "INVALID_UTF8")
    # both keep chatting, and bob never saw the refused line
    bob.send("PRIVMSG #general :still fine")
    got = await alice.expect("PRIVMSG")
    assert got.params == ("#general", "still fine")
    alice.send("PRIVMSG bob :dm ok")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("bob", "dm ok")
    assert [ln for ln in bob.lines if " PRIVMSG " in ln] == [bob.lines[-1]]


async def test_too_long_line_gets_417_and_connection_stays_usable(connect: Connect) -> None:
    alice = await connect()
    bob = await connect()
    await alice.registered_and_joined("alice")
    await bob.registered_and_joined("bob")
    alice.send("PRIVMSG #general :" + "x" * 600)
    err = await alice.expect("417")
    assert err.params == ("alice", "Input line was too long")
    # an unterminated monster line, then the rest of it: one 417, then normal service
    alice.writer.write(b"PRIVMSG #general :" + b"y" * 20000)
    await alice.expect("417")
    alice.writer.write(b"yyyy\r\nPRIVMSG #general :after\r\n")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("#general", "after")
    await alice.sync()
    assert alice.numerics().count("417") == 2
    # bob never saw the long ones
    assert [m for m in bob.lines if "xxxx" in m or "yyyy" in m] == []


async def test_graceful_quit(connect: Connect, server: Server) -> None:
    alice = await connect()
    bob = await connect()
    await alice.registered_and_joined("alice")
    await bob.registered_and_joined("bob")
    await alice.expect(lambda m: m.command == "JOIN" and m.source is not None and "bob" in m.source)
    bob.send("QUIT :see you")
    rest = await _eof(bob)
    assert rest and rest[-1].startswith("ERROR :")
    got = await alice.expect("QUIT")
    assert got.source is not None and got.source.startswith("bob!")
    assert got.params == ("Quit: see you",)
    await _until(lambda: server.hub.session_by_nick("bob") is None, "bob to be gone")
    # the nick is free again
    again = await connect()
    await again.register("bob")


async def test_stop_sends_error_to_every_client(
    start_server: StartServer, clients: Callable[[int], Awaitable[RawClient]]
) -> None:
    srv = await start_server()
    alice = await clients(srv.port)
    bob = await clients(srv.port)
    await alice.registered_and_joined("alice")
    await bob.registered_and_joined("bob")
    pending = await clients(srv.port)  # not registered yet
    pending.send("NICK later")
    await pending.sync()
    await asyncio.wait_for(srv.stop(), TIMEOUT)
    for c in (alice, bob, pending):
        rest = await _eof(c)
        assert "ERROR :Closing link: Server shutting down" in rest, rest
    assert srv.hub.sessions == set()
    assert srv.hub.nicks == {}


async def test_per_ip_connection_limit(
    start_server: StartServer, clients: Callable[[int], Awaitable[RawClient]]
) -> None:
    srv = await start_server(server={"max_clients_per_ip": 2})
    a = await clients(srv.port)
    b = await clients(srv.port)
    await a.registered_and_joined("alice")
    await b.register("bob")
    c = await clients(srv.port)
    rest = await _eof(c)
    assert rest == ["ERROR :Too many connections from your address"]
    # the two others are unharmed
    b.send("PRIVMSG #general :hi")
    got = await a.expect("PRIVMSG")
    assert got.params == ("#general", "hi")
    # a slot frees up when one leaves
    b.send("QUIT")
    await _eof(b)
    await _until(lambda: srv.hub.ip_counts.get("127.0.0.1") == 1, "the slot to free up")
    d = await clients(srv.port)
    await d.register("dave")


async def _slow_client(port: int) -> RawClient:
    """A client with a tiny receive buffer, so that it fills up fast once it stops reading."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), TIMEOUT)
    r, w = await asyncio.open_connection(sock=sock)
    return RawClient(r, w)


async def test_slow_reader_is_disconnected_and_others_keep_receiving(
    start_server: StartServer,
    clients: Callable[[int], Awaitable[RawClient]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv = await start_server(
        # the flooder is a load source: no flood control
        server={"sendq_bytes": 65536, "commands_per_second": 0},
        limits={"messages_per_period": 1_000_000},
    )
    slow = await _slow_client(srv.port)
    flooder = await clients(srv.port)
    watcher = await clients(srv.port)
    await slow.registered_and_joined("slow")
    await flooder.registered_and_joined("flooder")
    await watcher.registered_and_joined("watcher")
    slow.writer.transport.pause_reading()  # type: ignore[attr-defined]  # never reads again
    text = "z" * 300
    sent = 0
    with caplog.at_level(logging.INFO, logger="ircd.server"):
        for chunk in range(400):  # at most ~5 MB to the slow reader
            flooder.send(*(f"PRIVMSG #general :{chunk}-{i} {text}" for i in range(40)))
            sent += 40
            await watcher.expect(
                lambda m, c=chunk: m.command == "PRIVMSG" and m.params[1].startswith(f"{c}-39 ")
            )
            if srv.hub.session_by_nick("slow") is None:
                break
        else:
            raise AssertionError("the slow reader was never disconnected")
    if not any(" QUIT " in m for m in watcher.lines):  # (gone from the hub; the line may lag)
        await watcher.expect(lambda m: m.command == "QUIT")
    quits = [m for m in watcher.lines if " QUIT " in m]
    assert quits == [":slow!~slow@127.0.0.1 QUIT :SendQ exceeded"]
    assert "SendQ exceeded" in caplog.text
    # the slow reader's connection really is closed
    slow.writer.transport.resume_reading()  # type: ignore[attr-defined]
    await _eof(slow)
    # the watcher got every single message, in order
    got = [
        m.split(" :", 1)[1].split(" ", 1)[0]
        for m in watcher.lines
        if " PRIVMSG #general :" in m and m.startswith(":flooder!")
    ]
    assert got == [f"{c}-{i}" for c in range(sent // 40) for i in range(40)]
    # and the others keep chatting
    watcher.send("PRIVMSG #general :survived")
    got_msg = await flooder.expect("PRIVMSG")
    assert got_msg.params == ("#general", "survived")
    assert srv.hub.session_by_nick("watcher") is not None
