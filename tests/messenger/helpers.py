"""Shared helpers for the pure engine tests: a fixed start time, short-hands for accounts,
guests and posts, and the two ways a restart rebuilds the engine (snapshot, journal)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from ircd.clock import FakeClock
from ircd.messenger import Messenger, Post, Rules

# 2026-05-01 15:20:00 UTC: twenty minutes into an hour window.
T0 = datetime(2026, 5, 1, 15, 20, tzinfo=timezone.utc).timestamp()
H15 = datetime(2026, 5, 1, 15, 0, tzinfo=timezone.utc).timestamp()
H16 = datetime(2026, 5, 1, 16, 0, tzinfo=timezone.utc).timestamp()


def fast_hash(password: str, *, salt: bytes | None = None) -> str:
    """A real, verifiable scrypt hash with tiny parameters (the real ones take ~50 ms)."""
    salt = salt or b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2, r=1, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt$2$1$1${b64(salt).decode()}${b64(digest).decode()}"


def make(clock: FakeClock | None = None, **rules: Any) -> Messenger:
    return Messenger(clock or FakeClock(T0), dataclasses.replace(Rules(), **rules))


def clock_of(m: Messenger) -> FakeClock:
    assert isinstance(m.clock, FakeClock)
    return m.clock


def account(m: Messenger, key: str, password: str = "pw", *, online: bool = True) -> None:
    m.create_account(key, key.capitalize(), fast_hash(password))
    if online:
        m.connected(key)


def guest(m: Messenger, key: str) -> None:
    m.attach_guest(key, key.capitalize())
    m.connected(key)


def say(m: Messenger, user: str, room: str, text: str, kind: str = "PRIVMSG") -> Post:
    return m.post_room(user, user.capitalize(), f"{user}!u@host", room, text, kind)


def dm(m: Messenger, user: str, to: str, text: str) -> Post:
    return m.post_private(user, user.capitalize(), f"{user}!u@host", to, text)


def sched(
    m: Messenger, owner: str, target: str, text: str, in_seconds: float, private: bool = False
) -> int:
    due = m.clock.now() + in_seconds
    item = m.schedule(
        owner, owner.capitalize(), f"{owner}!u@host", target, target, private, text, due
    )
    return item.id


def texts(posts: Any) -> list[str]:
    return [p.text for p in posts]


def via_json(x: Any) -> Any:
    return json.loads(json.dumps(x))


def reloaded(m: Messenger, clock: FakeClock | None = None) -> Messenger:
    """A restart from a snapshot (through JSON, as the state file stores it)."""
    return Messenger.from_dict(via_json(m.to_dict()), clock or clock_of(m), m.rules)


def replayed(
    events: list[dict[str, Any]], m: Messenger, clock: FakeClock | None = None
) -> Messenger:
    """A restart from the journal alone (through JSON), into a fresh engine."""
    fresh = Messenger(clock or clock_of(m), m.rules)
    fresh.replay(via_json(events))
    return fresh


def durable(m: Messenger) -> dict[str, Any]:
    """to_dict() without the random per-instance server id."""
    d = m.to_dict()
    d.pop("server_id")
    return d
