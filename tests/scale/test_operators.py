"""An operator's actions on users of other nodes apply network-wide (docs/scale-out.md):
CHGHOST shows the new host on the user's own node and to its peers everywhere, KILL closes
its connections on their nodes, WALLOPS reaches +w users on every node."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ircd.config import OperatorConfig
from ircd.messenger.passwords import hash_password
from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient
from tests.scale.conftest import RedisProcess
from tests.scale.test_devices import devices_on, until
from tests.scale.test_redis_node import redis_config

Start = Callable[[], Awaitable[Server]]


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisProcess) -> AsyncIterator[Start]:
    """Nodes with an operator block ``root`` / ``opsecret`` (the same on every node)."""
    started: list[Server] = []
    root = OperatorConfig(name="root", password_hash=hash_password("opsecret"))

    async def _start() -> Server:
        name = f"n{len(started) + 1}"
        folder = tmp_path / name
        folder.mkdir()
        cfg = dataclasses.replace(redis_config(folder, redis_server, name), operators=(root,))
        srv = Server(cfg)
        await srv.start()
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Awaitable[RawClient]]]:
    made: list[RawClient] = []

    async def _connect(srv: Server, nick: str, **kw: Any) -> RawClient:
        c = await RawClient.connect(srv.port)
        made.append(c)
        await c.registered_and_joined(nick, **kw)
        return c

    yield _connect
    for c in made:
        await c.close()


async def oper(c: RawClient) -> None:
    c.send("OPER root opsecret")
    await c.expect("381")


async def test_chghost_of_a_user_on_another_node(nodes: Start, connect: Any) -> None:
    """ircv3.net/specs/extensions/chghost: ``:nick!user@old CHGHOST user new`` to those sharing
    a channel with the user who negotiated chghost (once each, on every node), to the user's
    devices that did, and 396 (RPL_VISIBLEHOST) to its devices that did not; WHOIS shows the
    new host on every node."""
    n1, n2, n3 = await nodes(), await nodes(), await nodes()
    root = await connect(n1, "root")
    await oper(root)
    w1 = await connect(n1, "wone", caps="chghost")
    w3 = await connect(n3, "wthree", caps="chghost")
    alice = await connect(n2, "alice", password="pw", caps="chghost")
    await until(lambda: "alice" in n1.hub.nicks, "n1 sees alice")
    plain = await connect(n3, "alice", password="pw")  # her second device, without chghost
    for srv in (n1, n2, n3):
        await until(lambda srv=srv: devices_on(srv, "alice") == 2, "two devices everywhere")
    w2 = await connect(n2, "wtwo", caps="chghost")
    for srv in (n1, n3):
        await until(lambda srv=srv: "wtwo" in srv.hub.nicks, "wtwo everywhere")
    old = n1.hub.nicks["alice"].mask
    root.send("CHGHOST alice cloak/alice")
    assert "cloak/alice" in (await root.expect("NOTICE")).params[-1]
    for c in (w1, w2, w3, alice):
        got = await c.expect("CHGHOST")
        assert got.source == old and got.params == ("~alice", "cloak/alice")
    got = await plain.expect("396")
    assert got.params[1] == "cloak/alice"
    for srv in (n1, n2, n3):
        await until(
            lambda srv=srv: all(d.host == "cloak/alice" for d in srv.hub.sessions_of("alice")),
            "the new host on every device on every node",
        )
    w3.send("WHOIS alice")
    assert (await w3.expect("311")).params[3] == "cloak/alice"
    for c in (w1, w2, w3, alice, plain):
        await c.sync()
        assert sum(1 for line in c.lines if " CHGHOST " in line) <= 1
    root.send("PRIVMSG #general :after")
    for c in (w2, w3):
        await c.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "after")
    alice.send("PRIVMSG #general :from the new host")
    got = await w1.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "from the new host")
    assert got.source == "alice!~alice@cloak/alice"


async def test_kill_of_a_user_on_another_node(nodes: Start, connect: Any) -> None:
    """modern.ircdocs.horse "KILL message": each of the victim's connections, on its own
    nodes, gets the KILL and an ERROR and is closed; those sharing a channel with it, on
    every node, see one QUIT "Killed (<operator> (<reason>))"."""
    n1, n2, n3 = await nodes(), await nodes(), await nodes()
    root = await connect(n1, "root")
    await oper(root)
    bob = await connect(n1, "bob")
    carol = await connect(n3, "carol")
    v2 = await connect(n2, "victim", password="pw")
    await until(lambda: "victim" in n3.hub.nicks, "n3 sees the victim")
    v3 = await connect(n3, "victim", password="pw")
    for srv in (n1, n2, n3):
        await until(lambda srv=srv: devices_on(srv, "victim") == 2, "two devices everywhere")
    root.send("KILL victim :spamming")
    why = "Killed (root (spamming))"
    for v in (v2, v3):
        assert (await v.expect("KILL")).params == ("victim", "spamming")
        assert why in (await v.expect("ERROR")).params[0]
        assert await asyncio.wait_for(v.reader.read(), TIMEOUT) == b""  # closed
    for c in (bob, carol):
        quit_ = await c.expect("QUIT")
        assert (quit_.source or "").startswith("victim!") and quit_.params == (why,)
    for srv in (n1, n2, n3):
        await until(lambda srv=srv: "victim" not in srv.hub.nicks, "gone everywhere")
    for c in (bob, carol):
        await c.sync()
        assert sum(1 for line in c.lines if " QUIT " in line) == 1
    again = await connect(n1, "victim", password="pw")  # a kill is no ban
    assert again.nick == "victim"


async def test_wallops_reaches_every_node(nodes: Start, connect: Any) -> None:
    """modern.ircdocs.horse "WALLOPS message": to every user with mode +w, on every node."""
    n1, n2 = await nodes(), await nodes()
    root = await connect(n1, "root")
    await oper(root)
    bob = await connect(n2, "bob")
    other = await connect(n2, "other")
    bob.send("MODE bob +w")
    await bob.expect("MODE")
    await bob.sync()
    await until(lambda: "bob" in n1.hub.nicks, "n1 sees bob")
    root.send("WALLOPS :network notice")
    got = await bob.expect("WALLOPS")
    assert got.params == ("network notice",) and (got.source or "").startswith("root!")
    assert (await root.expect("WALLOPS")).params == ("network notice",)  # the echo, once
    await other.sync()
    assert not any(" WALLOPS " in line for line in other.lines)
