"""Tests for ircd.storage: journal, snapshots, crash recovery."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ircd.storage import FileStore, LoadedState, StorageError, Store, write_atomic


def ev(i: int) -> dict[str, Any]:
    return {"t": "post", "i": i, "text": f"message {i} — ünïcode"}


def evs(start: int, stop: int) -> list[dict[str, Any]]:
    return [ev(i) for i in range(start, stop)]


def journal_ns(path: Path) -> list[int]:
    return [json.loads(line)["n"] for line in path.read_bytes().splitlines()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


@pytest.fixture
def jpath(state_path: Path) -> Path:
    return Path(str(state_path) + ".journal")


@pytest.fixture
def j1path(state_path: Path) -> Path:
    return Path(str(state_path) + ".journal.1")


def reload(state_path: Path, **kwargs: Any) -> LoadedState:
    store = FileStore(state_path, **kwargs)
    try:
        return store.load()
    finally:
        store.close()


@pytest.fixture
def zero_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# -- basics -----------------------------------------------------------------------------------


def test_no_files(state_path: Path) -> None:
    assert reload(state_path) == LoadedState(None, [])


@pytest.mark.parametrize("policy", ["always", "everysec", "never"])
def test_round_trip(state_path: Path, jpath: Path, policy: Any) -> None:
    store: Store = FileStore(state_path, fsync=policy)
    assert store.load() == LoadedState(None, [])
    store.append(evs(0, 3))
    store.append([])
    store.append(evs(3, 10))
    store.close()

    loaded = reload(state_path)
    assert loaded.snapshot is None
    assert loaded.events == evs(0, 10)
    first = jpath.read_bytes().split(b"\n")[0]
    assert first == ('{"n":1,"e":{"t":"post","i":0,"text":"message 0 — ünïcode"}}'.encode())
    assert journal_ns(jpath) == list(range(1, 11))


def test_sequence_continues_across_restarts(state_path: Path, jpath: Path) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 4))
    assert store.last_seq == 4
    store.close()

    store = FileStore(state_path, fsync="never")
    assert store.load().events == evs(0, 4)
    assert store.last_seq == 4
    store.append(evs(4, 6))
    assert store.last_seq == 6
    store.close()
    assert journal_ns(jpath) == [1, 2, 3, 4, 5, 6]
    assert reload(state_path).events == evs(0, 6)


def test_empty_append_writes_nothing(state_path: Path, jpath: Path) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 1))
    size = jpath.stat().st_size
    store.append([])
    store.append(())
    assert jpath.stat().st_size == size
    assert store.last_seq == 1
    store.close()


def test_append_requires_load_and_open(state_path: Path) -> None:
    store = FileStore(state_path, fsync="never")
    with pytest.raises(StorageError, match="load"):
        store.append(evs(0, 1))
    store.load()
    with pytest.raises(StorageError, match="twice"):
        store.load()
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.append(evs(0, 1))


def test_bad_event_writes_nothing(state_path: Path, jpath: Path) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 1))
    with pytest.raises(TypeError):
        store.append([ev(1), {"t": "bad", "x": object()}])
    with pytest.raises(TypeError):
        store.append([["not", "a", "dict"]])  # type: ignore[list-item]
    store.append(evs(1, 2))
    store.close()
    assert journal_ns(jpath) == [1, 2]
    assert reload(state_path).events == evs(0, 2)


def test_lone_surrogates_round_trip(state_path: Path) -> None:
    weird = {"t": "post", "text": "bad byte \udcff here", "ok": "é"}
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append([ev(0), weird])
    store.begin_snapshot({"nick": "\udce9x"})()
    store.append([weird])
    store.close()
    loaded = reload(state_path)
    assert loaded.snapshot == {"nick": "\udce9x"}
    assert loaded.events == [weird]


# -- snapshots --------------------------------------------------------------------------------


def test_snapshot_then_later_events(state_path: Path, jpath: Path, j1path: Path) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 5))
    write = store.begin_snapshot({"posts": 5})
    assert j1path.exists()
    store.append(evs(5, 7))
    write()
    assert not j1path.exists()
    assert not Path(str(state_path) + ".tmp").exists()
    store.append(evs(7, 8))
    store.close()

    doc = json.loads(state_path.read_bytes())
    assert doc == {"version": 1, "journal_seq": 5, "state": {"posts": 5}}
    assert journal_ns(jpath) == [6, 7, 8]
    loaded = reload(state_path)
    assert loaded.snapshot == {"posts": 5}
    assert loaded.events == evs(5, 8)


def test_snapshot_with_custom_version(state_path: Path) -> None:
    store = FileStore(state_path, fsync="never", version=7)
    store.load()
    store.append(evs(0, 2))
    store.begin_snapshot({"a": 1})()
    store.close()
    assert json.loads(state_path.read_bytes())["version"] == 7
    assert reload(state_path, version=7) == LoadedState({"a": 1}, [])


def test_snapshot_of_empty_journal(state_path: Path, j1path: Path) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.begin_snapshot({"empty": True})()
    store.append(evs(0, 2))
    store.close()
    assert not j1path.exists()
    assert reload(state_path) == LoadedState({"empty": True}, evs(0, 2))


def test_sequence_continues_after_snapshot_only(state_path: Path, jpath: Path) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 3))
    store.begin_snapshot({"s": 3})()
    store.close()
    jpath.unlink()  # only the snapshot is left

    store = FileStore(state_path, fsync="never")
    assert store.load() == LoadedState({"s": 3}, [])
    assert store.last_seq == 3
    store.append(evs(3, 4))
    store.close()
    assert journal_ns(jpath) == [4]
    assert reload(state_path) == LoadedState({"s": 3}, evs(3, 4))


def test_crash_between_begin_and_write(state_path: Path, j1path: Path) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 5))
    store.begin_snapshot({"posts": 5})  # write() never runs: the process "dies" here
    store.append(evs(5, 7))
    store.close()
    assert j1path.exists()
    assert not state_path.exists()
    assert reload(state_path) == LoadedState(None, evs(0, 7))


def test_failed_write_keeps_everything(
    state_path: Path, j1path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 3))
    store.begin_snapshot({"v": 1})()
    store.append(evs(3, 6))
    write = store.begin_snapshot({"v": 2})
    store.append(evs(6, 8))

    def boom(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StorageError, match="No space left on device"):
        write()
    monkeypatch.undo()
    assert j1path.exists()
    assert not Path(str(state_path) + ".tmp").exists()
    assert json.loads(state_path.read_bytes())["state"] == {"v": 1}
    assert reload(state_path) == LoadedState({"v": 1}, evs(3, 8))

    # The store keeps working, and the next snapshot covers everything.
    store.append(evs(8, 9))
    store.begin_snapshot({"v": 3})()
    assert not j1path.exists()
    store.append(evs(9, 10))
    store.close()
    assert reload(state_path) == LoadedState({"v": 3}, evs(9, 10))


def test_two_begins_without_write(state_path: Path, jpath: Path, j1path: Path) -> None:
    store = FileStore(state_path, fsync="everysec")
    store.load()
    store.append(evs(0, 3))
    first = store.begin_snapshot({"v": "a"})
    store.append(evs(3, 5))
    second = store.begin_snapshot({"v": "b"})
    store.append(evs(5, 6))
    assert journal_ns(j1path) == [1, 2, 3, 4, 5]
    assert journal_ns(jpath) == [6]
    assert reload(state_path) == LoadedState(None, evs(0, 6))

    with pytest.raises(StorageError, match="superseded"):
        first()
    assert not state_path.exists()
    second()
    store.close()
    assert not j1path.exists()
    assert json.loads(state_path.read_bytes())["journal_seq"] == 5
    assert reload(state_path) == LoadedState({"v": "b"}, evs(5, 6))


def test_interrupted_copy_duplicates_are_dropped(
    state_path: Path, jpath: Path, j1path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def line(n: int) -> bytes:
        return json.dumps({"n": n, "e": ev(n)}).encode() + b"\n"

    # Crash during begin_snapshot's copy: .journal.1 got 1..4 plus part of 5;
    # .journal still holds 3..6 (not yet truncated).
    j1path.write_bytes(line(1) + line(2) + line(3) + line(4) + line(5)[:10])
    jpath.write_bytes(line(3) + line(4) + line(5) + line(6))
    with caplog.at_level(logging.WARNING, logger="ircd.storage.store"):
        store = FileStore(state_path, fsync="never")
        loaded = store.load()
    assert loaded == LoadedState(None, [ev(n) for n in range(1, 7)])
    assert "torn" in caplog.text
    assert j1path.read_bytes() == line(1) + line(2) + line(3) + line(4)
    store.append([ev(7)])
    store.begin_snapshot({"x": 1})  # copies .journal onto the (now clean) .journal.1
    store.close()
    assert journal_ns(j1path) == [1, 2, 3, 4, 5, 6, 7]
    assert journal_ns(jpath) == []
    assert reload(state_path) == LoadedState(None, [ev(n) for n in range(1, 8)])


def test_leftover_journal1_after_successful_snapshot(state_path: Path, j1path: Path) -> None:
    # Crash after os.replace but before .journal.1 was deleted.
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 4))
    store.begin_snapshot({"v": 1})()
    store.close()
    j1path.write_bytes(
        b"".join(json.dumps({"n": n, "e": ev(n - 1)}).encode() + b"\n" for n in range(1, 5))
    )
    assert reload(state_path) == LoadedState({"v": 1}, [])


# -- torn and corrupt files -------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    # b"garbage\n" was here: a complete last line that does not parse is corruption now (it
    # stops the start, see test_corrupt_state.py), no longer dropped as torn.
    [b'{"n":4,"e":{"t":"po', b'{"n":4,"e":{"t":"post"}}', b"\x00\x00\x00"],
)
def test_torn_last_line(
    state_path: Path, jpath: Path, tail: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 3))
    store.close()
    good = jpath.read_bytes()
    jpath.write_bytes(good + tail)

    with caplog.at_level(logging.WARNING, logger="ircd.storage.store"):
        store = FileStore(state_path, fsync="never")
        assert store.load() == LoadedState(None, evs(0, 3))
    assert "torn" in caplog.text
    assert str(jpath) in caplog.text
    assert jpath.read_bytes() == good  # truncated before appending resumes
    store.append(evs(3, 5))
    store.close()
    assert journal_ns(jpath) == [1, 2, 3, 4, 5]
    assert reload(state_path) == LoadedState(None, evs(0, 5))


def test_journal_with_only_a_torn_line(state_path: Path, jpath: Path) -> None:
    jpath.write_bytes(b'{"n":1,"e":{')
    store = FileStore(state_path, fsync="never")
    assert store.load() == LoadedState(None, [])
    assert jpath.read_bytes() == b""
    store.append(evs(0, 1))
    store.close()
    assert journal_ns(jpath) == [1]


@pytest.mark.parametrize(
    "bad",
    [b"garbage", b"", b"[1,2]", b'{"n":"2","e":{}}', b'{"n":2,"e":[]}', b'{"n":2}', b"\xff\xfe"],
)
def test_corrupt_middle_line(state_path: Path, jpath: Path, bad: bytes) -> None:
    content = b'{"n":1,"e":{"a":1}}\n' + bad + b'\n{"n":3,"e":{"a":3}}\n'
    jpath.write_bytes(content)
    store = FileStore(state_path, fsync="never")
    with pytest.raises(StorageError) as info:
        store.load()
    msg = str(info.value)
    assert str(jpath) in msg
    assert "line 2" in msg
    assert "\n" not in msg
    assert jpath.read_bytes() == content
    store.close()


def test_unparsable_line_before_torn_tail_is_corruption(state_path: Path, jpath: Path) -> None:
    content = b'{"n":1,"e":{"a":1}}\nnot json\n{"n":3,"e":'
    jpath.write_bytes(content)
    with pytest.raises(StorageError, match="line 2"):
        FileStore(state_path).load()
    assert jpath.read_bytes() == content


def test_sequence_going_backwards_is_corruption(state_path: Path, jpath: Path) -> None:
    content = b'{"n":1,"e":{}}\n{"n":2,"e":{}}\n{"n":2,"e":{}}\n{"n":3,"e":{}}\n'
    jpath.write_bytes(content)
    with pytest.raises(StorageError, match="line 3"):
        FileStore(state_path).load()
    assert jpath.read_bytes() == content


def test_corrupt_old_journal(state_path: Path, j1path: Path, jpath: Path) -> None:
    j1path.write_bytes(b'{"n":1,"e":{}}\n{"n":2,\n{"n":3,"e":{}}\n')
    jpath.write_bytes(b'{"n":4,"e":{}}\n')
    with pytest.raises(StorageError, match=r"journal\.1: corrupt journal at line 2"):
        FileStore(state_path).load()


@pytest.mark.parametrize("content", [b'{"version": 1, "journal_seq": 0, "sta', b"", b"\xff{}"])
def test_corrupt_snapshot(state_path: Path, jpath: Path, content: bytes) -> None:
    state_path.write_bytes(content)
    jpath.write_bytes(b'{"n":1,"e":{"a":1}}\n{"n":2,"e"')
    journal_before = jpath.read_bytes()
    store = FileStore(state_path, fsync="never")
    with pytest.raises(StorageError) as info:
        store.load()
    msg = str(info.value)
    assert msg.startswith(f"{state_path}: corrupt snapshot")
    assert "\n" not in msg
    assert state_path.read_bytes() == content
    assert jpath.read_bytes() == journal_before  # not even the torn tail is touched
    store.close()
    assert state_path.read_bytes() == content


def test_wrong_version(state_path: Path) -> None:
    content = b'{"version": 2, "journal_seq": 0, "state": {}}'
    state_path.write_bytes(content)
    with pytest.raises(StorageError, match=r"unsupported snapshot schema version 2 .*version 1"):
        FileStore(state_path).load()
    assert state_path.read_bytes() == content
    assert reload(state_path, version=2) == LoadedState({}, [])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[1, 2]", "unknown snapshot format"),
        (b'{"state": {}}', "unknown snapshot format"),
        (b'{"version": "1", "journal_seq": 0, "state": {}}', "unknown snapshot format"),
        (b'{"version": 1, "state": {}}', "journal_seq"),
        (b'{"version": 1, "journal_seq": -1, "state": {}}', "journal_seq"),
        (b'{"version": 1, "journal_seq": 0, "state": []}', "'state'"),
    ],
)
def test_unknown_snapshot_format(state_path: Path, content: bytes, problem: str) -> None:
    state_path.write_bytes(content)
    with pytest.raises(StorageError, match=problem):
        FileStore(state_path).load()
    assert state_path.read_bytes() == content


def test_unreadable_snapshot(state_path: Path) -> None:
    state_path.mkdir()
    with pytest.raises(StorageError, match="cannot read snapshot"):
        FileStore(state_path).load()


# -- permissions and fsync --------------------------------------------------------------------


def test_file_modes(state_path: Path, jpath: Path, j1path: Path, zero_umask: None) -> None:
    tmp = Path(str(state_path) + ".tmp")
    tmp.write_bytes(b"stale")
    tmp.chmod(0o644)
    store = FileStore(state_path, fsync="always")
    store.load()
    assert mode(jpath) == 0o600
    store.append(evs(0, 2))
    write = store.begin_snapshot({"a": 1})
    assert mode(j1path) == 0o600
    assert mode(jpath) == 0o600
    write()
    assert mode(state_path) == 0o600
    assert not tmp.exists()
    store.append(evs(2, 3))
    store.close()

    other = state_path.parent / "other.bin"
    write_atomic(other, b"data")
    assert mode(other) == 0o600


def test_fsync_always(state_path: Path, jpath: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fake_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    store = FileStore(state_path, fsync="always")
    store.load()
    monkeypatch.setattr(os, "fsync", fake_fsync)
    store.append([])
    assert synced == []
    store.append(evs(0, 2))
    assert synced == [jpath.stat().st_ino]
    store.append(evs(2, 3))
    assert synced == [jpath.stat().st_ino] * 2
    store.close()


def test_fsync_never(state_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    store = FileStore(state_path, fsync="never")
    store.load()
    monkeypatch.setattr(os, "fsync", synced.append)
    store.append(evs(0, 2))
    assert synced == []
    monkeypatch.undo()
    store.close()


def test_fsync_everysec(state_path: Path, jpath: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync
    journal_synced = threading.Event()
    inode: list[int] = []

    def fake_fsync(fd: int) -> None:
        if inode and os.fstat(fd).st_ino == inode[0]:
            journal_synced.set()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fake_fsync)
    store = FileStore(state_path, fsync="everysec")
    store.load()
    inode.append(jpath.stat().st_ino)
    store.append(evs(0, 1))
    assert journal_synced.wait(timeout=10)
    store.close()
    assert reload(state_path).events == evs(0, 1)


def test_close_stops_fsync_thread(state_path: Path) -> None:
    before = {t for t in threading.enumerate() if t.name == "ircd-journal-fsync"}
    store = FileStore(state_path, fsync="everysec")
    store.load()
    running = {t for t in threading.enumerate() if t.name == "ircd-journal-fsync"} - before
    assert len(running) == 1
    store.close()
    assert not any(t.is_alive() for t in running)


def test_write_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    write_atomic(target, b"one")
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"

    def boom(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StorageError, match=r"f\.json: cannot write file: Input/output error"):
        write_atomic(target, b"three")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_invalid_arguments(state_path: Path) -> None:
    with pytest.raises(ValueError):
        FileStore(state_path, fsync="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FileStore(state_path, version="1")  # type: ignore[arg-type]


def test_failed_truncate_after_copy_does_not_duplicate(
    state_path: Path, jpath: Path, j1path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append(evs(0, 2))
    store.begin_snapshot({"v": 1})
    store.append(evs(2, 4))

    def boom(fd: int, length: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", boom)
    with pytest.raises(StorageError, match="cannot rotate journal"):
        store.begin_snapshot({"v": 2})
    monkeypatch.undo()
    assert journal_ns(j1path) == [1, 2, 3, 4]
    assert journal_ns(jpath) == [3, 4]
    assert reload(state_path) == LoadedState(None, evs(0, 4))

    store.append(evs(4, 5))
    write = store.begin_snapshot({"v": 3})
    assert journal_ns(j1path) == [1, 2, 3, 4, 5]
    assert journal_ns(jpath) == []
    store.append(evs(5, 6))
    assert reload(state_path) == LoadedState(None, evs(0, 6))
    write()
    store.close()
    assert reload(state_path) == LoadedState({"v": 3}, evs(5, 6))


def test_everysec_fsync_failure_stops_appends(
    state_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failed = threading.Event()

    def bad_fsync(fd: int) -> None:
        failed.set()
        raise OSError(5, "Input/output error")

    store = FileStore(state_path, fsync="everysec")
    store.load()
    monkeypatch.setattr(os, "fsync", bad_fsync)
    store.append(evs(0, 1))
    assert failed.wait(timeout=10)
    # The store is marked broken just after the failing fsync returns: allow a bounded race.
    deadline = time.monotonic() + 10
    with pytest.raises(StorageError, match="journal: fsync failed: Input/output error"):
        while time.monotonic() < deadline:
            store.append(evs(1, 2))
    monkeypatch.undo()
    # (the thread logs just after it marks the store broken: the same bounded race)
    while "fsync failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "fsync failed" in caplog.text
    store.close()
