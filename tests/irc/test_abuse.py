"""Abuse, adapter tier: #general's topic is +t for everyone but operators (Modern IRC: TOPIC,
MODE, 482 ERR_CHANOPRIVSNEEDED), server operators act as channel operators, and JOIN/PART of
throw-away channels leaves nothing behind."""

from __future__ import annotations

from .harness import SERVER, Client, Harness, cmds, one, only
from .operators import oper_up, with_operator

NOT_OP = "You're not channel operator"


def test_a_guest_cannot_set_the_topic_of_general_and_nobody_hears_of_it() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    h.drain(a, b)
    out = a.send_take("TOPIC #general :pwned")
    assert [m.format() for m in out] == [f":{SERVER} 482 alice #general :{NOT_OP}"]
    assert b.take() == []
    assert cmds(b.send_take("TOPIC #general")) == ["331"]
    # nor make itself its operator, nor change its modes
    assert [m.format() for m in a.send_take("MODE #general +o alice")] == [
        f":{SERVER} 482 alice #general :Only server operators change this channel"
    ]
    assert cmds(a.send_take("MODE #general -t")) == ["482"]
    assert b.take() == []


def test_mode_shows_t_where_the_topic_is_protected() -> None:
    """RPL_CHANNELMODEIS (324) tells the truth: #general is always +t; another channel is +t
    while it has an operator, and open to its members once they all left."""
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    assert one(a.send_take("MODE #general"), "324").params == ("alice", "#general", "+nt")
    a.send("JOIN #dev")
    b.send("JOIN #dev")
    h.drain(a, b)
    assert one(b.send_take("MODE #dev"), "324").params == ("bob", "#dev", "+nt")
    assert cmds(b.send_take("TOPIC #dev :mine")) == ["482"]
    a.send("PART #dev")
    h.drain(a, b)
    assert one(b.send_take("MODE #dev"), "324").params == ("bob", "#dev", "+n")
    assert [m.command for m in b.send_take("TOPIC #dev :mine now")] == ["TOPIC"]
    # an operator changing n or t hears nothing (they cannot be changed), like for a no-op
    a.send("JOIN #ops")
    a.take()
    assert a.send_take("MODE #ops +t") == []


def test_a_server_operator_sets_the_topic_and_gives_general_an_operator() -> None:
    h = Harness(with_operator())
    root = h.user("root")
    b = h.user("bob")
    c = h.user("carol")
    oper_up(root)
    h.drain(root, b, c)
    out = root.send_take("TOPIC #general :Be nice")
    line = f":{root.session.mask} TOPIC #general :Be nice"
    assert [m.format() for m in out] == [line]
    assert [m.format() for m in b.take()] == [line]
    assert [m.format() for m in c.take()] == [line]
    out = root.send_take("MODE #general +o bob")
    mode = f":{root.session.mask} MODE #general +o bob"
    assert [m.format() for m in out] == [mode]
    assert [m.format() for m in c.take()] == [mode]
    # bob is #general's channel operator now: he sets its topic, carol still cannot
    assert cmds(b.send_take("TOPIC #general :Be very nice")) == ["TOPIC"]
    assert cmds(c.send_take("TOPIC #general :no")) == ["482"]
    names = one(c.send_take("NAMES #general"), "353").params[3].split()
    assert "@bob" in names and "@root" not in names and "root" in names
    # and the privilege ends with the operator status (MODE -o)
    root.send("MODE root -o")
    root.take()
    assert cmds(root.send_take("TOPIC #general :again")) == ["482"]


def test_a_server_operator_kicks_where_it_is_not_channel_operator() -> None:
    h = Harness(with_operator())
    a = h.user("alice")
    root = h.user("root")
    spam = h.user("spammer")
    for x in (a, root, spam):
        x.send("JOIN #dev")
    oper_up(root)
    h.drain(a, root, spam)
    out = root.send_take("KICK #dev spammer :spam")
    assert cmds(out) == ["KICK"]
    assert cmds(spam.take()) == ["KICK"]
    assert h.messenger.rooms["#dev"].members == {a.session.user_key, root.session.user_key}


