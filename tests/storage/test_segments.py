"""Segmented snapshots (FileStore.begin_segmented_snapshot, snapshot.dump_segmented/load_rows):
posts live in append-only segment files written once, a snapshot writes the small state and
the new posts only. Round trips, the old (inline) format, crashes between the steps, and
files that are damaged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ircd.clock import FakeClock
from ircd.messenger.engine import Messenger
from ircd.messenger.validate import StateError
from ircd.storage import FileStore, StorageError, read_segments
from ircd.storage import store as store_mod
from tests.messenger.helpers import account, clock_of, dm, durable, make, say
from tests.messenger.sample_state import T0


def new_engine(**rules: Any) -> Messenger:
    rules.setdefault("messages_per_period", 10**9)
    rules.setdefault("private_burst", 10**9)
    rules.setdefault("private_per_second", 1e9)
    m = make(FakeClock(T0), **rules)
    m.pin_server_id()
    for k in ("alice", "bob", "carol"):
        account(m, k)
        m.join(k, "#general", "#general")
    return m


def journal(m: Messenger, store: FileStore) -> None:
    store.append(m.take_events())


def snapshot(m: Messenger, store: FileStore, *, commit: bool = True) -> Any:
    """What Server._snapshot does for a FileStore (the thread's part run here)."""
    journal(m, store)
    dump = m.to_segmented(store.segment_rows)
    store.begin_segmented_snapshot(dump.state, dump.chunks, dump.rewrite, dump.purge)()
    if commit:
        dump.commit()
    return dump


def restart(path: Path, m: Messenger) -> tuple[Messenger, FileStore]:
    """A new process: load the files, build the engine, replay the journal (server.restore)."""
    store = FileStore(path)
    loaded = store.load()
    if loaded.snapshot is None:
        fresh = Messenger(clock_of(m), m.rules)
    else:
        rows = read_segments(loaded.segments)
        fresh = Messenger.from_dict(loaded.snapshot, clock_of(m), m.rules, rows)
    fresh.replay(loaded.events)
    return fresh, store


def same(a: Messenger, b: Messenger) -> None:
    assert durable(a) == durable(b)
    assert a.server_id == b.server_id


def segment_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if ".seg-" in p.name)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


def test_round_trip_rooms_private_redactions_and_tags(path: Path) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(40):
        say(m, "alice", "#general", f"hello {i}")
        dm(m, "bob", "carol", f"psst {i}")
    tagged = m.post_room("bob", "Bob", "bob!u@host", "#general", "tagged", tags={"+x": "1"})
    snapshot(m, store)
    m.redact("alice", "#general", m.rooms["#general"].history[3].msgid, private=False)
    say(m, "carol", "#general", "after the first snapshot")
    snapshot(m, store)
    say(m, "carol", "#general", "only in the journal")
    journal(m, store)
    store.close()
    again, store2 = restart(path, m)
    same(m, again)
    assert again.rooms["#general"].history[-1].text == "only in the journal"
    assert any(p.tags == tagged.tags for p in again.rooms["#general"].history)
    store2.close()


def test_a_snapshot_writes_only_what_changed(path: Path) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(500):
        say(m, "alice", "#general", f"post {i}")
    first = snapshot(m, store)
    assert len(first.posts) == 500
    one = snapshot(m, store)
    assert one.posts == []  # nothing new: no segment written
    say(m, "bob", "#general", "one change")
    dump = snapshot(m, store)
    assert [p.text for p in dump.posts] == ["one change"]
    state = json.loads(path.read_bytes())
    assert state["state"]["rooms"][0]["history"] == []
    assert state["state"]["segmented"]["rooms"]["#general"][2] == 501
    assert path.stat().st_size < 4000  # the snapshot file does not grow with the history
    store.close()


