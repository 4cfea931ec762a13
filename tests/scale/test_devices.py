"""One account connected from several devices on different nodes (README, "Several devices
per account"; docs/scale-out.md): it is one user for everyone, on every node. Its nick, host,
away state and channels are the account's; private messages reach each device and the user's
own messages are copied to its other devices; read markers and acks are the account's; the
device limit counts every node; only its last device leaving, anywhere, is a QUIT."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ircd.server import Server
from ircd.wire import Message
from tests.conftest import TIMEOUT, RawClient
from tests.scale.conftest import RedisProcess
from tests.scale.test_failover import _spawn_node
from tests.scale.test_network import Start, clients, nodes, said

__all__ = ["clients", "nodes"]  # the fixtures, shared with test_network.py

RM = "server-time draft/read-marker"


async def until(pred: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not pred():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.02)


def devices_on(srv: Server, key: str) -> int:
    return len(srv.hub.sessions_of(key))


async def two_devices(
    n1: Server, n2: Server, clients: Any, caps: str = RM, nick: str = "alice"
) -> tuple[RawClient, RawClient]:
    """``nick``'s account connected on ``n1`` and then on ``n2``; both nodes know both."""
    a1 = await clients(n1)
    await a1.registered_and_joined(nick, password="pw", caps=caps)
    await until(lambda: nick in n2.hub.nicks, f"{n2.config.server.node_name} sees {nick}")
    a2 = await clients(n2)
    await a2.registered_and_joined(nick, password="pw", caps=caps)
    for srv in (n1, n2):
        await until(lambda srv=srv: devices_on(srv, nick) == 2, "both nodes see two devices")
    return a1, a2


def names_of(msgs: list[Message]) -> list[str]:
    return [n for m in msgs if m.command == "353" for n in m.params[-1].split()]


async def test_one_account_on_two_nodes_is_one_user(nodes: Start, clients: Any) -> None:
    """Modern IRC, NAMES, WHO, WHOIS, QUIT (https://modern.ircdocs.horse/#names-message,
    #who-message, #whois-message, #quit-message): the nick is listed once on every node,
    WHOIS tells the user itself of its two devices, and only the last device leaving is a
    QUIT for the others."""
    n1, n2, n3 = await nodes(), await nodes(), await nodes()
    bob = await clients(n3)
    await bob.registered_and_joined("bob")
    a1, a2 = await two_devices(n1, n2, clients)
    await until(lambda: devices_on(n3, "alice") == 2, "the third node sees two devices")
    for c in (bob, a1, a2):
        c.send("NAMES #general")
        assert sorted(names_of(await c.collect_until("366"))) == ["alice", "bob"]
        c.send("WHO #general")
        who = [m.params[5] for m in await c.collect_until("315") if m.command == "352"]
        assert sorted(who) == ["alice", "bob"]
    bob.send("WHOIS alice")
    whois = await bob.collect_until("318")
    assert [m.command for m in whois].count("311") == 1
    a2.send("WHOIS alice")
    mine = await a2.collect_until("318")
    assert any(m.command == "320" and "2 devices" in m.params[-1] for m in mine)
    await a1.close()
    await until(lambda: devices_on(n3, "alice") == 1, "the first device gone")
    bob.send("PRIVMSG alice :still there?")
    await a2.expect(said(a2, "still there?"))
    await bob.sync()
    assert not [line for line in bob.lines if " QUIT " in line]
    bob.send("NAMES #general")
    assert sorted(names_of(await bob.collect_until("366"))) == ["alice", "bob"]
    await a2.close()
    quit_ = await bob.expect("QUIT")
    assert (quit_.source or "").startswith("alice!")


