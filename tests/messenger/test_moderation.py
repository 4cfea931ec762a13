from __future__ import annotations

import pytest

from ircd.messenger import Messenger
from ircd.messenger.errors import Banned, CannotComplain, NoSuchUser
from ircd.messenger.model import Ban, BanEnded

from .helpers import T0, account, clock_of, dm, guest, make, reloaded, replayed, say

BAN = 4 * 3600


@pytest.fixture
def m() -> Messenger:
    m = make(complaints_to_ban=3, ban_seconds=BAN)
    for k in ("alice", "bob", "dave", "erin", "carol"):
        account(m, k)
        m.join(k, "#general", "#general")
    return m


def complain_code(m: Messenger, by: str, target: str) -> str:
    with pytest.raises(CannotComplain) as e:
        m.complain(by, target)
    return e.value.code


def three_complaints(m: Messenger, target: str = "carol") -> None:
    for by in ("alice", "bob", "dave"):
        m.complain(by, target, "spam")


def test_first_complaint_is_recorded_without_a_ban(m: Messenger) -> None:
    r = m.complain("alice", "carol", "spam")
    assert (r.target, r.target_name, r.count, r.banned) == ("carol", "Carol", 1, None)
    assert m.complaints == {"carol": {"alice": "spam"}}
    assert m.ban_of("carol") is None


def test_one_user_complaining_three_times_counts_once(m: Messenger) -> None:
    m.complain("alice", "carol")
    assert complain_code(m, "alice", "carol") == "ALREADY_COMPLAINED"
    assert complain_code(m, "alice", "carol") == "ALREADY_COMPLAINED"
    assert len(m.complaints["carol"]) == 1
    assert m.ban_of("carol") is None


def test_no_self_complaint(m: Messenger) -> None:
    assert complain_code(m, "alice", "alice") == "CANNOT_COMPLAIN_SELF"
    assert m.complaints == {}


def test_unknown_target(m: Messenger) -> None:
    with pytest.raises(NoSuchUser):
        m.complain("alice", "nobody")
    assert m.complaints == {}


def test_guests_cannot_complain_when_accounts_are_required(m: Messenger) -> None:
    guest(m, "gus")
    assert complain_code(m, "gus", "carol") == "ACCOUNT_REQUIRED"
    m.complain("alice", "gus")  # but a guest can be complained about


def test_guests_may_complain_when_allowed() -> None:
    m = make(complaints_require_account=False)
    account(m, "carol")
    guest(m, "gus")
    assert m.complain("gus", "carol").count == 1


def test_reason_is_capped(m: Messenger) -> None:
    m.complain("alice", "carol", "x" * 1000)
    assert m.complaints["carol"]["alice"] == "x" * 300


def test_distinct_complainers_reach_a_ban(m: Messenger) -> None:
    assert m.complain("alice", "carol").count == 1
    assert m.complain("bob", "carol").count == 2
    r = m.complain("dave", "carol")
    assert r.count == 3
    assert r.banned == Ban(until=T0 + BAN, reason="3 complaints", name="Carol")
    assert m.ban_of("carol") == Ban(until=T0 + BAN, reason="3 complaints", name="Carol")
    assert "carol" not in m.complaints  # reset when the ban starts
    assert m.next_due() == T0 + BAN


def test_complaints_about_different_targets_do_not_add_up(m: Messenger) -> None:
    m.complain("alice", "carol")
    m.complain("bob", "erin")
    m.complain("dave", "carol")
    assert m.ban_of("carol") is None and m.ban_of("erin") is None


def test_a_banned_user_cannot_post(m: Messenger) -> None:
    three_complaints(m)
    clock_of(m).advance(10)
    with pytest.raises(Banned) as e:
        say(m, "carol", "#general", "hi")
    assert e.value.until == T0 + BAN
    assert e.value.reason == "3 complaints"
    with pytest.raises(Banned) as e2:
        dm(m, "carol", "alice", "hi")
    assert e2.value.until == T0 + BAN
    with pytest.raises(Banned):
        m.check_room_send("carol", "#general")
    assert m.seq == 0
    # still reads
    say(m, "alice", "#general", "you can read this")
    assert [p.text for p in m.history("carol", "#general", private=False)] == ["you can read this"]
    # others are not affected
    dm(m, "alice", "carol", "hello")


