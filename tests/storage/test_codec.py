"""The journal and snapshot codec: msgspec where it is installed, ``json`` otherwise and for
what msgspec refuses. Both write the same JSON (RFC 8259), so a state written by one is read
by the other, byte for byte the same files for ordinary events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ircd.storage import FileStore
from ircd.storage import store as store_mod

pytest.importorskip("msgspec", reason="msgspec is not installed: only json is in use")

ODD: list[dict[str, Any]] = [
    {"t": "post", "text": "lone surrogate \udcff"},  # msgspec refuses it; json \u-escapes it
    {"t": "post", "big": 2**70, "neg": -(2**64) - 1},  # beyond 64 bits
    {"t": "post", "keys": {1: "int key"}},  # the key becomes "1"
    {"t": "post", "text": "ünïcode — \U0001f600", "f": 1764582000.123456, "none": None},
]

FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | FINITE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# (RFC 8259 has no NaN or infinity; the engine's events hold clock times and counts only)
EVENTS = st.lists(st.dictionaries(st.text(), JSONABLE, min_size=1, max_size=4), max_size=5)


def write_and_read(path: Path, events: list[dict[str, Any]], snapshot: dict[str, Any]) -> Any:
    store = FileStore(path, fsync="never")
    store.load()
    store.append(events[:1])
    store.begin_snapshot(snapshot)()
    store.append(events[1:])
    store.close()
    again = FileStore(path, fsync="never")
    loaded = again.load()
    again.close()
    return loaded


def json_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "_fast_dumps", None)
    monkeypatch.setattr(store_mod, "_fast_lines", None)


def test_ordinary_events_are_the_same_bytes_with_either_codec() -> None:
    events = [ODD[3], {"t": "ack", "u": "alice", "s": 12}]
    fast = store_mod._encode_events(7, events)
    with pytest.MonkeyPatch.context() as mp:
        json_only(mp)
        slow = store_mod._encode_events(7, events)
    assert fast == slow
    assert [json.loads(line)["n"] for line in fast.splitlines()] == [7, 8]


@pytest.mark.parametrize("writer_fast", [True, False])
@pytest.mark.parametrize("reader_fast", [True, False])
def test_what_one_codec_writes_the_other_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer_fast: bool, reader_fast: bool
) -> None:
    path = tmp_path / "state.json"
    expected = [json.loads(json.dumps(e)) for e in ODD]  # (int keys become strings)
    snapshot = {"nick": "\udce9x", "n": 2**65, "ok": "é"}
    with pytest.MonkeyPatch.context() as mp:
        if not writer_fast:
            json_only(mp)
        write_and_read(path, ODD, snapshot)
    if not reader_fast:
        json_only(monkeypatch)
    again = FileStore(path, fsync="never")
    loaded = again.load()
    again.close()
    assert loaded.snapshot == snapshot
    assert loaded.events == expected[1:]


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_any_json_events_round_trip_through_the_fast_codec(events: list[dict[str, Any]]) -> None:
    data = store_mod._encode_events(1, events)
    lines = data.splitlines()
    assert len(lines) == len(events)
    for i, (line, event) in enumerate(zip(lines, events, strict=True), start=1):
        assert store_mod._parse_line(line) == (i, event)
        assert json.loads(line) == {"n": i, "e": event}  # what json reads, too


def test_a_bad_line_is_explained_the_same_with_either_codec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = b'{"n":1,"e":{"t":"post",}'
    with pytest.raises(ValueError) as fast:
        store_mod._parse_line(bad)
    json_only(monkeypatch)
    with pytest.raises(ValueError) as slow:
        store_mod._parse_line(bad)
    assert str(fast.value) == str(slow.value) and str(fast.value).startswith("not valid JSON")
