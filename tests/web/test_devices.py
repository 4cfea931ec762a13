"""Issue 13, section 4, over both transports: one account signed in from the web (a WebSocket
client with the web messenger's capabilities) and from a TCP client at once. They are two
devices of one user: each gets the live messages, what the web one sends reaches the TCP one
as the user's own message (znc.in/self-message form), a read marker set on the web reaches the
other (ircv3.net read-marker, "Command flows"), and the web one leaving is no QUIT for others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ircd.server import Server
from ircd.wire import Message
from tests.conftest import RawClient

from .conftest import WSClient

StartWeb = Callable[..., Awaitable[Server]]
OpenWS = Callable[..., Awaitable[WSClient]]
WEB_CAPS = (
    "draft/chathistory draft/read-marker server-time batch echo-message labeled-response "
    "message-tags standard-replies"
)


def privmsg(text: str) -> Callable[[Message], bool]:
    return lambda m: m.command == "PRIVMSG" and m.params[-1] == text


async def test_the_web_and_a_tcp_client_are_two_devices_of_one_account(
    web_server: StartWeb, ws_clients: OpenWS
) -> None:
    srv = await web_server()
    bob = await RawClient.connect(srv.port)
    await bob.registered_and_joined("bob")
    web = await ws_clients(srv.web_port, subprotocols=["text.ircv3.net"])
    await web.registered_and_joined("alice", password="pw", caps=WEB_CAPS)
    tcp = await RawClient.connect(srv.port)
    await tcp.registered_and_joined(
        "alice", password="pw", caps="server-time znc.in/self-message draft/read-marker"
    )
    try:
        bob.send("PRIVMSG #general :hello both")
        await web.expect(privmsg("hello both"))
        got = await tcp.expect(privmsg("hello both"))
        web.send("PRIVMSG bob :typed on the web")
        assert (await web.expect(privmsg("typed on the web"))).params[0] == "bob"  # the echo
        copy = await tcp.expect(privmsg("typed on the web"))
        assert copy.params[0] == "bob" and (copy.source or "").startswith("alice!")
        await bob.expect(privmsg("typed on the web"))
        ts = got.tags["time"]
        web.send(f"MARKREAD #general timestamp={ts}")
        moved = await tcp.expect("MARKREAD")
        assert moved.params == ("#general", f"timestamp={ts}")
        web.send("QUIT :closing the tab")
        await web.expect("ERROR")
        await bob.sync()
        assert not [line for line in bob.lines if " QUIT " in line]
        bob.send("PRIVMSG alice :still reachable")
        await tcp.expect(privmsg("still reachable"))
    finally:
        await tcp.close()
        await bob.close()
