"""The typed events (ircd/messenger/events.py): one class per event type, one apply function
per class, and a JSON form derived from the class that is the journal format of earlier
versions (old journals load, and what the engine writes is what it wrote before)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ircd.messenger.engine import APPLY
from ircd.messenger.events import (
    _ENCODERS,
    _SPECS,
    EVENT_TYPES,
    TAGS,
    AccountCreated,
    Ack,
    Complaint,
    Event,
    Join,
    LegacyRename,
    Muted,
    NewPost,
    Renamed,
    ScheduledAdded,
    _encoder,
    from_json,
    to_json,
)
from ircd.messenger.model import Post, Scheduled
from ircd.messenger.validate import _EVENTS, StateError, check_event

from .helpers import account, make
from .sample_state import base_events, every_event, post
from .test_state_every_field import run


def test_one_apply_function_per_event_class() -> None:
    assert set(APPLY) == set(EVENT_TYPES)
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)
    assert {TAGS[cls] for cls in EVENT_TYPES} == set(_EVENTS)  # each tag is validated


def test_event_classes_are_frozen_and_slotted() -> None:
    for cls in EVENT_TYPES:
        # slotted: its instances have no __dict__ (a compiled class has no __slots__ either)
        assert dataclasses.is_dataclass(cls) and cls.__dictoffset__ == 0, cls
        assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
    ev = Ack("alice", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.seq = 4  # type: ignore[misc]


@pytest.mark.parametrize("d", [*base_events(), *every_event()], ids=lambda d: str(d["t"]))
def test_every_sample_journal_entry_reads_and_writes_back_unchanged(d: dict[str, Any]) -> None:
    ev = from_json(d)
    assert d["t"] == TAGS[type(ev)]
    assert to_json(ev) == d


@pytest.mark.parametrize("d", [*base_events(), *every_event()], ids=lambda d: str(d["t"]))
def test_a_to_json_written_out_is_the_generated_one(d: dict[str, Any]) -> None:
    """NewPost writes its to_json out (for the compiled module); it must be what its class
    definition generates, and every class's to_json is its table's encoder."""
    ev = from_json(d)
    assert ev.to_json() == _encoder(type(ev))(ev) == _ENCODERS[type(ev)](ev) == d
    assert list(ev.to_json()) == list(_encoder(type(ev))(ev))  # the keys in the same order
    if isinstance(ev, NewPost):
        for quota in (None, "~gus"):
            other = NewPost(ev.post, quota)
            assert other.to_json() == _encoder(NewPost)(other)


def test_what_the_engine_journals_is_typed_and_round_trips() -> None:
    _, journal = run()  # a scenario writing every event type and every optional field
    # every type but "pw", which only journals of earlier versions have
    assert {ev["t"] for ev in journal} == {TAGS[cls] for cls in EVENT_TYPES} - {"pw"}
    for d in journal:
        assert to_json(from_json(d)) == d


def test_the_short_keys_and_omitted_defaults() -> None:
    p = Post.from_dict(post(1, "alice", "hi", room="#x"))
    assert to_json(NewPost(p)) == {"t": "post", "p": p.to_dict()}
    assert to_json(NewPost(p, "~gus"))["q"] == "~gus"
    assert to_json(Ack("bob", 5)) == {"t": "ack", "u": "bob", "s": 5}
    assert to_json(Ack("bob", 5, (2, 4))) == {"t": "ack", "u": "bob", "s": 5, "hold": [2, 4]}
    assert to_json(Join("bob", "#x", False, 7)) == {
        "t": "join",
        "u": "bob",
        "r": "#x",
        "op": False,  # written even when false, as before
        "s": 7,
    }
    assert to_json(AccountCreated("bob", "Bob", "h", 1.0, 0)) == {
        "t": "acct",
        "k": "bob",
        "n": "Bob",
        "pw": "h",
        "ts": 1.0,
        "s": 0,
    }
    # the keys in the order earlier versions wrote them
    full = AccountCreated("erin", "Erin", "h", 1.0, 6, "192.0.2.1", 5)
    assert list(to_json(full)) == ["t", "k", "n", "pw", "ts", "s", "ip", "since"]
    assert list(to_json(Complaint("a", "b", "x", "g"))) == ["t", "by", "target", "why", "g"]
    assert to_json(Complaint("a", "b")) == {"t": "cmp", "by": "a", "target": "b", "why": ""}
    assert to_json(Muted("b", 9.0, "x", ip="192.0.2.1")) == {
        "t": "ban",
        "u": "b",
        "until": 9.0,
        "why": "x",
        "ip": "192.0.2.1",
    }


def test_old_journal_forms_read_with_their_defaults() -> None:
    assert from_json({"t": "join", "u": "bob", "r": "#x"}) == Join("bob", "#x", False, None)
    assert from_json({"t": "rename", "u": "g!1", "n": "G"}) == Renamed("g!1", "G", "", "")
    assert from_json({"t": "rename", "old": "gus", "new": "gustav"}) == LegacyRename(
        "gus", "gustav"
    )
    acct = from_json({"t": "acct", "k": "h", "n": "H", "pw": "x", "ts": 1.0})
    assert isinstance(acct, AccountCreated) and acct.seq is None and acct.since is None


def test_bad_journal_entries() -> None:
    with pytest.raises(ValueError, match="unknown event type 'nope'"):
        from_json({"t": "nope"})
    with pytest.raises(KeyError, match="'s'"):
        from_json({"t": "ack", "u": "bob"})
    with pytest.raises(ValueError, match="a hold must be"):
        from_json({"t": "ack", "u": "bob", "s": 1, "hold": [3, 1]})
    with pytest.raises(TypeError, match="not an event type"):
        Event().to_json()


def test_a_journaled_schedule_is_not_changed_by_what_happens_to_it_later() -> None:
    m = make()
    account(m, "alice")
    m.join("alice", "#general", "#general")
    item = m.schedule(
        "alice", "Alice", "Alice!a@h", "#general", "#general", False, "later", m.clock.now() + 60
    )
    (ev,) = (d for d in m.take_events() if d["t"] == "sched")
    assert ev["item"]["due"] == item.due
    m.scheduled[item.id].due += 30  # the engine's copy, not the event's or the caller's
    assert item.due == ev["item"]["due"]
    typed = from_json(ev)
    assert isinstance(typed, ScheduledAdded) and isinstance(typed.item, Scheduled)
    assert typed.item.due == item.due


def sample_of(cls: type[Event]) -> dict[str, Any]:
    """The sample journal entry of ``cls`` with every key it can have."""
    for d in [*every_event(), *base_events()]:
        ev = from_json(d)
        if type(ev) is cls and set(to_json(ev)) == {"t", *(f.key for f in _SPECS[cls])}:
            return d
    full = {"t": TAGS[cls]}
    for d in [*every_event(), *base_events()]:  # (no sample has them all: merge the samples)
        if type(from_json(d)) is cls:
            full = {**full, **d}
    return full


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_the_validator_requires_what_the_class_requires(cls: type[Event]) -> None:
    """validate.py's check of an event type and the event class agree on which keys must be
    there: without a required key the event is refused, without an optional one it is read."""
    rooms = {"#x", "#general"}
    d = sample_of(cls)
    assert set(d) == {"t", *(f.key for f in _SPECS[cls])}, "the samples lack a key"
    check_event(d, rooms)
    for f in _SPECS[cls]:
        without = {k: v for k, v in d.items() if k != f.key}
        if f.required:
            # (a rename without "u" is of the 0.1 form, which then lacks its "old")
            key = "old" if (cls, f.key) == (Renamed, "u") else f.key
            with pytest.raises(StateError, match=f"missing {key!r}"):
                check_event(without, rooms)
        else:
            check_event(without, rooms)
            assert type(from_json(without)) is cls
