"""A hand-written snapshot with something in every field, and journal events to replay after
it, in the format ``Messenger.to_dict`` and the journal use. Pure data: the tests that corrupt
state on disk (tests/storage/test_corrupt_state.py) and the engine's checks of it
(test_state_validation.py) start from it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

T0 = datetime(2026, 5, 1, 15, 20, tzinfo=timezone.utc).timestamp()
H15 = datetime(2026, 5, 1, 15, 0, tzinfo=timezone.utc).timestamp()
# scrypt of "pw" with tiny parameters (real verification, instant)
PW = "scrypt$2$1$1$MDEyMzQ1Njc4OWFiY2RlZg==$8dLI88EkpBoTYGnhkknm7DSwAUCPo6RRzYyf9uqhpbs="


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
            ),
            user("bob", rooms={"#general": 0, "#x": 3}),
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
        "bans": {"dave": [T0 + 3600, "3 complaints"]},
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


def base_events() -> list[dict[str, Any]]:
    """Journal events after the snapshot (sequence numbers 1, 2, 3)."""
    return [
        {"t": "post", "p": post(6, "bob", "new since the snapshot", room="#general")},
        {"t": "topic", "r": "#x", "text": "still x", "by": "Bob", "ts": T0 - 10},
        {"t": "mark", "u": "bob", "target": "#x", "ts": T0 - 5},
    ]
