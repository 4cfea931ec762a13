"""The Redis store on a real redis-server: compare-and-append, held Durables, snapshots with
trimming, load = snapshot + stream tail, retries while Redis is down."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from ircd.durable import Durable
from ircd.storage import LoadedState, StorageError
from ircd.storage.redis_store import RedisStore, StreamEntry
from tests.scale.conftest import RedisProcess


class Loop:
    """Stands in for the event loop's thread: what the store posts runs in ``run_until``."""

    def __init__(self) -> None:
        self.q: queue.Queue[Callable[[], None]] = queue.Queue()
        self.status: list[tuple[bool, str]] = []
        self.entries: list[StreamEntry] = []
        self.conflicts: list[str] = []

    def run_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out")
            try:
                fn = self.q.get(timeout=left)
            except queue.Empty:
                continue
            fn()

    def start(self, store: RedisStore, *, read: bool = False) -> None:
        store.start(
            self.q.put,
            lambda up, why: self.status.append((up, why)),
            (lambda es, _last: self.entries.extend(es)) if read else None,
            self.conflicts.append,
        )


def ev(i: int) -> dict[str, Any]:
    return {"t": "x", "i": i}


def open_store(r: RedisProcess, node: str = "n1") -> tuple[RedisStore, LoadedState]:
    store = RedisStore(r.url, node, "t")
    return store, store.load()


def test_append_resolves_once_in_redis_and_loads_back(redis_server: RedisProcess) -> None:
    store, loaded = open_store(redis_server)
    assert loaded.snapshot is None and loaded.events == []
    loop = Loop()
    loop.start(store)
    d1 = store.append([ev(1), ev(2)])
    d2 = store.append([ev(3)])
    assert not d1.done  # held until Redis answered
    loop.run_until(lambda: d1.done and d2.done)
    assert d1.error is None and d2.error is None
    store.close()
    again, loaded = open_store(redis_server, "n2")
    assert loaded.events == [ev(1), ev(2), ev(3)]
    again.close()


def test_snapshot_then_tail_and_trim(redis_server: RedisProcess) -> None:
    store, _ = open_store(redis_server)
    loop = Loop()
    loop.start(store)
    ds = [store.append([ev(i)]) for i in range(5)]
    write = store.begin_snapshot({"upto": 4})
    after = store.append([ev(99)])
    loop.run_until(lambda: all(d.done for d in [*ds, after]))
    from ircd.messenger.snapshot import SNAPSHOT_VERSION

    write()  # in a worker thread on a server
    client = redis.Redis.from_url(redis_server.url)
    assert client.xlen("t:stream") == 2  # the snapshot's own entry and the one after it
    store.close()
    again, loaded = open_store(redis_server, "n2")
    assert loaded.snapshot == {"upto": 4}
    assert loaded.events == [ev(99)]
    doc = client.hget("t:snapshot", "doc")
    assert doc is not None and f'"version":{SNAPSHOT_VERSION}'.encode() in doc
    again.close()


def test_two_writers_on_the_same_position_one_wins(redis_server: RedisProcess) -> None:
    """Compare-and-append: the second pass decided on the same stream position is refused."""
    a, _ = open_store(redis_server, "a")
    b, _ = open_store(redis_server, "b")
    loop = Loop()
    loop.start(a)
    loop.start(b)
    da = a.append([ev(1)])
    loop.run_until(lambda: da.done)
    db = b.append([ev(2)])  # b had not seen a's entry
    loop.run_until(lambda: db.done)
    assert da.error is None
    assert isinstance(db.error, StorageError) and "another node appended" in str(db.error)
    assert len(loop.conflicts) == 1
    a.close()
    b.close()
    c, loaded = open_store(redis_server, "c")
    assert loaded.events == [ev(1)]
    c.close()


def test_reader_hands_over_other_nodes_entries_in_order(redis_server: RedisProcess) -> None:
    a, _ = open_store(redis_server, "a")
    b, _ = open_store(redis_server, "b")
    la, lb = Loop(), Loop()
    la.start(a)
    lb.start(b, read=True)
    ds = [a.append([ev(i)]) for i in range(3)]
    la.run_until(lambda: all(d.done for d in ds))
    lb.run_until(lambda: len(lb.entries) == 3)
    assert [e.events for e in lb.entries] == [[ev(0)], [ev(1)], [ev(2)]]
    assert all(e.origin == a.origin for e in lb.entries)
    # b decides on what it applied: its append lands after a's entries
    b.applied(lb.entries[-1].id)
    d = b.append([ev(3)])
    lb.run_until(lambda: d.done)
    assert d.error is None
    a.close()
    b.close()


def test_redis_down_holds_the_pass_and_resumes(redis_server: RedisProcess) -> None:
    """Nothing is acknowledged while Redis is down; the pass is appended once it is back,
    exactly once."""
    store, _ = open_store(redis_server)
    loop = Loop()
    loop.start(store)
    d0 = store.append([ev(0)])
    loop.run_until(lambda: d0.done)
    redis_server.kill()
    d1: Durable = store.append([ev(1)])
    loop.run_until(lambda: any(not up for up, _ in loop.status))
    assert not d1.done
    redis_server.start()
    loop.run_until(lambda: d1.done, timeout=15)
    assert d1.error is None
    assert loop.status[-1] == (True, "")
    store.close()
    again, loaded = open_store(redis_server, "n2")
    assert loaded.events == [ev(0), ev(1)]
    again.close()


def test_unreachable_redis_at_start_is_one_clear_error() -> None:
    from tests.scale.conftest import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", "n", timeout=0.5)
    with pytest.raises(StorageError, match="cannot reach Redis"):
        store.load()
