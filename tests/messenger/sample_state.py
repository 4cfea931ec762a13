"""A hand-written snapshot with something in every field, and journal events to replay after
it, in the format ``Messenger.to_dict`` and the journal use. Pure data: the tests that corrupt
state on disk (tests/storage/test_corrupt_state.py) and the engine's checks of it
(test_state_validation.py) start from it.

Whoever adds a field to the snapshot or an event type to the journal adds it here too (with
every optional field set), so that the corruption sweeps mutate it: test_state_validation.py
fails while ``every_event()`` lacks a type ``Messenger._apply`` knows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

T0 = datetime(2026, 5, 1, 15, 20, tzinfo=timezone.utc).timestamp()
H15 = datetime(2026, 5, 1, 15, 0, tzinfo=timezone.utc).timestamp()
# scrypt of "pw" with tiny parameters (real verification, instant)
PW = "scrypt$2$1$1$MDEyMzQ1Njc4OWFiY2RlZg==$8dLI88EkpBoTYGnhkknm7DSwAUCPo6RRzYyf9uqhpbs="
HOME = "203.0.113.7"  # the address alice, bob (and erin, created in the journal) came from
GUEST_IP = "198.51.100.9"  # the address of a departed, muted guest
GUS, GWEN = "gus!a1", "gwen!a2"  # guests' keys (nick!connection, see Hub.guest_key)


def post(
    seq: int,
    sender: str,
    text: str,
    *,
    room: str | None = None,
    to: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "seq": seq,
        "id": f"abc123-{seq}",
        "ts": T0 - 600 + seq,
        "k": "PRIVMSG",
        "s": sender,
        "sn": sender.capitalize(),
        "o": f"{sender}!u@host",
        "txt": text,
        "a": sender.capitalize(),
    }
    if room is not None:
        p["r"] = room
    if to is not None:
        p["to"], p["tn"] = to, to.capitalize()
    p.update(extra)
    return p


def user(key: str, **fields: Any) -> dict[str, Any]:
    u: dict[str, Any] = {
        "key": key,
        "name": key.capitalize(),
        "pw": PW,
        "created": T0 - 86400,
        "delivered": 3,
        "seen": True,
        "rooms": {"#general": 0},
        "settings": {},
        "markers": {},
        "since": 0,
    }
    u.update(fields)
    return u


def base_state() -> dict[str, Any]:
    """A snapshot with something in every field (as ``Messenger.to_dict`` writes it)."""
    return {
        "schema": 1,
        "server_id": "abc123",
        "seq": 5,
        "next_sched_id": 3,
        "users": [
            user(
                "alice",
                rooms={"#general": 0, "#x": 2},
                settings={"backlog": "on"},
                markers={"#general": T0 - 60},
                address=HOME,
                oper="root",  # authenticated with OPER as the operator "root"
                holds=[[1, 2]],  # post 2 is still unread (a connection that pulls history)
            ),
            user("bob", rooms={"#general": 0, "#x": 3}, address=HOME),
            user("carol"),
            user("dave"),
        ],
        "rooms": [
            {
                "key": "#general",
                "name": "#general",
                "created": T0 - 86400,
                "topic": "",
                "topic_by": "",
                "topic_time": 0.0,
                "members": ["alice", "bob", "carol", "dave"],
                "ops": [],
                "history": [
                    post(1, "alice", "hello", room="#general"),
                    post(2, "bob", "hi", room="#general", tags={"+draft/reply": "abc123-1"}),
                    post(3, "carol", "spam spam", room="#general"),
                ],
            },
            {
                "key": "#x",
                "name": "#X",
                "created": T0 - 3600,
                "topic": "all about x",
                "topic_by": "Alice",
                "topic_time": T0 - 3000,
                "members": ["alice", "bob"],
                "ops": ["alice"],
                "history": [post(4, "bob", "x marks the spot", room="#x")],
            },
        ],
        "private": {"alice\tbob": [post(5, "alice", "psst", to="bob")]},
        "windows": {"alice": [H15, 1], "bob": [H15, 2]},
        "complaints": {"carol": {"alice": "spam", "bob": ""}},
        # alice and bob were young accounts from one address: one voice about carol
        "complaint_groups": {"carol": {"alice": HOME, "bob": HOME}},
        "bans": {
            "dave": [T0 + 3600, "3 complaints"],  # as older versions wrote it
            GWEN: [T0 + 1800, "muted by an operator", "Gwen", GUEST_IP],  # a departed guest
        },
        "scheduled": [
            {
                "id": 1,
                "owner": "alice",
                "owner_name": "Alice",
                "target": "#general",
                "target_name": "#general",
                "private": False,
                "text": "later",
                "created": T0 - 60,
                "due": T0 + 600,
                "origin": "alice!u@host",
            },
            {
                "id": 2,
                "owner": "bob",
                "owner_name": "Bob",
                "target": "alice",
                "target_name": "Alice",
                "private": True,
                "text": "see you",
                "created": T0 - 60,
                "due": T0 + 1200,
                "origin": "bob!u@host",
            },
        ],
    }


def guest_post(seq: int, sender: str, text: str, **where: Any) -> dict[str, Any]:
    p = post(seq, sender, text, **where)
    p["sn"], p["o"] = sender.split("!")[0].capitalize(), f"{sender.split('!')[0]}!u@guest"
    del p["a"]  # no account
    return p


def base_events() -> list[dict[str, Any]]:
    """Journal events after the snapshot (sequence numbers 1, 2, 3)."""
    return [
        {"t": "post", "p": post(6, "bob", "new since the snapshot", room="#general")},
        {"t": "topic", "r": "#x", "text": "still x", "by": "Bob", "ts": T0 - 10},
        {"t": "mark", "u": "bob", "target": "#x", "ts": T0 - 5},
    ]


def every_event() -> list[dict[str, Any]]:
    """One event of every type the journal has, with every optional field, in the order the
    engine would write them after ``base_events()`` (seq 6). Each also replays alone after
    the snapshot (the rooms they need exist there)."""
    sched = {
        "id": 3,
        "owner": "erin",
        "owner_name": "Erin",
        "target": "#x",
        "target_name": "#X",
        "private": False,
        "text": "soon",
        "created": T0,
        "due": T0 + 600,
        "origin": "erin!u@host",
    }
    return [
        {"t": "sid", "id": "abc123"},
        {"t": "acct", "k": "erin", "n": "Erin", "pw": PW, "ts": T0, "s": 6, "since": 6, "ip": HOME},
        {"t": "pw", "u": "erin", "pw": PW},
        {"t": "room", "r": "#y", "n": "#Y", "ts": T0},
        {"t": "join", "u": "erin", "r": "#x", "op": True, "s": 6},
        {"t": "op", "u": "erin", "r": "#x", "on": False},
        {"t": "topic", "r": "#x", "text": "x again", "by": "Erin", "ts": T0},
        {"t": "voice", "u": "erin", "r": "#x", "on": True},
        {"t": "cmode", "r": "#x", "m": "k", "on": True, "arg": "sesame"},
        {"t": "clist", "r": "#x", "k": "b", "m": "m:gus!*@*", "on": True, "by": "Erin", "ts": T0},
        {"t": "invite", "u": "bob", "r": "#x"},
        {"t": "set", "u": "erin", "k": "timestamps", "v": "always"},
        {"t": "mark", "u": "erin", "target": "#x", "ts": T0},
        {"t": "post", "p": guest_post(7, GUS, "from a guest", room="#x"), "q": "~gus"},
        {"t": "post", "p": guest_post(8, GUS, "psst", to=GWEN)},
        {"t": "redact", "s": 3, "by": "bob", "r": "#general", "why": "spam"},  # an operator
        {"t": "redact", "s": 8, "by": GUS, "pk": f"{GUS}\t{GWEN}"},  # its own
        {"t": "undm", "pk": f"{GUS}\t{GWEN}"},  # both guests left
        {"t": "rename", "u": GUS, "n": "Gustav", "q": "~gustav", "oq": "~gus"},
        {"t": "cmp", "target": GUS, "by": "erin", "why": "flood", "g": HOME},
        {"t": "gone", "u": GUS},
        {"t": "ban", "u": GUS, "until": T0 + 600, "why": "muted", "n": "Gustav", "ip": GUEST_IP},
        {"t": "unban", "u": GUS},
        {"t": "acct", "k": "hal", "n": "Hal", "pw": PW, "ts": T0, "ip": "198.51.100.10"},
        {"t": "adopt", "old": "hal!a3", "new": "hal", "q": "~hal"},  # guest hal registered
        {"t": "seen", "u": "hal"},
        {"t": "oper", "u": "bob", "n": "root"},
        {"t": "ack", "u": "erin", "s": 8, "hold": [6, 7]},  # 7 stays unread
        {"t": "ack", "u": "erin", "s": 8, "upto": 6},  # another device got up to 6: 7 stays
        {"t": "ack", "u": "bob", "s": 8},
        {"t": "sched", "item": sched},
        {"t": "resched", "id": 3, "due": T0 + 1200},
        {"t": "unsched", "id": 3},
        {"t": "part", "u": "bob", "r": "#x"},
        {"t": "unroom", "r": "#y"},
        {"t": "rename", "old": "gus", "new": "gustav", "n": "Gustav"},  # a 0.1 journal's form
    ]