async def test_private_messages_reach_and_copy_to_every_device(nodes: Start, clients: Any) -> None:
    """Modern IRC, PRIVMSG (https://modern.ircdocs.horse/#privmsg-message) and IRCv3
    znc.in/self-message: a message to the account reaches its devices on both nodes, and what
    one device sends is shown on its other device, on the other node, as its own message."""
    n1, n2 = await nodes(), await nodes()
    bob, carol = await clients(n1), await clients(n2)
    await bob.registered_and_joined("bob")
    await carol.registered_and_joined("carol")
    a1, a2 = await two_devices(n1, n2, clients)
    for sender, text in ((bob, "from bob"), (carol, "from carol")):
        sender.send(f"PRIVMSG alice :{text}")
        for device in (a1, a2):
            got = await device.expect(said(device, text))
            assert got.params[0] == "alice"
    a1.send("PRIVMSG carol :typed on n1")
    await carol.expect(said(carol, "typed on n1"))
    copy = await a2.expect(said(a2, "typed on n1"))
    assert copy.params[0] == "carol" and (copy.source or "").startswith("alice!")
    a2.send("PRIVMSG bob :typed on n2")
    await bob.expect(said(bob, "typed on n2"))
    copy = await a1.expect(said(a1, "typed on n2"))
    assert copy.params[0] == "bob" and (copy.source or "").startswith("alice!")
    a1.send("PRIVMSG #general :to the channel")
    got = await a2.expect(said(a2, "to the channel"))  # its own, from its other device
    assert (got.source or "").startswith("alice!")
    await a1.sync()
    assert not [x for x in a1.lines if x.endswith(":to the channel")]  # (no echo-message)


async def test_joins_parts_nick_and_away_are_the_accounts(nodes: Start, clients: Any) -> None:
    """Modern IRC, JOIN, PART, NICK, AWAY (https://modern.ircdocs.horse/#join-message,
    #part-message, #nick-message, #away-message): a device joining or leaving a channel on
    one node takes the account's devices on the other node with it, and a new nick or away
    message is the account's on every device and node."""
    n1, n2 = await nodes(), await nodes()
    bob = await clients(n2)
    await bob.registered_and_joined("bob", password="bobpw")
    a1, a2 = await two_devices(n1, n2, clients)
    bob.send("JOIN #side")
    await bob.expect("366")
    a1.send("JOIN #side")
    joined = await a2.expect(lambda m: m.command == "JOIN" and m.params[0] == "#side")
    assert (joined.source or "").startswith("alice!")
    assert sorted(names_of(await a2.collect_until("366"))) == ["@bob", "alice"]
    await bob.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("alice!"))
    a1.send("NICK alicia")
    renamed = await a2.expect("NICK")
    assert renamed.params[0] == "alicia" and (renamed.source or "").startswith("alice!")
    await bob.expect("NICK")
    await until(lambda: "alicia" in n2.hub.nicks and "alice" not in n2.hub.nicks, "renamed")
    bob.send("NAMES #side")
    assert sorted(names_of(await bob.collect_until("366"))) == ["@bob", "alicia"]
    a2.send("PRIVMSG #side :as alicia")
    got = await bob.expect(said(bob, "as alicia"))
    assert (got.source or "").startswith("alicia!")
    a2.send("AWAY :lunch")
    await a2.expect("306")
    await until(lambda: n1.hub.nicks["alicia"].away == "lunch", "away on n1")
    viewer = await clients(n1)
    await viewer.registered_and_joined("viewer")
    viewer.send("WHOIS alicia")
    whois = await viewer.collect_until("318")
    assert [m.params[-1] for m in whois if m.command == "301"] == ["lunch"]
    assert all(d.away == "lunch" for d in n1.hub.sessions_of("alice"))
    a2.send("PART #side")
    parted = await a1.expect(lambda m: m.command == "PART" and m.params[0] == "#side")
    assert (parted.source or "").startswith("alicia!")
    await bob.expect("PART")
    a1.send("PRIVMSG #side :gone?")
    await a1.expect("404")  # no longer a member: cannot send to it