def test_no_complaints_about_or_by_a_banned_user(m: Messenger) -> None:
    three_complaints(m)
    assert complain_code(m, "erin", "carol") == "ALREADY_BANNED"
    assert complain_code(m, "carol", "erin") == "BANNED"
    assert m.complaints == {}


def test_ban_ends_exactly_at_until(m: Messenger) -> None:
    three_complaints(m)
    c = clock_of(m)
    c.t = T0 + BAN - 0.001
    assert m.ban_of("carol") is not None
    with pytest.raises(Banned):
        say(m, "carol", "#general", "not yet")
    assert m.release_due() == ([], [])
    c.t = T0 + BAN
    assert m.ban_of("carol") is None
    say(m, "carol", "#general", "free before the timer even ran")
    assert m.release_due() == ([], [BanEnded(user="carol", name="Carol")])
    assert m.release_due() == ([], [])  # reported once
    assert m.bans == {}
    assert m.next_due() is None


def test_complaints_start_over_after_a_ban(m: Messenger) -> None:
    three_complaints(m)
    clock_of(m).advance(BAN)
    m.release_due()
    r = m.complain("alice", "carol")  # alice complained before the ban: counts again
    assert (r.count, r.banned) == (1, None)


def test_lift_ban(m: Messenger) -> None:
    three_complaints(m)
    assert m.lift_ban("carol") is True
    assert m.lift_ban("carol") is False
    assert m.ban_of("carol") is None
    say(m, "carol", "#general", "back")
    clock_of(m).advance(BAN)
    assert m.release_due() == ([], [])  # lifted by hand: no "ban ended" report
    assert m.lift_ban("nobody") is False


def test_operator_ban(m: Messenger) -> None:
    m.complain("alice", "carol")
    ban = m.ban("carol", 60, "muted by oper")
    assert ban == Ban(until=T0 + 60, reason="muted by oper", name="Carol")
    assert m.complaints == {}
    clock_of(m).advance(60)
    assert m.release_due()[1] == [BanEnded("carol", "Carol")]


def test_bans_end_in_order(m: Messenger) -> None:
    m.ban("erin", 120, "b")
    m.ban("carol", 60, "a")
    clock_of(m).advance(200)
    assert m.release_due()[1] == [BanEnded("carol", "Carol"), BanEnded("erin", "Erin")]


def test_ban_and_complaints_survive_snapshot_and_journal(m: Messenger) -> None:
    three_complaints(m)
    m.complain("alice", "erin", "rude")
    events = m.take_events()
    for restored in (reloaded(m), replayed(events, m)):
        assert restored.ban_of("carol") == Ban(until=T0 + BAN, reason="3 complaints", name="Carol")
        assert restored.complaints == {"erin": {"alice": "rude"}}
        with pytest.raises(Banned):
            say(restored, "carol", "#general", "after restart")
        assert complain_code(restored, "alice", "erin") == "ALREADY_COMPLAINED"
        assert restored.next_due() == T0 + BAN


def test_ban_expires_across_a_restart() -> None:
    m = make(ban_seconds=60)
    for k in ("alice", "bob", "dave", "carol"):
        account(m, k)
    three_complaints(m)
    clock_of(m).advance(3600)  # the server was down when it ended
    for restored in (reloaded(m), replayed(m.take_events(), m)):
        assert restored.ban_of("carol") is None
        assert restored.release_due() == ([], [BanEnded("carol", "Carol")])


def test_lift_ban_survives_a_restart(m: Messenger) -> None:
    three_complaints(m)
    m.lift_ban("carol")
    events = m.take_events()
    assert reloaded(m).bans == {}
    assert replayed(events, m).bans == {}