def test_segments_merge_into_few_files(path: Path) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for k in range(64):
        say(m, "alice", "#general", f"round {k}")
        snapshot(m, store)
        # sizes strictly decrease from the oldest: at most log2 of the rounds, plus one
        sizes = [os.path.getsize(f) for f in store.segment_files]
        assert sizes == sorted(sizes, reverse=True)
        assert len(sizes) <= 8
    assert store.segment_rows == 64
    assert len(segment_files(path)) == len(store.segment_files)  # the merged ones are gone
    store.close()
    again, store2 = restart(path, m)
    same(m, again)
    store2.close()


def test_dead_posts_are_compacted_away(path: Path) -> None:
    m = new_engine(history_per_room=100)
    store = FileStore(path)
    store.load()
    rewrites = 0
    for k in range(130):
        for i in range(100):
            say(m, "alice", "#general", f"{k}/{i}")
        rewrites += snapshot(m, store).rewrite and k > 0  # (the first writes all: no segments)
        # the retention trim keeps 100 posts; the segments never hold more than the dead
        # limit (10 000) above them, and this snapshot's 100
        assert store.segment_rows <= 100 + 10000 + 100
    assert rewrites == 1
    store.close()
    again, store2 = restart(path, m)
    same(m, again)
    assert len(again.rooms["#general"].history) == 100
    store2.close()


def test_a_deleted_message_leaves_the_files_with_the_next_snapshot(path: Path) -> None:
    """REDACT: the text is in no file once the next snapshot is written, although it was in
    a segment already (that segment is written anew without it); nothing else is lost."""
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(2000):
        say(m, "alice", "#general", f"keep {i}")
    secret = say(m, "bob", "#general", "the secret to delete")
    for i in range(5):
        say(m, "alice", "#general", f"after {i}")
    snapshot(m, store)
    say(m, "alice", "#general", "one more")  # a second segment
    snapshot(m, store)

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file())

    assert b"the secret to delete" in on_disk()
    m.redact("bob", "#general", secret.msgid, private=False)
    dump = snapshot(m, store)
    assert dump.purge == {secret.seq}
    assert b"the secret to delete" not in on_disk()
    assert m.deleted == set()
    assert store.segment_rows == 2000 + 5 + 1
    store.close()
    again, store2 = restart(path, m)
    same(m, again)
    store2.close()


def test_a_room_that_ceased_and_came_back_does_not_get_its_old_posts(path: Path) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    m.join("alice", "#side", "#side")
    say(m, "alice", "#side", "old")
    snapshot(m, store)
    m.part("alice", "#side")  # nobody left: #side ceases with its history
    m.join("bob", "#side", "#side")
    say(m, "bob", "#side", "new")
    snapshot(m, store)
    store.close()
    again, store2 = restart(path, m)
    assert [p.text for p in again.rooms["#side"].history] == ["new"]
    same(m, again)
    store2.close()


def test_an_old_inline_snapshot_and_its_journal_still_load_and_migrate(path: Path) -> None:
    """The format every earlier server wrote: the whole state, posts inline."""
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(30):
        say(m, "alice", "#general", f"old format {i}")
        dm(m, "alice", "bob", f"old dm {i}")
    journal(m, store)
    store.begin_snapshot(m.to_dict())()
    say(m, "bob", "#general", "journal after the old snapshot")
    journal(m, store)
    store.close()
    doc = json.loads(path.read_bytes())
    assert "segments" not in doc and doc["state"]["schema"] == 1
    assert len(doc["state"]["rooms"][0]["history"]) == 31 - 1  # the last one is journaled
    again, store2 = restart(path, m)
    same(m, again)
    # the first snapshot now writes every post once, into a segment
    dump = snapshot(again, store2)
    assert len(dump.posts) == 61
    store2.close()
    third, store3 = restart(path, m)
    same(m, third)
    store3.close()


