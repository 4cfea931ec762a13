"""Several nodes as one network on one Redis stream, on a real redis-server and real servers:
chat and presence across nodes, decisions that hold network-wide (nick and account taken,
quota, scheduled messages), a node joining late (docs/scale-out.md)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient
from tests.scale.conftest import RedisProcess
from tests.scale.test_redis_node import redis_config

Start = Callable[..., Awaitable[Server]]


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisProcess) -> AsyncIterator[Start]:
    started: list[Server] = []

    async def _start(**sections: dict[str, Any]) -> Server:
        name = f"n{len(started) + 1}"
        folder = tmp_path / name
        folder.mkdir()
        srv = Server(redis_config(folder, redis_server, name, **sections))
        await srv.start()
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[Server], Awaitable[RawClient]]]:
    made: list[RawClient] = []

    async def _connect(srv: Server) -> RawClient:
        c = await RawClient.connect(srv.port)
        made.append(c)
        return c

    yield _connect
    for c in made:
        await c.close()


def said(c: RawClient, text: str) -> Callable[[Any], bool]:
    return lambda m: m.command == "PRIVMSG" and m.params[-1] == text


async def test_three_nodes_chat_names_whois(nodes: Start, clients: Any) -> None:
    """Modern IRC, PRIVMSG, NAMES, WHOIS (https://modern.ircdocs.horse/#privmsg-message,
    #names-message, #whois-message): users of three nodes talk in #general and privately,
    and each node lists everyone."""
    n1, n2, n3 = await nodes(), await nodes(), await nodes()
    a, b, c = await clients(n1), await clients(n2), await clients(n3)
    await a.registered_and_joined("alice")
    await b.registered_and_joined("bob")
    await c.registered_and_joined("carol")
    await b.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("carol!"))
    a.send("PRIVMSG #general :hello from n1")
    await b.expect(said(b, "hello from n1"))
    await c.expect(said(c, "hello from n1"))
    c.send("PRIVMSG #general :hi from n3")
    await a.expect(said(a, "hi from n3"))
    await b.expect(said(b, "hi from n3"))
    a.send("PRIVMSG carol :just you")
    got = await c.expect(said(c, "just you"))
    assert (got.source or "").startswith("alice!") and got.params[0] == "carol"
    await a.sync()
    assert not any("offline" in line for line in a.lines)  # carol is online, elsewhere
    b.send("NAMES #general")
    names = await b.expect("353")
    assert set(names.params[-1].split()) == {"alice", "bob", "carol"}
    b.send("WHO #general")
    who_lines = await b.collect_until("315")
    assert {m.params[5] for m in who_lines if m.command == "352"} == {"alice", "bob", "carol"}
    a.send("WHOIS carol")
    who = await a.expect("311")
    assert who.params[1] == "carol"
    await a.expect("318")
    # away, across nodes (IRCv3 away-notify, https://ircv3.net/specs/extensions/away-notify)
    c.send("AWAY :lunch")
    await c.expect("306")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while n1.hub.nicks["carol"].away != "lunch":
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    a.send("WHOIS carol")
    assert (await a.expect("301")).params[-1] == "lunch"
    await a.expect("318")
    # a nick taken on another node is taken here
    d = await clients(n2)
    d.send("NICK alice", "USER d 0 * :d")
    await d.expect("433")
    # a quit on one node reaches the others
    await c.close()
    quit_ = await a.expect("QUIT")
    assert (quit_.source or "").startswith("carol!")
    await b.expect("QUIT")


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"{user}\0{user}\0{password}".encode()).decode()


async def _sasl_start(c: RawClient, nick: str) -> None:
    c.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}x", f"USER {nick} 0 * :{nick}")
    await c.expect(lambda m: m.command == "CAP" and m.params[1] == "ACK")
    c.send("AUTHENTICATE PLAIN")
    await c.expect(lambda m: m.command == "AUTHENTICATE")


async def test_one_account_created_on_two_nodes_at_once_has_one_owner(
    nodes: Start, clients: Any
) -> None:
    """IRCv3 SASL (https://ircv3.net/specs/extensions/sasl-3.1): the same new account asked
    for on two nodes at the same instant is created once; the other login is refused."""
    n1, n2 = await nodes(), await nodes()
    a, b = await clients(n1), await clients(n2)
    await _sasl_start(a, "zed")
    await _sasl_start(b, "zed")
    a.send(f"AUTHENTICATE {_plain('zed', 'first-pass')}")
    b.send(f"AUTHENTICATE {_plain('zed', 'other-pass')}")
    ra = await a.expect(lambda m: m.command in ("903", "904"))
    rb = await b.expect(lambda m: m.command in ("903", "904"))
    assert sorted([ra.command, rb.command]) == ["903", "904"]
    assert n1.messenger.account("zed") is not None
    for srv in (n1, n2):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while srv.messenger.account("zed") is None:
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
    assert n1.messenger.account("zed").password_hash == n2.messenger.account("zed").password_hash


async def test_quota_counts_across_nodes(nodes: Start, clients: Any) -> None:
    """A guest's quota of 5 per period follows its nick from node to node: 5 in total."""
    limits = {"limits": {"messages_per_period": 5}}
    n1, n2 = await nodes(**limits), await nodes(**limits)
    watcher = await clients(n2)
    await watcher.registered_and_joined("watcher")
    g = await clients(n1)
    await g.registered_and_joined("greedy")
    for i in range(3):
        g.send(f"PRIVMSG #general :one {i}")
    await watcher.expect(said(watcher, "one 2"))
    await g.close()
    await watcher.expect("QUIT")
    g2 = await clients(n2)
    await g2.registered_and_joined("greedy")
    for i in range(4):
        g2.send(f"PRIVMSG #general :two {i}")
    await g2.sync()
    await watcher.sync()
    texts = [line.rsplit(" :", 1)[-1] for line in watcher.lines if " PRIVMSG #general " in line]
    assert texts == ["one 0", "one 1", "one 2", "two 0", "two 1"]


async def test_scheduled_message_fires_once_network_wide(nodes: Start, clients: Any) -> None:
    """A delayed message (README, Messenger commands) is posted once, whichever nodes run."""
    n1, n2, n3 = await nodes(), await nodes(), await nodes()
    a, b, c = await clients(n1), await clients(n2), await clients(n3)
    await a.registered_and_joined("alice")
    await b.registered_and_joined("bob")
    await c.registered_and_joined("carol")
    a.send("PRIVMSG Messenger :delay 1s #general ring once")
    await b.expect(said(b, "ring once"), timeout=10)
    await c.expect(said(c, "ring once"), timeout=10)
    await asyncio.sleep(1.5)  # every node's tick has run past the due time since
    await b.sync()
    await c.sync()
    for x in (b, c):
        assert sum(1 for line in x.lines if line.endswith(":ring once")) == 1
    for srv in (n1, n2, n3):
        room = srv.messenger.rooms[srv.hub.general_key]
        assert [p.text for p in room.history].count("ring once") == 1


async def test_a_node_joining_late_catches_up(
    nodes: Start, clients: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A node started later starts from the snapshot plus the stream, says how far behind it
    was, and serves the same history and the users already online."""
    n1 = await nodes(limits={"messages_per_period": 1000})
    a = await clients(n1)
    await a.registered_and_joined("alice", caps="draft/account-registration")
    a.send("REGISTER * * hunter22")
    await a.expect(lambda m: m.command == "REGISTER")
    for i in range(20):
        a.send(f"PRIVMSG #general :early {i}")
    await a.sync()
    caplog.set_level("INFO", logger="ircd.storage.redis_store")
    n2 = await nodes()
    assert any("stream entries" in r.getMessage() for r in caplog.records)
    texts = [p.text for p in n2.messenger.rooms[n2.hub.general_key].history]
    assert texts[-20:] == [f"early {i}" for i in range(20)]
    assert n2.messenger.account("alice") is not None
    b = await clients(n2)
    await b.registered_and_joined("bob", caps="draft/chathistory")
    b.send("CHATHISTORY LATEST #general * 3")
    await b.expect(said(b, "early 19"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while "alice" not in n2.hub.nicks:  # the first node announces its users to the new one
        assert loop.time() < deadline, "the users of the first node were not announced"
        await asyncio.sleep(0.02)
    b.send("NAMES #general")
    names = await b.expect("353")
    assert set(names.params[-1].split()) == {"alice", "bob"}
    a.send("PRIVMSG #general :late hello")
    await b.expect(said(b, "late hello"))


async def test_three_complaints_from_three_nodes_mute(nodes: Start, clients: Any) -> None:
    """Complaints (README, Messenger commands) are counted network-wide: one from each of
    three nodes mutes, and the mute holds on the target's own node."""
    mod = {"moderation": {"complaint_min_account_age": 0}}
    n1, n2, n3 = await nodes(**mod), await nodes(**mod), await nodes(**mod)
    carol = await clients(n1)
    await carol.registered_and_joined("carol", password="pw")
    complainers = []
    for srv, name in ((n1, "ann"), (n2, "ben"), (n3, "cid")):
        c = await clients(srv)
        await c.registered_and_joined(name, password="pw")
        complainers.append(c)
    loop = asyncio.get_running_loop()
    for srv in (n2, n3):  # each node knows carol before its user complains about her
        deadline = loop.time() + TIMEOUT
        while "carol" not in srv.hub.nicks:
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
    for i, c in enumerate(complainers):
        c.send("COMPLAIN carol :spam")
        got = await c.expect("NOTICE")
        assert "recorded" in got.params[1], got
        if i < 2:
            assert f"({i + 1} of 3 needed to mute)" in got.params[1]
    deadline = loop.time() + TIMEOUT
    while n1.messenger.ban_of("carol") is None:
        assert loop.time() < deadline, "the mute did not reach carol's node"
        await asyncio.sleep(0.02)
    told = await carol.expect(lambda m: m.command == "NOTICE" and "muted" in m.params[-1])
    assert "You have been muted until" in told.params[-1]
    carol.send("PRIVMSG #general :can I talk?")
    refused = await carol.expect("404")
    assert "muted" in refused.params[2]


async def test_a_node_taken_as_dead_stops(
    nodes: Start, clients: Any, redis_server: RedisProcess
) -> None:
    """A node the others took as dead (its heartbeat gone: it was paused or cut off longer
    than node_timeout) must not go on as if its users were still online: it stops, and its
    clients are told (Modern IRC, ERROR: https://modern.ircdocs.horse/#error-message)."""
    import redis

    n1 = await nodes(server={"node_timeout": 1.0})
    n2 = await nodes(server={"node_timeout": 1.0})
    c = await clients(n2)
    await c.registered_and_joined("paused")
    cluster = n2._cluster
    assert cluster is not None
    redis.Redis.from_url(redis_server.url).hdel(cluster.nodes_key, cluster.origin)
    err = await c.expect("ERROR", timeout=TIMEOUT)
    assert "lost contact with the network" in err.params[-1]
    assert n2.closing and not n1.closing


async def test_a_channel_a_guest_made_is_one_channel_on_every_node(
    nodes: Start, clients: Any
) -> None:
    """Modern IRC, JOIN and NAMES (https://modern.ircdocs.horse/#join-message): a channel a
    guest made on one node (its operator: the first member) is the same channel for a user
    of another node who joins it: one member list with one operator everywhere, and what is
    said in it reaches both."""
    n1, n2 = await nodes(), await nodes()
    guest = await clients(n2)
    await guest.registered_and_joined("bob")
    guest.send("JOIN #Side")
    await guest.expect("366")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while "#side" not in n1.messenger.rooms:
        assert loop.time() < deadline, "the guest's channel is not known on n1"
        await asyncio.sleep(0.02)
    alice = await clients(n1)
    await alice.registered_and_joined("alice", password="pw")
    alice.send("JOIN #side")
    joined = await alice.expect("JOIN")
    assert joined.params[0] == "#Side"  # its name as the guest gave it
    names = await alice.collect_until("366")
    assert sorted(n for m in names if m.command == "353" for n in m.params[-1].split()) == [
        "@bob",
        "alice",
    ]
    await guest.expect(
        lambda m: (
            m.command == "JOIN" and m.params[0] == "#Side" and (m.source or "").startswith("alice!")
        )
    )
    guest.send("NAMES #side")  # (a read: answered at once, so only after that JOIN)
    names = await guest.collect_until("366")
    assert sorted(n for m in names if m.command == "353" for n in m.params[-1].split()) == [
        "@bob",
        "alice",
    ]
    guest.send("PRIVMSG #side :hi from the guest")
    await alice.expect(said(alice, "hi from the guest"))
    alice.send("PRIVMSG #side :hi from n1")
    await guest.expect(said(guest, "hi from n1"))
    # a node started later is told of the guest's channel with the guest (its ~on)
    alice.send("PART #side")
    await guest.expect("PART")
    n3 = await nodes()
    deadline = loop.time() + TIMEOUT
    while "bob" not in n3.hub.nicks or "#side" not in n3.messenger.rooms:
        assert loop.time() < deadline, "the guest's channel is not known on n3"
        await asyncio.sleep(0.02)
    room = n3.messenger.rooms["#side"]
    bob = n3.hub.nicks["bob"].user_key
    assert room.name == "#Side" and room.members == {bob}, room
    assert room.ops == {bob}, room


async def test_mode_and_kick_on_one_node_are_shown_on_the_others(
    nodes: Start, clients: Any
) -> None:
    """Modern IRC, MODE and KICK (https://modern.ircdocs.horse/#mode-message, #kick-message):
    a channel operator on one node voices and kicks members of another node; the members
    there see the MODE and the KICK (with its reason, and no PART for it), once."""
    n1, n2 = await nodes(), await nodes()
    op = await clients(n1)
    await op.registered_and_joined("oper8", password="pw")
    op.send("JOIN #ops")
    await op.expect("366")
    members = []
    for nick, password in (("bob", "pw"), ("gus", None)):  # an account and a guest
        c = await clients(n2)
        await c.registered_and_joined(nick, **({"password": password} if password else {}))
        c.send("JOIN #ops")
        await c.expect("366")
        await op.expect(lambda m, n=nick: m.command == "JOIN" and (m.source or "").startswith(n))
        members.append(c)
    bob, gus = members
    op.send("MODE #ops +v bob")
    for c in (bob, gus):
        got = await c.expect("MODE")
        assert got.params == ("#ops", "+v", "bob") and (got.source or "").startswith("oper8!")
    for victim, shown in (("bob", (bob, gus)), ("gus", (gus,))):
        op.send(f"KICK #ops {victim} :out you go")
        for c in shown:  # (bob, no longer a member, is not shown gus's)
            got = await c.expect("KICK")
            assert got.params == ("#ops", victim, "out you go")
        await op.expect("KICK")
    op.send("PRIVMSG #ops :after")
    await op.sync()
    await bob.sync()
    await gus.sync()
    for c in (bob, gus):
        assert sum(1 for line in c.lines if " MODE #ops " in line) == 1
        assert sum(1 for line in c.lines if " KICK #ops " in line) == (1 if c is bob else 2)
        assert not [line for line in c.lines if " PART #ops" in line]
        assert not [line for line in c.lines if line.endswith(" PRIVMSG #ops :after")]
    assert n2.messenger.rooms["#ops"].members == {"oper8"}  # the kicked guest left here too