def test_join_part_join_in_one_pass_makes_the_room_anew() -> None:
    """The room ceases to exist at the PART: the second JOIN makes a new one, and its JOIN
    line reaches the joiner (the batched broadcast log of the first room is not reused)."""
    h = Harness()
    a = h.user("alice")
    a.take()
    a.send("JOIN #tmp", "TOPIC #tmp :first", "PART #tmp", "JOIN #tmp")
    lines = a.take_lines()
    mask = a.session.mask
    assert lines == [
        f":{mask} JOIN #tmp",
        f":{SERVER} 353 alice = #tmp :@alice",
        f":{SERVER} 366 alice #tmp :End of /NAMES list",
        f":{mask} TOPIC #tmp :first",
        f":{mask} PART #tmp",
        f":{mask} JOIN #tmp",
        f":{SERVER} 353 alice = #tmp :@alice",
        f":{SERVER} 366 alice #tmp :End of /NAMES list",
    ]


def test_throw_away_channels_leave_nothing_behind() -> None:
    h = Harness()
    a = h.user("alice", "draft/read-marker")
    b = h.user("bob")
    n = 0
    for _ in range(3):  # in rounds, as a client under the command-rate limit would
        for _ in range(4):
            name = f"#junk{n}"
            n += 1
            a.send(f"JOIN {name}", f"MARKREAD {name} timestamp=2020-01-01T00:00:00.000Z")
            a.send(f"PRIVMSG {name} :x", f"PART {name}")
        h.advance(10)
    out = a.take()
    assert len(only(out, "PART")) == 12
    assert "FAIL" not in cmds(out)
    assert list(h.messenger.rooms) == ["#general"]
    # read markers outlive a PART (they only move forward) but stay within their bound
    markers = h.messenger.user(a.session.user_key).read_markers
    assert len(markers) == 12 <= h.messenger.rules.max_read_markers
    assert [m.params[1] for m in only(b.send_take("LIST"), "322")] == ["#general"]


def test_markread_of_a_channel_needs_membership() -> None:
    """draft/read-marker: setting a channel's marker needs membership; the stored one is
    what the server sends on a later JOIN ("the server MUST ... send the stored timestamp")."""
    h = Harness()
    a = h.user("alice", "draft/read-marker standard-replies")
    b = h.user("bob")
    b.send("JOIN #dev")
    h.drain(a, b)
    out = a.send_take("MARKREAD #dev timestamp=2020-01-01T00:00:00.000Z")
    assert [m.format() for m in out] == [
        f":{SERVER} FAIL MARKREAD INVALID_PARAMS #dev :You're not on that channel"
    ]
    out = a.send_take("MARKREAD #nope timestamp=2020-01-01T00:00:00.000Z")
    assert cmds(out) == ["FAIL"]
    a.send("JOIN #dev")
    a.take()
    out = a.send_take("MARKREAD #dev timestamp=2020-01-01T00:00:00.000Z")
    assert [m.params for m in out] == [("#dev", "timestamp=2020-01-01T00:00:00.000Z")]
    a.send("PART #dev")
    out = a.send_take("JOIN #dev")
    # the marker outlives the PART: the JOIN shows what was read
    assert one(out, "MARKREAD").params == ("#dev", "timestamp=2020-01-01T00:00:00.000Z")
    # private markers need no channel
    out = a.send_take("MARKREAD bob timestamp=2020-01-01T00:00:00.000Z")
    assert cmds(out) == ["MARKREAD"]


# ---------------------------------------------------------------------- complaints


def _complain(c: Client, nick: str) -> str:
    """COMPLAIN and return the one reply's text (a service notice, or a NOTE's last param)."""
    out = c.send_take(f"COMPLAIN {nick} :spam")
    replies = [m for m in out if m.command in ("NOTICE", "NOTE", "FAIL")]
    assert replies, [m.format() for m in out]
    return replies[0].params[-1]