async def test_read_markers_and_acks_are_the_accounts(nodes: Start, clients: Any) -> None:
    """IRCv3 read-marker (https://ircv3.net/specs/extensions/read-marker, "Command flows": the
    server sends a changed marker to all the user's clients) across nodes; and what one device
    confirmed is no unread for the account, whichever node it comes back to."""
    n1, n2 = await nodes(), await nodes()
    bob = await clients(n1)
    await bob.registered_and_joined("bob")
    a1, a2 = await two_devices(n1, n2, clients)
    bob.send("PRIVMSG #general :mark me", "PRIVMSG alice :private one")
    got = await a1.expect(said(a1, "mark me"))
    await a2.expect(said(a2, "mark me"))
    await a1.expect(said(a1, "private one"))
    await a2.expect(said(a2, "private one"))
    ts = got.tags["time"]
    a1.send(f"MARKREAD #general timestamp={ts}")
    moved = await a2.expect("MARKREAD")
    assert moved.params == ("#general", f"timestamp={ts}")
    a2.send("MARKREAD bob timestamp=2026-01-01T00:00:00.000Z")
    moved = await a1.expect(lambda m: m.command == "MARKREAD" and m.params[0] == "bob")
    assert moved.params[1] == "timestamp=2026-01-01T00:00:00.000Z"
    # a2 never confirms anything; a1 confirms with its QUIT (what its TCP stack had read)
    a2.auto_pong = False  # type: ignore[attr-defined]
    a1.send("QUIT :bye")
    await a1.expect("ERROR")
    await until(lambda: devices_on(n2, "alice") == 1, "n2 saw the first device go")
    await until(
        lambda: (
            n2.messenger.users["alice"].delivered_seq
            >= n1.messenger.users["alice"].delivered_seq
            > 0
        ),
        "the ack reached n2",
    )
    await a2.close()
    back = await clients(n2)
    await back.registered_and_joined("alice", password="pw")
    note = await back.expect(lambda m: m.command == "NOTICE" and "unread" in m.params[-1])
    assert note.params[-1] == "No unread messages since your last visit."


async def test_max_devices_counts_every_node(nodes: Start, clients: Any) -> None:
    """``accounts.max_devices`` is the account's, network-wide: a device beyond it is refused
    on whichever node it connects to (Modern IRC, ERROR)."""
    limit = {"accounts": {"max_devices": 2}}
    n1, n2 = await nodes(**limit), await nodes(**limit)
    a1, _a2 = await two_devices(n1, n2, clients)
    for srv in (n1, n2):
        extra = await clients(srv)
        extra.send("PASS pw", "NICK alice", "USER alice 0 * :alice")
        err = await extra.expect("ERROR")
        assert "connected from 2 devices already" in err.params[-1]
    await a1.close()
    await until(lambda: devices_on(n2, "alice") == 1, "one device left")
    again = await clients(n2)
    await again.registered_and_joined("alice", password="pw")


