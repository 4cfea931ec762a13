"""The real server on port 0 with a store whose appends complete only when the test says so
(issue 10, item 2): no client is sent a line before the events of its pass are durable, passes
leave in order (a PONG that produced no events waits behind an earlier held pass), and a failed
append stops the server with nothing of it sent (``ircd/irc/output.py``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ircd.durable import DONE, Durable
from ircd.server import Connection, Server
from ircd.storage import FileStore, LoadedState, StorageError
from tests.conftest import TIMEOUT, RawClient, make_config


class HeldStore:
    """A ``FileStore`` whose appends, while ``holding``, are durable only once ``settle``d (a
    networked log whose append has not returned yet). Or it raises (``broken``)."""

    def __init__(self, path: Path) -> None:
        self.inner = FileStore(path, fsync="never")
        self.holding = False
        self.broken = False
        self.pending: list[tuple[Durable, list[dict[str, Any]]]] = []
        self.settled = 0  # appends settled so far while holding

    def load(self, accept: Callable[[LoadedState], None] | None = None) -> LoadedState:
        return self.inner.load(accept)

    def append(self, events: Sequence[dict[str, Any]]) -> Durable:
        if self.broken:
            raise StorageError("journal: cannot append: No space left on device")
        self.inner.append(events)
        if not self.holding:
            return DONE
        d = Durable()
        self.pending.append((d, list(events)))
        return d

    def settle(self, error: BaseException | None = None) -> list[dict[str, Any]]:
        """Complete the oldest pending append; its events."""
        d, events = self.pending.pop(0)
        self.settled += 1
        if error is None:
            d.resolve()
        else:
            d.fail(error)
        return events

    def begin_snapshot(self, state: dict[str, Any]) -> Callable[[], None]:
        return self.inner.begin_snapshot(state)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[tuple[Server, HeldStore]]:
    store = HeldStore(tmp_path / "state.json")
    srv = Server(make_config(tmp_path), store=store)
    await srv.start()
    yield srv, store
    for d, _ in store.pending:
        d.resolve()
    await asyncio.wait_for(srv.stop(), TIMEOUT)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bytes]]:
    """Every write the server makes to any connection, with how many held appends had been
    settled when it was made."""
    log: list[tuple[int, bytes]] = []
    real = Connection.send

    def send(self: Connection, data: bytes) -> int:
        store = self.server.store
        log.append((store.settled if isinstance(store, HeldStore) else -1, data))
        return real(self, data)

    monkeypatch.setattr(Connection, "send", send)
    return log


async def until(cond: Callable[[], bool], what: str) -> None:
    """Until ``cond()`` holds (server-side state), at most TIMEOUT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not cond():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def held_for(srv: Server, nick: str) -> bytes:
    """What the server holds for ``nick``'s connection (passes not yet durable)."""
    s = srv.hub.session_by_nick(nick)
    return b"".join(d for _, pieces, _ in srv.outbox.passes for x, d, _ in pieces if x is s)


async def joined(srv: Server, nick: str) -> RawClient:
    c = await RawClient.connect(srv.port)
    await c.registered_and_joined(nick)
    return c


async def test_nobody_sees_a_post_before_it_is_durable_and_passes_keep_their_order(
    held: tuple[Server, HeldStore], writes: list[tuple[int, bytes]]
) -> None:
    srv, store = held
    alice, bob = await joined(srv, "alice"), await joined(srv, "bob")
    await alice.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bob!"))
    store.holding = True
    alice.send("PRIVMSG #general :first")
    await until(lambda: len(store.pending) == 1, "the post's append")
    # bob's PING makes no event; its PONG waits behind the held pass all the same
    bob.send("PING :probe")
    await until(lambda: b"PONG" in held_for(srv, "bob"), "the PONG")
    alice.send("PRIVMSG #general :second")
    await until(lambda: len(store.pending) == 2, "the second post's append")
    assert not any(b"first" in data or b"probe" in data for _, data in writes)
    store.pending[1][0].resolve()  # a later append settling first releases nothing
    await until(lambda: not srv._flush_scheduled, "the flush")
    assert srv.outbox.pending and b"second" in held_for(srv, "bob")
    assert not any(b"first" in data or b"second" in data for _, data in writes)
    events = store.settle()
    assert "first" in json.dumps(events) and "second" not in json.dumps(events)
    m1 = await bob.expect("PRIVMSG")
    pong = await bob.expect("PONG")
    m2 = await bob.expect("PRIVMSG")
    assert (m1.params[1], pong.params[-1], m2.params[1]) == ("first", "probe", "second")
    # every byte that showed the post was written after its append had been settled
    assert [settled for settled, data in writes if b"first" in data] == [1]  # to bob
    store.pending.pop(0)  # (resolved above)
    store.holding = False
    alice.send("PRIVMSG #general :now")  # a synchronous append again: at once
    assert (await bob.expect("PRIVMSG")).params[1] == "now"
    await alice.close()
    await bob.close()


async def test_a_failed_append_stops_the_server_and_nobody_sees_the_lost_post(
    held: tuple[Server, HeldStore], writes: list[tuple[int, bytes]]
) -> None:
    srv, store = held
    alice, bob = await joined(srv, "alice"), await joined(srv, "bob")
    await alice.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bob!"))
    store.holding = True
    alice.send("PRIVMSG #general :lost")
    await until(lambda: len(store.pending) == 1, "the post's append")
    bob.send("PING :after")
    await until(lambda: b"after" in held_for(srv, "bob"), "the PONG")
    store.holding = False  # (the shutdown's own appends complete at once)
    store.settle(StorageError("journal: cannot append: No space left on device"))
    for c in (alice, bob):
        with pytest.raises(ConnectionError):  # the connection ends, without the post
            await c.expect(lambda m: m.command == "PRIVMSG" or m.command == "PONG")
        assert "Storage failure" in c.lines[-1]  # the shutdown's ERROR
    assert srv.closing
    assert not any(b"lost" in data for _, data in writes)
    assert not any(b"after" in data for _, data in writes)  # it came after the lost pass


async def test_an_append_that_raises_stops_the_server_and_nobody_sees_the_post(
    held: tuple[Server, HeldStore], writes: list[tuple[int, bytes]]
) -> None:
    srv, store = held
    alice, bob = await joined(srv, "alice"), await joined(srv, "bob")
    await alice.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bob!"))
    store.broken = True
    alice.send("PRIVMSG #general :never")
    await until(lambda: srv.closing, "the shutdown")
    for c in (alice, bob):
        with pytest.raises(ConnectionError):  # the connection ends, without the post
            await c.expect(lambda m: m.command == "PRIVMSG")
    assert not any(b"never" in data for _, data in writes)