def test_the_complainer_is_told_how_the_complaint_counted() -> None:
    h = Harness()
    carol = h.user("carol", password="pw")
    socks = [h.connect("203.0.113.7") for _ in range(3)]
    for i, c in enumerate(socks):
        c.register(f"sock{i}", password="pw")
        c.take()
    ann = h.user("ann", "standard-replies", password="pw")
    assert _complain(socks[0], "carol") == (
        "Your complaint about carol was recorded (1 of 3 needed to mute)."
    )
    assert _complain(socks[1], "carol") == (
        "Your complaint about carol was recorded, but it counts together with 1 other new "
        "account from your address (1 of 3 needed to mute)."
    )
    assert _complain(socks[2], "carol") == (
        "Your complaint about carol was recorded, but it counts together with 2 other new "
        "accounts from your address (1 of 3 needed to mute)."
    )
    # standard replies carry the counts as context
    out = ann.send_take("COMPLAIN carol :spam")
    note = one(out, "NOTE")
    assert note.params[:5] == ("COMPLAIN", "RECORDED", "carol", "2", "3")
    assert note.params[5] == "Your complaint about carol was recorded (2 of 3 needed to mute)."
    assert h.messenger.ban_of(carol.session.user_key) is None
    assert not any("muted" in m.params[-1] for m in carol.take())


def test_with_the_age_at_zero_three_accounts_from_one_machine_mute() -> None:
    """The README's way to try the 3-complaint rule on one machine."""
    h = Harness(moderation={"complaint_min_account_age": 0})
    carol = h.user("carol", password="pw")
    users = [h.connect("127.0.0.1") for _ in range(3)]
    for name, c in zip(("ann", "ben", "cid"), users, strict=True):
        c.register(name, password="pw")
        c.take()
    assert _complain(users[0], "carol").endswith("(1 of 3 needed to mute).")
    assert _complain(users[1], "carol").endswith("(2 of 3 needed to mute).")
    out = users[2].send_take("COMPLAIN carol :spam")
    texts = [m.params[-1] for m in only(out, "NOTICE")]
    assert texts[0] == "Your complaint about carol was recorded (3 of 3 needed to mute)."
    assert texts[1].startswith("carol has been muted until ")
    assert any("You have been muted until" in m.params[-1] for m in carol.take())
    assert cmds(carol.send_take("PRIVMSG #general :hello?")) == ["404"]


def test_an_operator_is_not_muted_by_complaints_even_offline() -> None:
    h = Harness(with_operator(moderation={"complaint_min_account_age": 0}))
    boss = h.user("boss", password="pw")
    oper_up(boss)
    complainers = [h.user(n, password="pw") for n in ("ann", "ben", "cid", "dan")]
    text = _complain(complainers[0], "boss")
    assert text == (
        "Your complaint about boss was recorded for the operators to see; boss is a server "
        "operator and cannot be muted by complaints."
    )
    boss.quit()  # offline now: the account is still known as an operator's
    for c in complainers[1:]:
        assert "cannot be muted by complaints" in _complain(c, "boss")
    assert h.messenger.ban_of("boss") is None
    # the operators see the complaints (and who they were about)
    root = h.user("root")
    oper_up(root)
    out = root.send_take("PRIVMSG Messenger :complaints")
    assert one(out, "NOTICE").params[1].startswith("boss: 4 complaint(s), a server operator (")


def test_an_account_removed_from_the_operators_loses_the_immunity() -> None:
    h = Harness(with_operator(moderation={"complaint_min_account_age": 0}))
    boss = h.user("boss", password="pw")
    oper_up(boss)
    boss.quit()
    h.hub.operators.clear()  # as after a restart with [[operators]] emptied
    users = [h.user(n, password="pw") for n in ("ann", "ben", "cid")]
    assert [_complain(c, "boss")[-24:] for c in users] == [
        "(1 of 3 needed to mute).",
        "(2 of 3 needed to mute).",
        "(3 of 3 needed to mute).",
    ]
    assert h.messenger.ban_of("boss") is not None


def test_operators_listing_shows_how_complaints_count() -> None:
    h = Harness(with_operator())
    h.user("carol", password="pw")
    for i in range(2):
        c = h.connect("203.0.113.7")
        c.register(f"sock{i}", password="pw")
        _complain(c, "carol")
    root = h.user("root")
    oper_up(root)
    out = root.send_take("PRIVMSG Messenger :complaints")
    assert one(out, "NOTICE").params[1] == (
        "carol: 2 complaint(s), counting as 1 (sock0: spam; sock1: spam)"
    )
