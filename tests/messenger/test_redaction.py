"""Deleting a stored post (draft/message-redaction, https://ircv3.net/specs/extensions/
message-redaction): who may, and that the post leaves history, backlog, unread and the
private conversation, live, after a snapshot and after a journal replay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ircd.messenger import Messenger
from ircd.messenger.errors import InvalidTarget, RedactForbidden, UnknownMessage

from .helpers import account, dm, make, reloaded, replayed, say

SID = "abc123"


def room_of_three() -> Messenger:
    m = make()
    for k in ("alice", "bob", "carol"):
        account(m, k)
    m.join("alice", "#x", "#x")  # the first member: its operator
    m.join("bob", "#x", "#x")
    m.join("carol", "#x", "#x")
    return m


def texts(m: Messenger, room: str = "#x") -> list[str]:
    return [p.text for p in m.rooms[room].history]


def test_the_sender_deletes_its_own_post_and_it_leaves_history_and_unread() -> None:
    m = room_of_three()
    m.ack("carol", m.seq)
    keep = say(m, "bob", "#x", "keep")
    gone = say(m, "bob", "#x", "oops")
    got = m.redact("bob", "#x", gone.msgid, private=False)
    assert got is gone
    assert texts(m) == ["keep"]
    assert [p.text for p in m.backlog("#x", 20)] == ["keep"]
    assert [p.text for p in m.unread("carol").rooms["#x"]] == ["keep"]
    assert [p.msgid for p in m.history("carol", "#x", private=False)] == [keep.msgid]


def test_a_channel_operator_deletes_anyones_post_a_member_only_its_own() -> None:
    m = room_of_three()
    bobs = say(m, "bob", "#x", "spam")
    with pytest.raises(RedactForbidden):
        m.redact("carol", "#x", bobs.msgid, private=False)
    assert texts(m) == ["spam"]
    m.redact("alice", "#x", bobs.msgid, private=False, reason="spam")
    assert texts(m) == []


def test_a_server_operator_deletes_anything_even_outside_the_room() -> None:
    m = room_of_three()
    account(m, "root")
    p = say(m, "bob", "#x", "spam")
    with pytest.raises(InvalidTarget):  # not a member, not privileged
        m.redact("root", "#x", p.msgid, private=False)
    m.redact("root", "#x", p.msgid, private=False, privileged=True)
    assert texts(m) == []


def test_a_non_member_deletes_only_what_it_sent_and_learns_nothing_else() -> None:
    """A -n room takes posts from outside: their sender may delete them; any other id, or
    one that does not exist, is the same INVALID_TARGET (no leak of what exists)."""
    m = room_of_three()
    account(m, "dave")
    m.rooms["#x"].flags.discard("n")
    outside = m.post_room("dave", "Dave", "dave!u@h", "#x", "from outside")
    bobs = say(m, "bob", "#x", "inside")
    for mid in (bobs.msgid, "nonexistent123", f"{m.server_id}-999"):
        with pytest.raises(InvalidTarget):
            m.redact("dave", "#x", mid, private=False)
    m.redact("dave", "#x", outside.msgid, private=False)
    assert texts(m) == ["inside"]


def test_errors_unknown_room_unknown_id_and_an_id_of_another_room() -> None:
    m = room_of_three()
    m.join("alice", "#y", "#y")
    p = say(m, "alice", "#y", "elsewhere")
    with pytest.raises(InvalidTarget):
        m.redact("alice", "#nope", p.msgid, private=False)
    for bad in ("nonexistent123", "", "x-", f"{m.server_id}-999", f"{p.msgid}0", "a-١"):
        with pytest.raises(UnknownMessage):
            m.redact("alice", "#y", bad, private=False)
    with pytest.raises(UnknownMessage):  # its id names a post of #y, not of #x
        m.redact("alice", "#x", p.msgid, private=False)
    m.redact("alice", "#y", p.msgid, private=False)
    with pytest.raises(UnknownMessage):  # once deleted, it is gone
        m.redact("alice", "#y", p.msgid, private=False)


def test_private_posts_by_their_sender_or_a_server_operator() -> None:
    m = room_of_three()
    account(m, "root")
    a = dm(m, "alice", "bob", "one")
    b = dm(m, "bob", "alice", "two")
    with pytest.raises(RedactForbidden):  # bob's message to alice is bob's
        m.redact("alice", "bob", b.msgid, private=True)
    with pytest.raises(UnknownMessage):  # carol is in no such conversation
        m.redact("carol", "bob", b.msgid, private=True)
    m.redact("alice", "bob", a.msgid, private=True)
    assert [p.text for p in m.history("bob", "alice", private=True)] == ["two"]
    # an operator removes what bob said to alice, naming either side
    m.redact("root", "bob", b.msgid, private=True, privileged=True)
    assert list(m.history("alice", "bob", private=True)) == []
    assert m.unread("alice").private == {}


def test_the_deletion_survives_a_snapshot_and_a_journal_replay() -> None:
    m = room_of_three()
    events = m.take_events()
    say(m, "bob", "#x", "keep")
    p = say(m, "bob", "#x", "oops")
    q = dm(m, "alice", "carol", "private oops")
    m.redact("bob", "#x", p.msgid, private=False, reason="typo")
    m.redact("alice", "carol", q.msgid, private=True)
    events += m.take_events()
    redacts = [e for e in events if e["t"] == "redact"]
    assert redacts == [
        {"t": "redact", "s": p.seq, "by": "bob", "r": "#x", "why": "typo"},
        {"t": "redact", "s": q.seq, "by": "alice", "pk": "alice\tcarol"},
    ]
    for again in (reloaded(m), replayed(events, m)):
        assert texts(again) == ["keep"]
        assert list(again.history("carol", "alice", private=True)) == []
        # the deleted posts were the newest: their ids are never given again
        assert say(again, "bob", "#x", "next").seq == q.seq + 1


def test_posts_by_lists_a_users_newest_posts_in_rooms_and_to_the_peers_given() -> None:
    m = room_of_three()
    say(m, "bob", "#x", "one")
    say(m, "alice", "#x", "not bob's")
    dm(m, "bob", "carol", "two")
    say(m, "bob", "#x", "three")
    dm(m, "bob", "alice", "not to a complainer")
    assert [p.text for p in m.posts_by("bob", 5, peers=["carol"])] == ["one", "two", "three"]
    assert [p.text for p in m.posts_by("bob", 2, peers=["carol"])] == ["two", "three"]
    assert [p.text for p in m.posts_by("bob", 5)] == ["one", "three"]  # no private ones
    assert m.posts_by("bob", 0) == []


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.builds(lambda n: f"{SID}-{n}", st.integers(-5, 12)),
        st.builds(lambda s: f"{SID}-{s}", st.text("0123456789²٣ -", max_size=22)),
        st.builds(lambda n: f"other-{n}", st.integers(0, 12)),
    )
)
def test_any_msgid_finds_exactly_its_post_or_is_unknown(msgid: str) -> None:
    """The msgid parser (its ``-<seq>`` tail) never fails on what a client sends: a REDACT
    of any string deletes exactly the post with that id, or is UnknownMessage."""
    m = room_of_three()
    m.server_id = SID
    posts = [say(m, "bob", "#x", f"p{i}") for i in range(6)]
    ids = {p.msgid for p in posts}
    try:
        got = m.redact("bob", "#x", msgid, private=False)
    except UnknownMessage:
        assert msgid not in ids
        assert len(m.rooms["#x"].history) == 6
    else:
        assert got.msgid == msgid
        assert [p.msgid for p in m.rooms["#x"].history] == [
            p.msgid for p in posts if p.msgid != msgid
        ]
