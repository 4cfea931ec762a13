"""The network's write turn (docs/scale-out.md, "One decision at a time"): a line that decides
on the shared state waits for it; a read is answered from the node's applied state at once,
even while another node holds the turn, but never ahead of an earlier line of its own
connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from ircd.server import Server
from ircd.storage.redis_store import _ACQUIRE, _RELEASE, RedisStore
from tests.conftest import TIMEOUT, RawClient
from tests.scale.conftest import RedisProcess
from tests.scale.test_redis_node import redis_config

HOLDER = "test/holder"


async def take_turn(r: redis.Redis, store: RedisStore) -> None:
    """Take the turn as a stand-in for a busy node that keeps it (30 s): asked the way a node
    asks, so the node holding it gives it back."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    keys = (
        store.turn_key,
        store.stream,
        store.last_key,
        store.waiters_key,
        store.grant_prefix + HOLDER,
    )
    args = (HOLDER, 30_000, store.wanted_prefix)
    while True:
        got = await asyncio.to_thread(r.eval, _ACQUIRE, len(keys), *keys, *args)
        if int(got[0]) == 1:
            return
        assert loop.time() < deadline, "the node never gave the turn back"
        await asyncio.sleep(0.005)


async def test_reads_do_not_wait_for_the_turn(tmp_path: Path, redis_server: RedisProcess) -> None:
    """Modern IRC, PING, NAMES, WHOIS, MODE (https://modern.ircdocs.horse/#ping-message,
    #names-message, #whois-message, #mode-message): while another node holds the write turn,
    PING, NAMES, WHOIS and a MODE query are answered at once; a PRIVMSG waits for the turn,
    and a PING sent after it is answered only after it (a connection's replies keep their
    order)."""
    folders = [tmp_path / "n1", tmp_path / "n2"]
    for f in folders:
        f.mkdir()
    n1 = Server(redis_config(folders[0], redis_server, "n1"))
    n2 = Server(redis_config(folders[1], redis_server, "n2"))
    await n1.start()
    await n2.start()
    r = redis.Redis.from_url(redis_server.url)
    a = await RawClient.connect(n1.port)
    b = await RawClient.connect(n2.port)
    try:
        await a.registered_and_joined("alice")
        await b.registered_and_joined("bob")
        await a.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bob!"))
        assert isinstance(n1.store, RedisStore)
        await take_turn(r, n1.store)

        a.send("PING :read1", "NAMES #general", "WHOIS bob", "MODE #general")
        await a.expect(lambda m: m.command == "PONG" and m.params[-1] == "read1")
        names = await a.expect("353")
        assert "bob" in names.params[-1].split()
        await a.expect("366")
        await a.expect(lambda m: m.command == "311" and m.params[1] == "bob")
        await a.expect("318")
        await a.expect("324")

        a.send("PRIVMSG #general :decided with the turn", "PING :after-write")
        with pytest.raises(AssertionError):  # the turn is held elsewhere: nothing decided
            await b.expect(lambda m: m.command == "PRIVMSG", timeout=0.5)
        with pytest.raises(AssertionError):  # and the later read waits behind the write
            await a.expect(lambda m: m.command == "PONG" and m.params[-1] == "after-write", 0.3)

        await asyncio.to_thread(r.delete, n1.store.turn_key)  # the busy node gives it back
        got = await b.expect(lambda m: m.command == "PRIVMSG")
        assert got.params[-1] == "decided with the turn"
        await a.expect(lambda m: m.command == "PONG" and m.params[-1] == "after-write")
    finally:
        await a.close()
        await b.close()
        r.close()
        for srv in (n1, n2):
            await asyncio.wait_for(srv.stop(), TIMEOUT)


def test_turn_handed_to_the_first_live_waiter(redis_server: RedisProcess) -> None:
    """docs/scale-out.md, "Passing the turn": a holder that gives the turn back hands it
    straight to the waiter that asked first and is still asking (with the stream's tail on
    its grant list), skipping one silent for longer than 250 ms; with nobody waiting the turn
    is free; each waiter's ask lands on the holder's own wanted list."""
    store = RedisStore(redis_server.url, "n1", "net")
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:

        def acquire(origin: str) -> int:
            keys = (
                store.turn_key,
                store.stream,
                store.last_key,
                store.waiters_key,
                store.grant_prefix + origin,
            )
            got = r.eval(_ACQUIRE, len(keys), *keys, origin, 2000, store.wanted_prefix)
            return int(got[0])

        def release(origin: str) -> None:
            keys = (store.turn_key, store.waiters_key, store.stream, store.last_key)
            r.eval(_RELEASE, len(keys), *keys, origin, 2000, store.grant_prefix)

        r.set(store.last_key, "5-0 a/1")
        assert acquire("a/1") == 1
        assert acquire("b/1") == 0
        assert acquire("c/1") == 0
        assert r.lrange(store.wanted_prefix + "a/1", 0, -1) == ["b/1", "c/1"]
        first_b = r.hget(store.waiters_key, "b/1")
        assert acquire("b/1") == 0  # asking again keeps its place
        assert r.hget(store.waiters_key, "b/1").split()[0] == first_b.split()[0]
        r.hset(store.waiters_key, "dead/1", "1 1")  # asked first, silent since
        release("a/1")
        assert r.get(store.turn_key) == "b/1"
        assert r.lpop(store.grant_prefix + "b/1") == "5-0 a/1"
        assert not r.hexists(store.waiters_key, "dead/1")
        assert acquire("b/1") == 1  # its own: taken (and its grant list cleared)
        assert acquire("c/1") == 0  # still asking
        release("b/1")
        assert r.get(store.turn_key) == "c/1"
        release("c/1")
        assert r.get(store.turn_key) is None  # nobody waits: free
    finally:
        r.close()
        store.close()
