"""Corrupt state on disk: the server refuses to start with one line naming the file and the
problem, touches nothing, and a torn journal tail (a crash mid-write) is dropped but saved.

Every corrupt case is a variant of a base state that loads (checked first), so a case fails
only for the corruption it adds. Tiers: ``FileStore`` alone, ``Server(config)``, and
``python -m ircd`` as a subprocess for the exit code and stderr.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ircd.clock import FakeClock
from ircd.config import Config
from ircd.server import Server
from ircd.storage import FileStore, LoadedState, StorageError, read_segments
from tests.conftest import make_config
from tests.messenger.sample_state import (
    GUEST_IP,
    GWEN,
    H15,
    HOME,
    PW,
    T0,
    base_events,
    base_state,
    every_event,
    post,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TORN_TAIL = b'{"n":4,"e":{"t":"ack","u":"al'  # a journal line cut off by a crash

# -- writing and watching the state folder ------------------------------------------------------


def envelope(state: Any, journal_seq: int = 0) -> bytes:
    return json.dumps({"version": 1, "journal_seq": journal_seq, "state": state}).encode()


def journal(events: list[Any], first: int = 1) -> bytes:
    return b"".join(
        json.dumps({"n": n, "e": e}).encode() + b"\n" for n, e in enumerate(events, first)
    )


def folder(path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in the state folder: content and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.iterdir())}


def fsync_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "ircd-journal-fsync"}


def config_for(tmp_path: Path) -> Config:
    return make_config(tmp_path, storage={"fsync": "everysec"})


def assert_refused(tmp_path: Path, *expected: str) -> str:
    """``Server(config)`` fails with one line containing ``expected``, touching nothing."""
    before = folder(tmp_path)
    threads = fsync_threads()
    with pytest.raises(StorageError) as info:
        Server(config_for(tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert "Traceback" not in msg
    for part in expected:
        assert part in msg, msg
    assert folder(tmp_path) == before
    assert fsync_threads() == threads
    return msg


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


@pytest.fixture
def jpath(state_path: Path) -> Path:
    return Path(f"{state_path}.journal")


def write(state_path: Path, state: Any, events: list[Any] | None = None, tail: bytes = b"") -> None:
    state_path.write_bytes(envelope(state))
    body = journal(base_events() if events is None else events)
    Path(f"{state_path}.journal").write_bytes(body + tail)


# -- the base state loads -------------------------------------------------------------------


async def test_base_state_loads(tmp_path: Path, state_path: Path, jpath: Path) -> None:
    write(state_path, base_state())
    srv = Server(config_for(tmp_path))
    try:
        m = srv.messenger
        assert m.seq == 6 and m.server_id == "abc123"
        assert sorted(k for k, u in m.users.items() if u.is_account) == [
            "alice",
            "bob",
            "carol",
            "dave",
        ]
        assert m.rooms["#x"].topic == "still x"
        assert m.read_marker("bob", "#x") == T0 - 5
        assert [p.text for p in m.rooms["#general"].history][-1] == "new since the snapshot"
        assert [s.text for s in m.list_scheduled("bob")] == ["see you"]
        assert m.bans["dave"].reason == "3 complaints"
        assert m.bans[GWEN].name == "Gwen" and m.bans[GWEN].ip == GUEST_IP
        assert m.users["alice"].oper == "root" and m.users["alice"].holds == [(1, 2)]
        assert m.users["bob"].address == HOME
        assert m.complaint_groups == {"carol": {"alice": HOME, "bob": HOME}}
        assert m.complaint_count("carol") == 1
    finally:
        srv.store.close()


async def test_every_event_type_loads_and_restarts_the_same(tmp_path: Path) -> None:
    """A journal with every event type and optional field loads; the state it gives, saved
    as a snapshot alone, loads into the same state."""
    first, second = tmp_path / "journal", tmp_path / "snapshot"
    first.mkdir()
    second.mkdir()
    write(first / "state.json", base_state(), [*base_events(), *every_event()])
    srv = Server(config_for(first), clock=FakeClock(T0))
    try:
        m = srv.messenger
        saved = m.to_dict()
        assert m.seq == 8 and {"erin", "hal"} <= m.users.keys()
        assert m.users["bob"].oper == "root" and m.users["erin"].holds == [(6, 7)]
        assert m.users["hal"].seen_before and m.windows.keys() == {"alice", "bob", "~gustav"}
        assert "#y" not in m.rooms and list(m.dms) == ["alice\tbob"]
        assert "gus!a1" not in m.complaints and m.bans.keys() == {"dave", GWEN}
    finally:
        srv.store.close()
    (second / "state.json").write_bytes(envelope(json.loads(json.dumps(saved))))
    again = Server(config_for(second), clock=FakeClock(T0))
    try:
        assert again.messenger.to_dict() == saved
    finally:
        again.store.close()


# -- corrupt snapshots ----------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def put(*path: Any, value: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return mutate


def drop(*path: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        del d[path[-1]]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutations:
            m(d)

    return mutate


def nested(depth: int) -> Any:
    v: Any = []
    for _ in range(depth):
        v = [v]
    return v


NAN, INF = float("nan"), float("inf")
G = ("rooms", 0, "history")  # #general's history
S0 = ("scheduled", 0)

# (id, mutation of the base state, what the message must say)
SNAPSHOT_CASES: list[tuple[str, Mutation, str]] = [
    ("schema-2", put("schema", value=2), "unsupported state schema 2"),
    ("schema-str", put("schema", value="1"), "unsupported state schema"),
    ("schema-missing", drop("schema"), "unsupported state schema null"),
    ("server-id-int", put("server_id", value=5), "server_id: expected a non-empty word"),
    ("server-id-space", put("server_id", value="a b"), "server_id"),
    ("seq-str", put("seq", value="5"), "seq: expected an integer"),
    ("seq-negative", put("seq", value=-1), "seq: expected an integer"),
    ("seq-float", put("seq", value=5.5), "seq: expected an integer"),
    ("seq-bool", put("seq", value=True), "seq: expected an integer"),
    ("seq-huge", put("seq", value=2**64), "seq: expected an integer"),
    ("seq-nan", put("seq", value=NAN), "seq: expected an integer"),
    ("seq-behind-posts", put("seq", value=4), "private['alice\\tbob'][0].seq: 5 is after"),
    ("next-sched-id-zero", put("next_sched_id", value=0), "next_sched_id"),
    ("next-sched-id-low", put("next_sched_id", value=2), "scheduled[1].id: 2 is not below"),
    ("users-dict", put("users", value={}), "users: expected a list, got an object"),
    ("users-null", put("users", value=None), "users: expected a list, got null"),
    ("users-missing", drop("users"), "missing 'users'"),
    ("user-int", put("users", 1, value=7), "users[1]: expected an object, got 7"),
    ("user-key-missing", drop("users", 0, "key"), "users[0]: missing 'key'"),
    ("user-key-int", put("users", 0, "key", value=1), "users[0].key"),
    ("user-key-duplicate", put("users", 1, "key", value="alice"), "users[1].key: 'alice' appears"),
    ("user-name-null", put("users", 0, "name", value=None), "users[0].name"),
    ("user-name-empty", put("users", 0, "name", value=""), "users[0].name"),
    ("user-pw-int", put("users", 0, "pw", value=5), "users[0].pw: expected a string"),
    ("user-pw-null", put("users", 0, "pw", value=None), "users[0].pw"),
    ("user-created-str", put("users", 0, "created", value="yesterday"), "users[0].created"),
    ("user-created-nan", put("users", 0, "created", value=NAN), "users[0].created"),
    ("user-created-inf", put("users", 0, "created", value=INF), "users[0].created"),
    ("user-created-huge", put("users", 0, "created", value=1e300), "users[0].created"),
    ("user-created-negative", put("users", 0, "created", value=-5), "users[0].created"),
    ("user-delivered-str", put("users", 0, "delivered", value="3"), "users[0].delivered"),
    ("user-seen-str", put("users", 0, "seen", value="yes"), "users[0].seen: expected true or"),
    (
        "user-rooms-list",
        put("users", 0, "rooms", value=["#general"]),
        "users[0].rooms: expected an object, got a list",
    ),
    ("user-rooms-value", put("users", 0, "rooms", "#x", value="2"), "users[0].rooms['#x']"),
    ("user-settings-list", put("users", 0, "settings", value=[]), "users[0].settings"),
    (
        "user-settings-value",
        put("users", 0, "settings", "backlog", value=5),
        "users[0].settings['backlog']",
    ),
    (
        "user-settings-newline",
        put("users", 0, "settings", "backlog", value="on\r\nQUIT"),
        "settings['backlog']",
    ),
    (
        "user-marker-str",
        put("users", 0, "markers", "#general", value="noon"),
        "users[0].markers['#general']",
    ),
    (
        "user-marker-nan",
        put("users", 0, "markers", "#general", value=NAN),
        "markers['#general']: expected a time",
    ),
    # a marker of year 1 or 10000 is not corruption: an older server stored what clients sent,
    # and such a state loads (tests/irc/test_bad_input.py)
    (
        "user-marker-huge",
        put("users", 0, "markers", "#general", value=10**400),
        "markers['#general']",
    ),
    (
        "user-marker-key",
        put("users", 0, "markers", value={"": T0}),
        "users[0].markers[''] (the key)",
    ),
    ("user-since-str", put("users", 0, "since", value="0"), "users[0].since"),
    ("user-address-int", put("users", 0, "address", value=5), "users[0].address: expected a"),
    ("user-oper-int", put("users", 0, "oper", value=5), "users[0].oper: expected a non-empty"),
    ("user-oper-space", put("users", 0, "oper", value="a b"), "users[0].oper"),
    ("user-holds-str", put("users", 0, "holds", value="1-2"), "users[0].holds: expected a list"),
    ("user-hold-int", put("users", 0, "holds", 0, value=2), "users[0].holds[0]: expected a range"),
    (
        "user-hold-reversed",
        put("users", 0, "holds", 0, value=[2, 1]),
        "users[0].holds[0]: a range [lo, hi] needs lo <= hi, got [2, 1]",
    ),
    ("user-hold-float", put("users", 0, "holds", 0, 1, value=2.5), "users[0].holds[0][1]"),
    ("user-hold-negative", put("users", 0, "holds", 0, 0, value=-1), "users[0].holds[0][0]"),
    ("rooms-dict", put("rooms", value={"#general": {}}), "rooms: expected a list"),
    ("room-key-null", put("rooms", 0, "key", value=None), "rooms[0].key"),
    (
        "room-duplicate",
        put("rooms", 1, "key", value="#general"),
        "rooms[1].key: '#general' appears",
    ),
    ("room-name-space", put("rooms", 1, "name", value="#a b"), "rooms[1].name"),
    ("room-created-str", put("rooms", 0, "created", value="then"), "rooms[0].created"),
    ("room-topic-int", put("rooms", 1, "topic", value=5), "rooms[1].topic"),
    ("room-topic-by-list", put("rooms", 1, "topic_by", value=[]), "rooms[1].topic_by"),
    (
        "room-topic-by-empty",
        put("rooms", 1, "topic_by", value=""),
        "rooms[1]: a topic without 'topic_by'",
    ),
    ("room-topic-time-str", put("rooms", 1, "topic_time", value="x"), "rooms[1].topic_time"),
    (
        "room-members-str",
        put("rooms", 0, "members", value="alice"),
        "rooms[0].members: expected a list",
    ),
    ("room-member-int", put("rooms", 0, "members", 0, value=1), "rooms[0].members[0]"),
    ("room-ops-dict", put("rooms", 1, "ops", value={}), "rooms[1].ops"),
    ("history-null", put(*G, value=None), "rooms[0].history: expected a list, got null"),
    ("history-dict", put(*G, value={}), "rooms[0].history: expected a list"),
    ("history-item-int", put(*G, 0, value=5), "rooms[0].history[0]: expected an object, got 5"),
    ("post-ts-str", put(*G, 0, "ts", value="noon"), "rooms[0].history[0].ts: expected a time"),
    ("post-ts-nan", put(*G, 0, "ts", value=NAN), "rooms[0].history[0].ts"),
    ("post-ts-huge", put(*G, 0, "ts", value=1e20), "rooms[0].history[0].ts"),
    ("post-seq-str", put(*G, 0, "seq", value="1"), "rooms[0].history[0].seq"),
    ("post-seq-order", put(*G, 1, "seq", value=1), "rooms[0].history[1].seq: 1 is not after"),
    ("post-id-missing", drop(*G, 0, "id"), "rooms[0].history[0]: missing 'id'"),
    (
        "post-kind",
        put(*G, 0, "k", value="KILL"),
        "rooms[0].history[0].k: expected PRIVMSG or NOTICE",
    ),
    ("post-sender-null", put(*G, 0, "s", value=None), "rooms[0].history[0].s"),
    ("post-origin-space", put(*G, 0, "o", value="a b"), "rooms[0].history[0].o"),
    ("post-text-null", put(*G, 0, "txt", value=None), "rooms[0].history[0].txt"),
    ("post-text-crlf", put(*G, 0, "txt", value="hi\r\nQUIT :x"), "rooms[0].history[0].txt"),
    ("post-account-int", put(*G, 0, "a", value=5), "rooms[0].history[0].a"),
    ("post-tags-list", put(*G, 1, "tags", value=["a"]), "rooms[0].history[1].tags"),
    ("post-tags-value", put(*G, 1, "tags", "+draft/reply", value=5), "tags['+draft/reply']"),
    ("post-tags-key", put(*G, 1, "tags", value={"a b": "c"}), "tags['a b'] (the key)"),
    ("post-wrong-room", put(*G, 0, "r", value="#x"), "rooms[0].history[0]: a post of '#x'"),
    ("post-no-target", drop(*G, 0, "r"), "needs exactly one of 'r'"),
    ("private-list", put("private", value=[]), "private: expected an object"),
    ("private-key", put("private", value={"alicebob": []}), "(the key): expected two user keys"),
    (
        "private-null",
        put("private", "alice\tbob", value=None),
        "private['alice\\tbob']: expected a list",
    ),
    ("private-room-post", put("private", "alice\tbob", 0, "r", value="#x"), "exactly one of"),
    ("windows-list", put("windows", value=[]), "windows: expected an object"),
    ("window-int", put("windows", "alice", value=5), "windows['alice']: expected a list of two"),
    ("window-short", put("windows", "alice", value=[H15]), "windows['alice']"),
    ("window-start-str", put("windows", "alice", value=["x", 1]), "windows['alice'][0]"),
    ("window-count-str", put("windows", "alice", value=[H15, "1"]), "windows['alice'][1]"),
    ("complaints-list", put("complaints", value=[]), "complaints: expected an object"),
    ("complaint-list", put("complaints", "carol", value=["alice"]), "complaints['carol']"),
    (
        "complaint-reason-int",
        put("complaints", "carol", "alice", value=5),
        "complaints['carol']['alice']",
    ),
    ("groups-list", put("complaint_groups", value=[]), "complaint_groups: expected an object"),
    ("group-int", put("complaint_groups", "carol", value=5), "complaint_groups['carol']"),
    (
        "group-address-int",
        put("complaint_groups", "carol", "alice", value=5),
        "complaint_groups['carol']['alice']: expected a non-empty string",
    ),
    (
        "group-address-empty",
        put("complaint_groups", "carol", "alice", value=""),
        "complaint_groups['carol']['alice']: expected a non-empty string",
    ),
    (
        "group-without-complaint",
        put("complaint_groups", "carol", "dave", value=HOME),
        "complaint_groups['carol']['dave']: no complaint by 'dave' about 'carol'",
    ),
    ("bans-list", put("bans", value=[]), "bans: expected an object"),
    ("ban-name-int", put("bans", GWEN, 2, value=5), "bans['gwen!a2'][2]: expected a string"),
    ("ban-ip-crlf", put("bans", GWEN, 3, value="1\r\nx"), "bans['gwen!a2'][3]: expected"),
    ("ban-str", put("bans", "dave", value="x"), "bans['dave']"),
    ("ban-short", put("bans", "dave", value=[T0]), "bans['dave']"),
    ("ban-long", put("bans", "dave", value=[T0, "r", "Dave", "1.2.3.4", "x"]), "bans['dave']"),
    ("ban-until-str", put("bans", "dave", value=["x", "r"]), "bans['dave'][0]"),
    ("ban-until-nan", put("bans", "dave", value=[NAN, "r"]), "bans['dave'][0]"),
    ("ban-until-huge", put("bans", "dave", value=[1e300, "r"]), "bans['dave'][0]"),
    ("ban-reason-null", put("bans", "dave", value=[T0, None]), "bans['dave'][1]"),
    ("scheduled-dict", put("scheduled", value={}), "scheduled: expected a list"),
    ("scheduled-item-str", put("scheduled", 0, value="x"), "scheduled[0]: expected an object"),
    ("scheduled-missing-due", drop(*S0, "due"), "scheduled[0]: missing 'due'"),
    ("scheduled-missing-owner", drop(*S0, "owner"), "scheduled[0]: missing 'owner'"),
    ("scheduled-id-str", put(*S0, "id", value="1"), "scheduled[0].id"),
    ("scheduled-id-duplicate", put("scheduled", 1, "id", value=1), "scheduled[1].id: 1 appears"),
    ("scheduled-due-str", put(*S0, "due", value="soon"), "scheduled[0].due"),
    ("scheduled-private-str", put(*S0, "private", value="no"), "scheduled[0].private"),
    ("scheduled-text-null", put(*S0, "text", value=None), "scheduled[0].text"),
    ("deeply-nested", put("users", value=nested(600)), "users[0]: expected an object, got a list"),
    ("two-problems", both(put("seq", value="x"), put("users", value=None)), "seq: expected"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in SNAPSHOT_CASES],
)
def test_corrupt_snapshot_refuses_to_start(
    tmp_path: Path, state_path: Path, mutate: Mutation, expected: str
) -> None:
    state = base_state()
    mutate(state)
    write(state_path, state, tail=TORN_TAIL)  # a torn tail must not be truncated either
    assert_refused(tmp_path, f"{state_path}: corrupt snapshot: ", expected)


# (id, bytes of the whole state file, what the message must say)
FILE_CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "corrupt snapshot, not valid JSON"),
    ("truncated", envelope(base_state())[:-200], "corrupt snapshot, not valid JSON"),
    ("binary", bytes(range(256)) * 4, "corrupt snapshot, not valid JSON"),
    ("nul-filled", b"\0" * 4096, "corrupt snapshot, not valid JSON"),
    ("nested-too-deep", b"[" * 100_000 + b"]" * 100_000, "corrupt snapshot, not valid JSON"),
    ("huge-integer", b'{"version": 1, "journal_seq": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    ("a-list", b"[1, 2]", "unknown snapshot format"),
    (
        "wrong-version",
        envelope(base_state()).replace(b'"version": 1', b'"version": 9'),
        "unsupported snapshot schema version 9",
    ),
    ("journal-seq-nan", b'{"version": 1, "journal_seq": NaN, "state": {}}', "journal_seq"),
    ("state-null", b'{"version": 1, "journal_seq": 0, "state": null}', "'state'"),
    ("state-empty", envelope({}), "unsupported state schema null"),
]


@pytest.mark.parametrize(
    ("content", "expected"), [pytest.param(c, e, id=i) for i, c, e in FILE_CASES]
)
def test_unreadable_snapshot_file_refuses_to_start(
    tmp_path: Path, state_path: Path, jpath: Path, content: bytes, expected: str
) -> None:
    state_path.write_bytes(content)
    jpath.write_bytes(journal(base_events()) + TORN_TAIL)
    assert_refused(tmp_path, f"{state_path}: ", expected)


def test_snapshot_only_without_a_journal_creates_no_journal(
    tmp_path: Path, state_path: Path
) -> None:
    state = base_state()
    state["users"][0]["rooms"] = []
    state_path.write_bytes(envelope(state))
    assert_refused(tmp_path, "users[0].rooms: expected an object")
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


# -- corrupt journals -----------------------------------------------------------------------

BAD_EVENTS: list[tuple[str, Any, str]] = [
    ("unknown-type", {"t": "bogus"}, "unknown event type 'bogus'"),
    ("type-int", {"t": 5}, "event type 't': expected a string, got 5"),
    ("type-missing", {"u": "alice"}, "event type 't': expected a string, got null"),
    (
        "join-unknown-room",
        {"t": "join", "u": "alice", "r": "#nosuch"},
        "'join' event: unknown room '#nosuch'",
    ),
    ("part-unknown-room", {"t": "part", "u": "alice", "r": "#nosuch"}, "unknown room '#nosuch'"),
    ("op-unknown-room", {"t": "op", "u": "alice", "r": "#nosuch", "on": True}, "unknown room"),
    (
        "topic-text-int",
        {"t": "topic", "r": "#x", "text": 5, "by": "Bob", "ts": T0},
        "'topic' event: text",
    ),
    (
        "topic-missing-ts",
        {"t": "topic", "r": "#x", "text": "t", "by": "Bob"},
        "'topic' event: missing 'ts'",
    ),
    ("post-null", {"t": "post", "p": None}, "'post' event: p: expected an object, got null"),
    (
        "post-ts-str",
        {"t": "post", "p": post(6, "bob", "x", room="#general", ts="noon")},
        "'post' event: p.ts",
    ),
    ("post-no-target", {"t": "post", "p": post(6, "bob", "x")}, "exactly one of 'r'"),
    ("ack-seq-str", {"t": "ack", "u": "alice", "s": "5"}, "'ack' event: s: expected an integer"),
    ("mark-ts-str", {"t": "mark", "u": "bob", "target": "#x", "ts": "x"}, "'mark' event: ts"),
    ("mark-ts-nan", {"t": "mark", "u": "bob", "target": "#x", "ts": NAN}, "'mark' event: ts"),
    ("set-value-list", {"t": "set", "u": "bob", "k": "backlog", "v": [1]}, "'set' event: v"),
    ("acct-pw-int", {"t": "acct", "k": "zed", "n": "Zed", "pw": 5, "ts": T0}, "'acct' event: pw"),
    ("ban-until-str", {"t": "ban", "u": "bob", "until": "later"}, "'ban' event: until"),
    ("sched-missing-due", {"t": "sched", "item": {"id": 9}}, "'sched' event: item: missing"),
    ("resched-due-str", {"t": "resched", "id": 1, "due": "x"}, "'resched' event: due"),
    ("unsched-id-str", {"t": "unsched", "id": "1"}, "'unsched' event: id"),
    ("sid-int", {"t": "sid", "id": 5}, "'sid' event: id"),
    ("op-on-str", {"t": "op", "u": "alice", "r": "#x", "on": "yes"}, "'op' event: on"),
    ("cmp-by-null", {"t": "cmp", "target": "carol", "by": None}, "'cmp' event: by"),
    ("cmp-group-int", {"t": "cmp", "target": "carol", "by": "dave", "g": 5}, "'cmp' event: g"),
    ("oper-name-int", {"t": "oper", "u": "bob", "n": 5}, "'oper' event: n: expected a non-empty"),
    ("oper-no-name", {"t": "oper", "u": "bob"}, "'oper' event: missing 'n'"),
    ("seen-user-null", {"t": "seen", "u": None}, "'seen' event: u: expected a non-empty word"),
    ("undm-key-list", {"t": "undm", "pk": []}, "'undm' event: pk: expected two user keys"),
    ("unroom-int", {"t": "unroom", "r": 5}, "'unroom' event: r: expected a non-empty word"),
    ("gone-user-list", {"t": "gone", "u": []}, "'gone' event: u: expected a non-empty word"),
    ("adopt-no-new", {"t": "adopt", "old": "g!1"}, "'adopt' event: missing 'new'"),
    ("adopt-quota-int", {"t": "adopt", "old": "g!1", "new": "g", "q": 5}, "'adopt' event: q"),
    (
        "rename-quota-space",
        {"t": "rename", "u": "g!1", "n": "G", "q": "a b", "oq": ""},
        "'rename' event: q: expected a non-empty word",
    ),
    ("rename-old-no-new", {"t": "rename", "old": "g"}, "'rename' event: missing 'new'"),
    (
        "ack-hold-reversed",
        {"t": "ack", "u": "alice", "s": 5, "hold": [5, 1]},
        "'ack' event: hold: a range [lo, hi] needs lo <= hi",
    ),
    ("ack-hold-str", {"t": "ack", "u": "alice", "s": 5, "hold": "x"}, "'ack' event: hold"),
    (
        "post-quota-space",
        {"t": "post", "p": post(6, "bob", "x", room="#general"), "q": "a b"},
        "'post' event: q: expected a non-empty word",
    ),
    (
        "acct-ip-int",
        {"t": "acct", "k": "zed", "n": "Zed", "pw": PW, "ts": T0, "ip": 5},
        "'acct' event: ip: expected a string",
    ),
]


@pytest.mark.parametrize("last", [False, True], ids=["middle", "last-line"])
@pytest.mark.parametrize(
    ("event", "expected"), [pytest.param(e, x, id=i) for i, e, x in BAD_EVENTS]
)
def test_bad_journal_event_refuses_to_start(
    tmp_path: Path, state_path: Path, jpath: Path, event: Any, expected: str, last: bool
) -> None:
    events = base_events()
    events.insert(len(events) if last else 1, event)
    write(state_path, base_state(), events)
    line = len(events) if last else 2
    assert_refused(tmp_path, f"{jpath}: corrupt journal at line {line}: ", expected)


# Complete lines (with their newline) that are not journal entries: corruption wherever they are.
BAD_LINES: list[tuple[str, bytes, str]] = [
    ("garbage", b"garbage", "not valid JSON"),
    ("empty-line", b"", "not valid JSON"),
    ("binary", b"\xff\xfe\x00", "not valid UTF-8"),
    ("nul-bytes", b"\0\0\0\0", "not valid JSON"),
    ("half-an-entry", b'{"n":4,"e":{"t":"po', "not valid JSON"),
    ("a-list", b"[1,2]", "not a JSON object"),
    ("no-event", b'{"n":4}', "invalid event 'e'"),
    ("event-not-object", b'{"n":4,"e":[]}', "invalid event 'e'"),
    ("n-str", b'{"n":"4","e":{}}', "sequence number"),
    ("n-backwards", b'{"n":2,"e":{"t":"unban","u":"x"}}', "sequence number 2 after 3"),
    ("deep", b'{"n":4,"e":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
]


@pytest.mark.parametrize("last", [False, True], ids=["middle", "last-line"])
@pytest.mark.parametrize(("raw", "expected"), [pytest.param(r, x, id=i) for i, r, x in BAD_LINES])
def test_corrupt_journal_line_refuses_to_start(
    tmp_path: Path, state_path: Path, jpath: Path, raw: bytes, expected: str, last: bool
) -> None:
    state_path.write_bytes(envelope(base_state()))
    good = journal(base_events())
    after = b"" if last else journal([{"t": "unban", "u": "nobody"}], first=5)
    jpath.write_bytes(good + raw + b"\n" + after)
    assert_refused(tmp_path, f"{jpath}: corrupt journal at line 4: ", expected)


def test_bad_event_in_the_previous_journal_names_it(
    tmp_path: Path, state_path: Path, jpath: Path
) -> None:
    # A snapshot that failed left .journal.1 (events 1-3) next to .journal (event 4).
    j1 = Path(f"{state_path}.journal.1")
    state_path.write_bytes(envelope(base_state()))
    j1.write_bytes(journal([*base_events()[:1], {"t": "join", "u": "bob", "r": "#gone"}]))
    jpath.write_bytes(journal([base_events()[1]], first=3))
    assert_refused(tmp_path, f"{j1}: corrupt journal at line 2: ", "unknown room '#gone'")


def test_failed_store_is_never_written(tmp_path: Path, state_path: Path, jpath: Path) -> None:
    """A state that failed to load is not overwritten later by the same process (say, by the
    snapshot at shutdown): the store refuses every write."""
    state = base_state()
    state["rooms"][0]["history"] = None
    write(state_path, state, tail=TORN_TAIL)
    before = folder(tmp_path)
    store = FileStore(state_path, fsync="always")
    with pytest.raises(StorageError):
        Server(config_for(tmp_path), store=store)
    for attempt in (
        lambda: store.append([{"t": "unban", "u": "x"}]),
        lambda: store.begin_snapshot({"schema": 1}),
        store.load,
    ):
        with pytest.raises(StorageError, match=r"not writing, the state failed to load: .*history"):
            attempt()
    store.close()
    assert folder(tmp_path) == before


# -- what is tolerated ----------------------------------------------------------------------


def test_unknown_keys_and_optional_keys_are_tolerated(tmp_path: Path, state_path: Path) -> None:
    """Newer code adds optional fields: extra keys anywhere are ignored, optional ones may be
    missing (the snapshot of an older version)."""
    state = base_state()
    state["future"] = {"anything": [1, 2]}
    state["users"][0]["future"] = 1
    del state["users"][1]["since"]
    state["rooms"][0]["future"] = None
    state["rooms"][0]["history"][0]["future"] = "x"
    state["scheduled"][0]["future"] = True
    state["bans"]["dave"] += ["Dave", "10.0.0.1"]  # name and address, as newer versions write
    events = [*base_events(), {"t": "ack", "u": "alice", "s": 6, "future": [1]}]
    write(state_path, state, events)
    srv = Server(config_for(tmp_path))
    try:
        m = srv.messenger
        assert m.users["bob"].since_seq == 0
        assert m.users["alice"].delivered_seq == 6
        assert m.scheduled[1].text == "later"
        assert m.bans["dave"].until == T0 + 3600
    finally:
        srv.store.close()


# -- the torn tail --------------------------------------------------------------------------


def entries(path: Path) -> list[tuple[int, Any]]:
    return [(d["n"], d["e"]) for d in map(json.loads, path.read_bytes().splitlines())]


def torn_files(jpath: Path) -> list[Path]:
    return sorted(jpath.parent.glob(f"{jpath.name}.torn-*"))


def test_torn_tail_is_saved_reported_and_truncated(
    state_path: Path, jpath: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = journal(base_events())
    jpath.write_bytes(good + TORN_TAIL)
    written = datetime(2026, 5, 1, 15, 20, 7, tzinfo=timezone.utc).timestamp()
    os.utime(jpath, (written, written))
    store = FileStore(state_path, fsync="never")
    with caplog.at_level(logging.WARNING, logger="ircd.storage.store"):
        loaded = store.load()
    assert loaded.events == base_events()
    assert jpath.read_bytes() == good
    (side,) = torn_files(jpath)
    assert side.name == "state.json.journal.torn-20260501T152007Z"  # when the crash happened
    assert side.read_bytes() == TORN_TAIL
    assert side.stat().st_mode & 0o777 == 0o600
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    msg = record.getMessage()
    assert str(jpath) in msg and f"{len(TORN_TAIL)} bytes" in msg and str(side) in msg
    assert "torn last line" in msg
    store.append([{"t": "unban", "u": "x"}])
    store.close()
    assert entries(jpath) == [*enumerate([*base_events(), {"t": "unban", "u": "x"}], 1)]

    # A second crash in the same second gets its own side file.
    jpath.write_bytes(jpath.read_bytes() + b'{"n":5,')
    os.utime(jpath, (written, written))
    store = FileStore(state_path, fsync="never")
    store.load()
    store.close()
    assert [p.name for p in torn_files(jpath)] == [side.name, side.name + "-1"]
    assert torn_files(jpath)[1].read_bytes() == b'{"n":5,'


def test_torn_tail_of_the_previous_journal_is_saved(state_path: Path, jpath: Path) -> None:
    j1 = Path(f"{state_path}.journal.1")
    j1.write_bytes(journal(base_events()[:2]) + b'{"n":3,"e"')
    jpath.write_bytes(journal(base_events()[2:], first=3))
    store = FileStore(state_path, fsync="never")
    assert store.load().events == base_events()
    store.close()
    (side,) = torn_files(j1)
    assert side.read_bytes() == b'{"n":3,"e"'
    assert torn_files(jpath) == []


def test_torn_tail_that_cannot_be_saved_is_not_truncated(
    state_path: Path, jpath: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = journal(base_events()) + TORN_TAIL
    jpath.write_bytes(content)
    real_open = os.open

    def failing_open(path: Any, flags: int, *args: Any) -> int:
        if ".torn-" in os.fspath(path):
            raise OSError(28, "No space left on device")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", failing_open)
    store = FileStore(state_path, fsync="never")
    with pytest.raises(StorageError, match=r"torn last line \(29 bytes\) not truncated: .*space"):
        store.load()
    store.close()
    assert jpath.read_bytes() == content
    assert torn_files(jpath) == []


def test_torn_tail_is_kept_when_the_state_fails_to_load(state_path: Path, jpath: Path) -> None:
    content = journal(base_events()) + TORN_TAIL
    jpath.write_bytes(content)

    def refuse(loaded: LoadedState) -> None:
        raise StorageError("no thanks")

    store = FileStore(state_path, fsync="everysec")
    threads = fsync_threads()
    with pytest.raises(StorageError, match="no thanks"):
        store.load(refuse)
    assert fsync_threads() == threads
    store.close()
    assert jpath.read_bytes() == content
    assert torn_files(jpath) == []


def test_load_reports_where_each_event_was_read(state_path: Path, jpath: Path) -> None:
    j1 = Path(f"{state_path}.journal.1")
    j1.write_bytes(journal(base_events()[:2]))
    jpath.write_bytes(journal(base_events()[1:], first=2))  # event 2 is in both (a copy crash)
    seen: list[LoadedState] = []
    store = FileStore(state_path, fsync="never")
    loaded = store.load(seen.append)
    store.close()
    assert seen == [loaded]
    assert loaded.origins == [(str(j1), 1), (str(j1), 2), (str(jpath), 2)]
    assert loaded.origin(2) == f"{jpath}: corrupt journal at line 2"


# -- python -m ircd -------------------------------------------------------------------------


def run_ircd(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ircd",
            "--web-port",
            "0",
            "--state",
            str(tmp_path / "state.json"),
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            *args,
        ],
        cwd=tmp_path,  # no messenger.toml here: built-in defaults
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def bad_type(state: dict[str, Any]) -> None:
    state["users"][0]["rooms"] = ["#general"]  # used to start, then fail at alice's login


def bad_scheduled(state: dict[str, Any]) -> None:
    del state["scheduled"][0]["due"]


def bad_nan(state: dict[str, Any]) -> None:
    state["bans"]["dave"][0] = NAN


@pytest.mark.parametrize(
    ("mutate", "raw_journal", "expected"),
    [
        pytest.param(bad_type, None, "users[0].rooms: expected an object", id="wrong-type"),
        pytest.param(bad_scheduled, None, "scheduled[0]: missing 'due'", id="missing-key"),
        pytest.param(bad_nan, None, "bans['dave'][0]: expected a time", id="nan"),
        pytest.param(None, b"garbage\n", "journal: corrupt journal at line 4", id="last-line"),
        pytest.param(
            None,
            journal([{"t": "part", "u": "bob", "r": "#gone"}], first=4),
            "journal: corrupt journal at line 4: 'part' event: unknown room '#gone'",
            id="bad-event",
        ),
        pytest.param(None, b"", "not valid JSON", id="empty-snapshot"),
    ],
)
def test_python_m_ircd_prints_one_line_and_exits_2(
    tmp_path: Path, mutate: Mutation | None, raw_journal: bytes | None, expected: str
) -> None:
    state_path = tmp_path / "state.json"
    state = base_state()
    if mutate is not None:
        mutate(state)
    write(state_path, state)
    if raw_journal == b"":
        state_path.write_bytes(b"")
    elif raw_journal is not None:
        jpath = Path(f"{state_path}.journal")
        jpath.write_bytes(jpath.read_bytes() + raw_journal)
    before = folder(tmp_path)
    result = run_ircd(tmp_path, "--log-level", "WARNING")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "ERROR" in lines[0] and "cannot start: " in lines[0]
    assert str(state_path) in lines[0] and expected in lines[0], lines[0]
    assert result.stdout == ""
    assert folder(tmp_path) == before


def test_python_m_ircd_starts_after_a_torn_write_and_says_so(tmp_path: Path) -> None:
    state_path = tmp_path / "state.json"
    write(state_path, base_state(), tail=TORN_TAIL)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ircd",
            "--web-port",
            "0",
            "--state",
            str(state_path),
            "--port",
            "0",
            "--host",
            "127.0.0.1",
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    got: list[str] = []
    timer = threading.Timer(30, proc.kill)  # bounds the wait for "listening"
    timer.start()
    try:
        for line in proc.stderr:
            got.append(line)
            if "listening on" in line:
                break
        port = int(got[-1].rsplit(":", 1)[1])
        # once it answers, its signal handlers are in place
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"PING :ready\r\n")
            assert sock.recv(512)
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(got) + rest
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    (side,) = torn_files(Path(f"{state_path}.journal"))
    assert side.read_bytes() == TORN_TAIL
    warnings = [x for x in text.splitlines() if " WARNING " in x]
    assert len(warnings) == 1 and "torn last line" in warnings[0] and str(side) in warnings[0]
    # the state it started on (journal included) was saved at shutdown
    doc = json.loads(state_path.read_bytes())
    general, x = doc["state"]["rooms"]
    assert general["history"] == []  # the posts are in the snapshot's segments
    files = [str(state_path.parent / seg["file"]) for seg in doc["segments"]]
    texts = [row[11] for chunk in read_segments(files) for row in chunk]
    assert "new since the snapshot" in texts
    assert x["topic"] == "still x"