def test_a_whole_state_snapshot_between_segmented_ones_loses_nothing(path: Path) -> None:
    """A whole-state snapshot (posts inline) drops the segments; the next segmented one then
    writes every post again, whatever the histories remember having written."""
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(20):
        say(m, "alice", "#general", f"x{i}")
    snapshot(m, store)
    journal(m, store)
    store.begin_snapshot(m.to_dict())()
    assert segment_files(path) == []
    say(m, "bob", "#general", "after")
    dump = snapshot(m, store)
    assert len(dump.posts) == 21
    store.close()
    again, store2 = restart(path, m)
    same(m, again)
    store2.close()


def test_older_servers_refuse_a_segmented_snapshot(path: Path) -> None:
    """Its state says schema 2: a server that knows only 1 stops, rather than starting with
    no history and writing over the files."""
    m = new_engine()
    store = FileStore(path)
    store.load()
    say(m, "alice", "#general", "x")
    snapshot(m, store)
    store.close()
    state = json.loads(path.read_bytes())["state"]
    assert state["schema"] == 2
    state.pop("segmented")
    with pytest.raises(StateError, match="unsupported state schema 2"):
        Messenger.from_dict(state, FakeClock(T0))


# ---------------------------------------------------------------------- crashes and damage


class Boom(Exception):
    pass