async def test_a_dying_node_takes_only_its_own_devices(
    tmp_path: Path, redis_server: RedisProcess, nodes: Start, clients: Any
) -> None:
    """kill -9 of a node with one of alice's devices (docs/scale-out.md, heartbeats): her
    other device stays, on the other node; nobody sees her quit, and she is still reached."""
    n1 = await nodes(server={"node_timeout": 1.5}, limits={"messages_per_period": 1000})
    proc, port = await _spawn_node(tmp_path, redis_server, "doomed")
    try:
        bob = await clients(n1)
        await bob.registered_and_joined("bob")
        far = await RawClient.connect(port)
        await far.registered_and_joined("alice", password="pw")
        await until(lambda: "alice" in n1.hub.nicks, "n1 sees alice")
        near = await clients(n1)
        await near.registered_and_joined("alice", password="pw")
        assert devices_on(n1, "alice") == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        await until(lambda: devices_on(n1, "alice") == 1, "the dead node's device is gone")
        await until(lambda: "doomed" not in n1._presence.remote, "the node taken as dead")
        bob.send("PRIVMSG alice :are you there?")
        await near.expect(said(near, "are you there?"))
        await bob.sync()
        assert not [line for line in bob.lines if " QUIT " in line]
        bob.send("NAMES #general")
        assert sorted(names_of(await bob.collect_until("366"))) == ["alice", "bob"]
        await far.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def test_a_quit_waiting_for_the_turn_counts_what_had_arrived(
    nodes: Start, clients: Any
) -> None:
    """README, "When a message counts as received": what the client's TCP stack had
    acknowledged when its QUIT arrived is received. With several nodes the QUIT waits for the
    network's turn (here: held by the node of the one who wrote), and the client has closed
    its connection by the time it is handled; what it had received still counts."""
    n1, n2 = await nodes(), await nodes()
    alice = await clients(n1)
    await alice.registered_and_joined("alice")
    bob = await clients(n2)
    await bob.registered_and_joined("bob", password="pw")
    bob.auto_pong = False  # type: ignore[attr-defined]  # (no PONG confirms anything)
    await until(lambda: "bob" in n1.hub.nicks, "n1 sees bob")
    for i in range(3):
        alice.send(f"PRIVMSG #general :seen {i}")
    await bob.expect(said(bob, "seen 2"))
    bob.send("QUIT :bye")
    await bob.writer.drain()
    await bob.close()  # at once: the QUIT is handled once n2 has the turn from n1
    await alice.expect("QUIT")
    await until(lambda: n2.messenger.users["bob"].delivered_seq >= 3, "the QUIT's credit")
    back = await clients(n2)
    await back.registered_and_joined("bob", password="pw")
    note = await back.expect(lambda m: m.command == "NOTICE" and "unread" in m.params[-1])
    assert note.params[-1] == "No unread messages since your last visit."


async def test_setname_and_away_back_on_every_device(nodes: Start, clients: Any) -> None:
    """IRCv3 setname (https://ircv3.net/specs/extensions/setname): a real name set on one
    device is the account's: its device on the other node that negotiated setname gets the
    SETNAME, WHOIS shows it on both nodes; coming back from away (Modern IRC, AWAY) on one
    device clears it on all."""
    n1, n2 = await nodes(), await nodes()
    a1, a2 = await two_devices(n1, n2, clients, caps="setname")
    a1.send("AWAY :out", "SETNAME :Alice Liddell")
    got = await a2.expect("SETNAME")
    assert got.params == ("Alice Liddell",) and (got.source or "").startswith("alice!")
    await until(lambda: all(d.away == "out" for d in n2.hub.sessions_of("alice")), "away")
    for c in (a1, a2):
        c.send("WHOIS alice")
        whois = await c.collect_until("318")
        assert [m.params[-1] for m in whois if m.command == "311"] == ["Alice Liddell"]
        assert [m.params[-1] for m in whois if m.command == "301"] == ["out"]
    a2.send("AWAY")
    await a2.expect("305")
    await until(lambda: all(d.away is None for d in n1.hub.sessions_of("alice")), "back")
    a1.send("WHOIS alice")
    assert not [m for m in await a1.collect_until("318") if m.command == "301"]


async def test_a_scheduled_message_is_told_sent_on_every_device(nodes: Start, clients: Any) -> None:
    """A delayed message (README, Messenger commands) fires once, on one node; its author's
    devices on both nodes are told it was sent."""
    n1, n2 = await nodes(), await nodes()
    a1, a2 = await two_devices(n1, n2, clients)
    a1.send("PRIVMSG Messenger :delay 1s #general ring once")
    for device in (a1, a2):
        got = await device.expect(
            lambda m: m.command == "NOTICE" and m.params[-1].startswith("Scheduled message #1"),
            timeout=10,
        )
        assert got.params[-1] == "Scheduled message #1 to #general was sent."
        await device.sync()
        assert sum(1 for line in device.lines if line.endswith(":ring once")) == 1
