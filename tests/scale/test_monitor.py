"""MONITOR and extended-monitor across nodes, on a real redis-server and real servers: a watcher
on one node hears of a nick on another one (730/731 as it connects, changes nick, quits, or its
node dies) and gets its AWAY, ACCOUNT and CHGHOST lines without sharing a channel with it.

IRCv3 monitor: https://ircv3.net/specs/extensions/monitor; extended-monitor:
https://ircv3.net/specs/extensions/extended-monitor (with away-notify, account-notify, chghost).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ircd.config import OperatorConfig
from ircd.messenger.passwords import hash_password
from ircd.server import Server
from ircd.wire import Message
from tests.conftest import TIMEOUT, RawClient
from tests.scale.conftest import RedisProcess
from tests.scale.test_failover import _spawn_node
from tests.scale.test_redis_node import redis_config

Start = Callable[..., Awaitable[Server]]
BOB = "bob!~bob@127.0.0.1"


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisProcess) -> AsyncIterator[Start]:
    """Nodes of one network; each has the operator ``root`` (password ``opsecret``)."""
    started: list[Server] = []

    async def _start(**sections: dict[str, Any]) -> Server:
        name = f"n{len(started) + 1}"
        folder = tmp_path / name
        folder.mkdir()
        cfg = redis_config(folder, redis_server, name, **sections)
        root = OperatorConfig(name="root", password_hash=hash_password("opsecret"))
        srv = Server(dataclasses.replace(cfg, operators=(root,)))
        await srv.start()
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


async def _client(srv: Server, nick: str, made: list[RawClient], **kw: Any) -> RawClient:
    c = await RawClient.connect(srv.port)
    made.append(c)
    await c.registered_and_joined(nick, **kw)
    return c


@pytest.fixture
async def made() -> AsyncIterator[list[RawClient]]:
    clients: list[RawClient] = []
    yield clients
    for c in clients:
        await c.close()


def _is(command: str, *params: str) -> Callable[[Message], bool]:
    def pred(m: Message) -> bool:
        return m.command == command and m.params[1 : 1 + len(params)] == params

    return pred


def _commands(c: RawClient, command: str) -> int:
    """How many lines ``c`` was sent with ``command`` (a source, then the command)."""
    return sum(line.split(" ")[1:2] == [command] for line in c.lines if line.startswith(":"))


def _count(c: RawClient, numeric: str, target: str) -> int:
    return sum(f" {numeric} " in line and line.endswith(target) for line in c.lines)


async def test_monitor_follows_a_nick_on_another_node(nodes: Start, made: list[RawClient]) -> None:
    """monitor: 731 when added while offline; 730 with the mask when the nick connects on
    another node; ``MONITOR +`` and ``MONITOR S`` on a third connection see it online there;
    a NICK on the other node is 731 for the old nick and 730 for the new one (a change of case
    only is nothing); QUIT there is 731, the nick as last spelled."""
    n1, n2 = await nodes(), await nodes()
    alice = await _client(n1, "alice", made)
    alice.send("MONITOR + bob,Robert")
    got = await alice.expect("731")
    assert set(got.params[1].split(",")) == {"bob", "Robert"}
    bob = await _client(n2, "bob", made)
    assert (await alice.expect("730")).params[1] == BOB
    # asked when bob is already online elsewhere: 730 at once, then S says the same
    carol = await _client(n1, "carol", made)
    carol.send("MONITOR + Bob,nobody")
    assert (await carol.expect("730")).params[1] == BOB
    assert (await carol.expect("731")).params[1] == "nobody"
    carol.send("MONITOR S")
    assert (await carol.expect("730")).params[1] == BOB
    assert (await carol.expect("731")).params[1] == "nobody"
    # a nick change on the other node
    bob.send("NICK Robert")
    await alice.expect(_is("731", "bob"))
    await alice.expect(_is("730", "Robert!~bob@127.0.0.1"))
    await carol.expect(_is("731", "bob"))
    bob.send("NICK ROBERT")  # the same nick in another case: the watchers hear nothing
    await alice.expect(lambda m: m.command == "NICK" and m.params == ("ROBERT",))
    bob.send("NICK bob")
    await alice.expect(_is("731", "ROBERT"))
    await alice.expect(_is("730", BOB))
    alice.send("MONITOR S")
    online = await alice.expect("730")
    assert online.params[1] == BOB
    assert (await alice.expect("731")).params[1] == "Robert"
    # a quit on the other node
    bob.send("QUIT :bye")
    await alice.expect(_is("731", "bob"))
    await carol.expect(_is("731", "bob"))
    alice.send("MONITOR S")
    status = await alice.expect("731")
    assert set(status.params[1].split(",")) == {"bob", "Robert"}
    await alice.sync()
    assert _count(alice, "730", BOB) == 3  # bob connected, came back from Robert, S
    assert _count(alice, "730", "Robert!~bob@127.0.0.1") == 1
    assert not any(" 730 " in line and "ROBERT" in line for line in alice.lines)
    # the nick is free here again: a local connection may take it
    bob2 = await _client(n1, "bob", made)
    await alice.expect(_is("730", BOB))
    await bob2.sync()


async def test_extended_monitor_across_nodes(nodes: Start, made: list[RawClient]) -> None:
    """extended-monitor: a watcher outside the watched user's channels gets, once each, its
    AWAY (away-notify), its ACCOUNT when it registers (account-notify), its SETNAME (setname;
    WHOIS shows the new real name) and an operator's CHGHOST of it (chghost), all done on
    another node; a watcher without extended-monitor gets none of them."""
    n1, n2 = await nodes(), await nodes()
    caps = "extended-monitor away-notify account-notify setname chghost"
    watcher = await _client(n1, "watcher", made, caps=caps)
    plain = await _client(n1, "plain", made, caps="away-notify account-notify setname chghost")
    for c in (watcher, plain):
        c.send("PART #general", "MONITOR + dana")
        await c.expect("731")
    dana = await _client(n2, "dana", made, caps="draft/account-registration")
    await watcher.expect("730")
    await plain.expect("730")
    dana.send("AWAY :lunch")
    away = await watcher.expect("AWAY")
    assert (away.source, away.params) == ("dana!~dana@127.0.0.1", ("lunch",))
    dana.send("AWAY")
    back = await watcher.expect("AWAY")
    assert (back.source, back.params) == ("dana!~dana@127.0.0.1", ())
    dana.send("REGISTER * * dana-secret")
    await dana.expect(lambda m: m.command == "REGISTER" and m.params[0] == "SUCCESS")
    account = await watcher.expect("ACCOUNT")
    assert (account.source, account.params) == ("dana!~dana@127.0.0.1", ("dana",))
    watcher.send("WHOIS dana")  # the real name it registered with, on its own node
    assert (await watcher.expect("311")).params[-1] == "dana"
    await watcher.expect("318")
    dana.send("SETNAME :Dana Scully")
    name = await watcher.expect("SETNAME")
    assert (name.source, name.params) == ("dana!~dana@127.0.0.1", ("Dana Scully",))
    watcher.send("WHOIS dana")
    assert (await watcher.expect("311")).params[-1] == "Dana Scully"
    await watcher.expect("318")
    root = await _client(n2, "root", made)
    root.send("OPER root opsecret")
    await root.expect("381")
    root.send("CHGHOST dana cloak.example")
    await root.expect(lambda m: m.command == "NOTICE" and "host is now" in m.params[-1])
    host = await watcher.expect("CHGHOST")
    assert (host.source, host.params) == ("dana!~dana@127.0.0.1", ("~dana", "cloak.example"))
    await watcher.sync()
    assert _commands(watcher, "AWAY") == 2
    assert _commands(watcher, "ACCOUNT") == 1
    assert _commands(watcher, "CHGHOST") == 1
    assert _commands(watcher, "SETNAME") == 1
    assert _commands(watcher, "NICK") == 0  # the host changed, not the nick
    watcher.send("MONITOR S")  # shown with its new host
    assert (await watcher.expect("730")).params[1] == "dana!~dana@cloak.example"
    await plain.sync()
    assert [_commands(plain, w) for w in ("AWAY", "ACCOUNT", "SETNAME", "CHGHOST")] == [0] * 4


async def test_extended_monitor_peer_gets_a_remote_change_once(
    nodes: Start, made: list[RawClient]
) -> None:
    """extended-monitor: a watcher that also shares a channel with the watched user (on
    another node) gets its AWAY once, not once as a peer and once as a watcher."""
    n1, n2 = await nodes(), await nodes()
    watcher = await _client(n1, "watcher", made, caps="extended-monitor away-notify")
    watcher.send("MONITOR + erin")
    await watcher.expect("731")
    erin = await _client(n2, "erin", made)
    await watcher.expect("730")
    erin.send("AWAY :out")
    await watcher.expect("AWAY")
    await erin.sync()
    await watcher.sync()
    assert _commands(watcher, "AWAY") == 1


async def test_monitor_offline_when_the_nicks_node_dies(
    tmp_path: Path, redis_server: RedisProcess
) -> None:
    """monitor: the watched nick's node is killed with kill -9; within ``node_timeout`` the
    watcher on another node gets 731 for it, and ``MONITOR S`` shows it offline."""
    sections = {"server": {"node_timeout": 1.5}}
    (tmp_path / "a").mkdir()
    n1 = Server(redis_config(tmp_path / "a", redis_server, "n1", **sections))
    await n1.start()
    proc, port = await _spawn_node(tmp_path, redis_server, "n2")
    try:
        alice = await RawClient.connect(n1.port)
        await alice.registered_and_joined("alice")
        alice.send("PART #general", "MONITOR + frank")
        await alice.expect("731")
        frank = await RawClient.connect(port)
        await frank.registered_and_joined("frank")
        assert (await alice.expect("730")).params[1] == "frank!~frank@127.0.0.1"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await alice.expect(_is("731", "frank"), timeout=10)
        assert loop.time() - started < 1.5 + 3.5  # node_timeout, a heartbeat or two, a turn
        alice.send("MONITOR S")
        assert (await alice.expect("731")).params[1] == "frank"
        await frank.close()
        await alice.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        await asyncio.wait_for(n1.stop(), TIMEOUT)