def test_crash_after_the_segment_before_the_snapshot_loses_nothing(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(20):
        say(m, "alice", "#general", f"a{i}")
    snapshot(m, store)
    for i in range(5):
        say(m, "bob", "#general", f"b{i}")
    journal(m, store)

    def crash(*_: Any) -> None:
        raise Boom

    monkeypatch.setattr(store_mod, "write_atomic", crash)
    with pytest.raises(Boom):
        snapshot(m, store, commit=False)
    monkeypatch.undo()
    # the new segment exists, no snapshot names it; the journal (.journal.1) has its posts
    assert len(segment_files(path)) == 2
    store.close()
    again, store2 = restart(path, m)
    same(m, again)
    # the next snapshot writes those posts again and removes the orphan
    snapshot(again, store2)
    assert segment_files(path) == sorted(os.path.basename(f) for f in store2.segment_files)
    store2.close()
    third, store3 = restart(path, m)
    same(m, third)
    store3.close()


def test_crash_after_the_snapshot_before_the_trim_loses_nothing(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for k in range(3):
        for i in range(10):
            say(m, "alice", "#general", f"{k}-{i}")

        def crash(*_: Any) -> None:
            raise Boom

        if k == 2:
            monkeypatch.setattr(FileStore, "_after_snapshot", crash)
            with pytest.raises(Boom):
                snapshot(m, store, commit=False)
        else:
            snapshot(m, store)
    monkeypatch.undo()
    assert os.path.exists(str(path) + ".journal.1")  # not trimmed
    again, store2 = restart(path, m)  # (a crash now)
    same(m, again)
    store2.close()
    # the server saw the snapshot fail and did not commit it: its next snapshot writes the
    # same posts again, and a load skips the second copy
    dump = snapshot(m, store)
    assert len(dump.posts) == 10
    store.close()
    third, store3 = restart(path, m)
    same(m, third)
    store3.close()


def test_a_failed_write_of_the_segment_leaves_no_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(2000):
        say(m, "alice", "#general", f"x{i}")
    journal(m, store)
    real = store_mod._write_all
    calls = 0

    def short(fd: int, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(store_mod, "_write_all", short)
    with pytest.raises(StorageError, match="cannot write segment: No space left"):
        snapshot(m, store, commit=False)
    monkeypatch.undo()
    assert segment_files(path) == []
    store.close()
    again, store2 = restart(path, m)  # all from the journal
    same(m, again)
    store2.close()


def test_a_missing_or_truncated_segment_is_refused(path: Path) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(10):
        say(m, "alice", "#general", f"x{i}")
    snapshot(m, store)
    store.close()
    (seg,) = segment_files(path)
    where = path.parent / seg
    data = where.read_bytes()
    where.write_bytes(data[:-5])
    with pytest.raises(StorageError, match=r"\.seg-.* has \d+ bytes, \d+ expected"):
        FileStore(path).load()
    where.unlink()
    with pytest.raises(StorageError, match="segment of the snapshot missing"):
        FileStore(path).load()


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (0, "7", r"segment row 1.*seq"),
        (3, "SHOUT", r"segment row 1.*k: expected PRIVMSG or NOTICE"),
        (4, "a b", r"segment row 1.*\.s"),
        (11, "hi\r\nQUIT", r"segment row 1.*txt"),
        (8, ["#general"], r"segment row 1.*\.r"),
    ],
)
def test_a_bad_row_says_where(path: Path, index: int, value: Any, message: str) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    say(m, "alice", "#general", "x")
    snapshot(m, store)
    store.close()
    doc = json.loads(path.read_bytes())
    seg = path.parent / doc["segments"][0]["file"]
    (line,) = seg.read_bytes().splitlines()
    rows = json.loads(line)
    rows[0][index] = value
    data = (json.dumps(rows) + "\n").encode()
    seg.write_bytes(data)
    doc["segments"][0]["bytes"] = len(data)
    path.write_bytes(json.dumps(doc).encode())
    loaded = FileStore(path).load()
    assert loaded.snapshot is not None
    with pytest.raises(StateError, match=message):
        Messenger.from_dict(loaded.snapshot, FakeClock(T0), m.rules, read_segments(loaded.segments))


def test_posts_missing_from_the_segments_are_refused(path: Path) -> None:
    m = new_engine()
    store = FileStore(path)
    store.load()
    for i in range(3):
        say(m, "alice", "#general", f"x{i}")
    snapshot(m, store)
    store.close()
    loaded = FileStore(path).load()
    assert loaded.snapshot is not None
    rows = [chunk[:-1] for chunk in read_segments(loaded.segments)]  # the last post lost
    with pytest.raises(StateError, match=r"3 posts expected, the segments hold 2"):
        Messenger.from_dict(loaded.snapshot, FakeClock(T0), m.rules, rows)


# ---------------------------------------------------------------------- property


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(["alice", "bob", "carol"]), st.integers(1, 30)),
        st.tuples(st.just("dm"), st.sampled_from(["alice", "bob"]), st.integers(1, 10)),
        st.tuples(st.just("redact"), st.integers(0, 200)),
        st.tuples(st.just("side"), st.sampled_from(["join", "part"])),
        st.tuples(st.just("snapshot"), st.booleans()),
        st.tuples(st.just("restart")),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_any_sequence_of_posts_snapshots_and_restarts_round_trips(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]]
) -> None:
    """Whatever happens between snapshots (posts, deletions, a room ceasing and coming back,
    a snapshot that failed before its commit), a restart gives the same state."""
    path = tmp_path_factory.mktemp("seg") / "state.json"
    m = new_engine(history_per_room=50, history_per_private=20)
    store = FileStore(path)
    store.load()
    n = 0
    for op in ops:
        if op[0] == "say":
            for _ in range(op[2]):
                n += 1
                say(m, op[1], "#general", f"m{n}")
                if "#side" in m.rooms and op[1] in m.rooms["#side"].members:
                    say(m, op[1], "#side", f"s{n}")
        elif op[0] == "dm":
            for _ in range(op[2]):
                n += 1
                dm(m, op[1], "carol", f"d{n}")
        elif op[0] == "redact":
            hist = m.rooms["#general"].history
            if hist:
                p = hist[op[1] % len(hist)]
                m.redact(p.sender, "#general", p.msgid, private=False)
        elif op[0] == "side":
            if op[1] == "join":
                m.join("alice", "#side", "#side")
            elif "#side" in m.rooms and "alice" in m.rooms["#side"].members:
                m.part("alice", "#side")
        elif op[0] == "snapshot":
            snapshot(m, store, commit=op[1])
        else:
            journal(m, store)
            store.close()
            m, store = restart(path, m)
    journal(m, store)
    store.close()
    again, store2 = restart(path, m)
    same(m, again)
    store2.close()
