"""The messenger's flows with clients over WebSocket (the same protocol as over TCP): #general
and its backlog, private messages, DELAY, COMPLAIN and unread after a reconnect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ircd.server import Server
from ircd.wire import parse
from tests.conftest import RawClient

from .conftest import WSClient

StartWeb = Callable[..., Awaitable[Server]]
OpenWS = Callable[..., Awaitable[WSClient]]


async def test_general_backlog_and_private(web_server: StartWeb, ws_clients: OpenWS) -> None:
    """Modern IRC JOIN and PRIVMSG; the messenger's landing in #general with its last
    messages (README "What you see when you connect")."""
    srv = await web_server()
    a = await ws_clients(srv.web_port, subprotocols=["text.ircv3.net"])
    await a.registered_and_joined("alice", password="pw")
    a.send("PRIVMSG #general :first", "PRIVMSG #general :second")
    await a.sync()
    b = await ws_clients(srv.web_port, subprotocols=["binary.ircv3.net"])
    await b.registered_and_joined("bob")
    backlog = [
        (await b.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "#general")).params[1]
        for _ in range(2)
    ]
    assert [t.rsplit("] ", 1)[-1] for t in backlog] == ["first", "second"]
    b.send("PRIVMSG alice :just us")
    got = await a.expect("PRIVMSG")
    assert got.source.startswith("bob!") and got.params == ("alice", "just us")


async def test_delay_and_complain(web_server: StartWeb, ws_clients: OpenWS) -> None:
    """The messenger's DELAY (schedule, list, cancel) and COMPLAIN verbs (README "Messenger
    commands"), with standard-replies off: their answers are NOTICEs."""
    srv = await web_server()
    a = await ws_clients(srv.web_port)
    await a.registered_and_joined("alice", password="pw")
    b = await ws_clients(srv.web_port)
    await b.registered_and_joined("bob", password="pw")
    a.send("DELAY 5 #general :later on")
    ok = await a.expect(lambda m: m.command == "NOTICE" and "scheduled for" in m.params[1])
    assert "Message #1 to #general" in ok.params[1]
    a.send("DELAY LIST")
    listing = await a.collect_until(
        lambda m: m.command == "NOTICE" and m.params[1].endswith("scheduled message")
    )
    assert any("later on" in m.params[1] for m in listing)
    a.send("DELAY CANCEL 1")
    await a.expect(lambda m: m.command == "NOTICE" and "#1 cancelled" in m.params[1])
    assert srv.messenger.scheduled == {}
    a.send("COMPLAIN bob :spam")
    got = await a.expect("NOTICE")
    assert got.params[1].startswith("Your complaint about bob was recorded")


async def test_unread_after_reconnect(web_server: StartWeb, ws_clients: OpenWS) -> None:
    """README "Unread on reconnect": an account over WebSocket gets what it missed, channel and
    private, then the summary; a TCP user wrote it."""
    srv = await web_server()
    a = await WSClient.open(srv.web_port)
    await a.registered_and_joined("alice", password="pw")
    await a.sync()
    a.send("QUIT :bye")
    await a.close()
    tcp = await RawClient.connect(srv.port)
    try:
        await tcp.registered_and_joined("tess", password="pw")
        tcp.send("PRIVMSG #general :while you were away", "PRIVMSG alice :psst")
        await tcp.sync()
        back = await ws_clients(srv.web_port)
        await back.register("alice", password="pw")
        summary = await back.expect(
            lambda m: m.command == "NOTICE" and m.params[1].startswith("You had")
        )
        assert "You had 2 unread messages: 1 in #general, 1 private from tess" in summary.params[1]
        got = [m.params for m in map(parse, back.lines) if m.command == "PRIVMSG"]
        assert [(t, x.rsplit("] ", 1)[-1]) for t, x in got] == [
            ("#general", "while you were away"),
            ("alice", "psst"),
        ]
    finally:
        await tcp.close()
