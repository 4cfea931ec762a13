"""PRIVMSG/NOTICE/TAGMSG and the IRCv3 caps around them (adapter tier)."""

from __future__ import annotations

import re

from ircd.irc.timefmt import iso_time

from .harness import SERVER, Harness, cmds, one

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_channel_privmsg_and_notice_plain() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    assert a.send_take("PRIVMSG #general :hello world") == []  # no echo without echo-message
    assert b.take_lines() == [f":{a.session.mask} PRIVMSG #general :hello world"]
    assert a.send_take("NOTICE #general :note this") == []
    assert b.take_lines() == [f":{a.session.mask} NOTICE #general :note this"]
    # case-insensitive channel name, relayed with the channel's own spelling
    a.send("PRIVMSG #GENERAL :shout")
    assert b.take_lines() == [f":{a.session.mask} PRIVMSG #general :shout"]


def test_private_privmsg_and_notice() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    c = h.user("carol")
    h.drain(a, b)
    assert a.send_take("PRIVMSG BOB :psst") == []
    assert b.take_lines() == [f":{a.session.mask} PRIVMSG bob :psst"]
    a.send("NOTICE bob :fyi")
    assert b.take_lines() == [f":{a.session.mask} NOTICE bob :fyi"]
    assert c.take() == []  # private means private


def test_message_errors() -> None:
    h = Harness()
    a = h.user("alice")
    assert [m.format() for m in a.send_take("PRIVMSG ghost :hi")] == [
        f":{SERVER} 401 alice ghost :No such nick/channel"
    ]
    assert cmds(a.send_take("PRIVMSG #nowhere :hi")) == ["403"]
    h.user("bob").send("JOIN #dev")
    assert cmds(a.send_take("PRIVMSG #dev :let me in")) == ["404"]
    assert cmds(a.send_take("PRIVMSG #general")) == ["412"]
    assert cmds(a.send_take("PRIVMSG #general :")) == ["412"]
    # NOTICE errors are not answered (no auto-reply loops)
    assert a.send_take("NOTICE #general") == []


def test_text_too_long_to_relay_is_417_not_truncated() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    out = a.send_take("PRIVMSG #general :" + "x" * 480)
    assert cmds(out) == ["417"]
    assert b.take() == []
    ok = "y" * 400
    a.send(f"PRIVMSG #general :{ok}")
    line = b.take_lines()[0]
    assert line.endswith(ok)
    assert len(line.encode()) + 2 <= 512


def test_message_tags_client_tags_relayed_server_tags_dropped() -> None:
    h = Harness()
    a = h.user("alice", "message-tags")
    b = h.user("bob", "message-tags")
    c = h.user("carol")
    h.drain(a, b)
    a.send(
        "@+draft/reply=abc;+example.com/x=a\\sb;time=2001-01-01T00:00:00.000Z;msgid=fake;"
        "account=boss;label=zz PRIVMSG #general :hi"
    )
    got = one(b.take(), "PRIVMSG")
    assert got.tags is not None
    assert set(got.tags) == {"+draft/reply", "+example.com/x", "msgid"}
    assert got.tags["+draft/reply"] == "abc"
    assert got.tags["+example.com/x"] == "a b"
    assert got.tags["msgid"] != "fake"
    assert c.take_lines() == [f":{a.session.mask} PRIVMSG #general :hi"]
    # private messages too
    a.send("@+typing=done PRIVMSG bob :dm")
    got = one(b.take(), "PRIVMSG")
    assert got.tags is not None and got.tags["+typing"] == "done" and "msgid" in got.tags


def test_server_time_tag() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob", "server-time")
    b.take()
    h.clock.advance(12.345)
    a.send("PRIVMSG #general :when?")
    got = b.take()
    assert len(got) == 1
    assert got[0].tags == {"time": iso_time(h.clock.now())}  # no msgid without message-tags
    assert TIME_RE.fullmatch(got[0].tags["time"])
    assert got[0].tags["time"].endswith(".345Z")


def test_msgid_on_every_relayed_message_and_same_for_every_recipient() -> None:
    h = Harness()
    a = h.user("alice", "message-tags echo-message")
    b = h.user("bob", "message-tags server-time")
    c = h.user("carol", "message-tags")
    h.drain(a, b, c)
    ids = []
    for line in ("PRIVMSG #general :one", "NOTICE #general :two"):
        a.send(line)
        verb = line.split()[0]
        echo, to_b, to_c = (one(x.take(), verb) for x in (a, b, c))
        assert echo.tags and to_b.tags and to_c.tags
        assert echo.tags["msgid"] == to_b.tags["msgid"] == to_c.tags["msgid"]
        ids.append(echo.tags["msgid"])
    a.send("PRIVMSG bob :three")
    echo, to_b = one(a.take(), "PRIVMSG"), one(b.take(), "PRIVMSG")
    assert echo.tags and to_b.tags
    assert echo.tags["msgid"] == to_b.tags["msgid"]
    ids.append(echo.tags["msgid"])
    assert len(set(ids)) == 3
    for mid in ids:
        assert mid and " " not in mid and not mid.startswith(":")


def test_echo_message_exactly_once() -> None:
    h = Harness()
    a = h.user("alice", "echo-message")
    b = h.user("bob")
    h.drain(a, b)
    out = a.send_take("PRIVMSG #general :hi all")
    assert [m.format() for m in out] == [f":{a.session.mask} PRIVMSG #general :hi all"]
    out = a.send_take("PRIVMSG bob :hi bob")
    assert [m.format() for m in out] == [f":{a.session.mask} PRIVMSG bob :hi bob"]
    out = a.send_take("NOTICE bob :n")
    assert cmds(out) == ["NOTICE"]
    # to oneself: the echo and the delivery (ircv3.net echo-message: the echo is sent to the
    # sender as well as the message being delivered to its target, here the sender too)
    out = a.send_take("PRIVMSG alice :note to self")
    assert [m.format() for m in out] == [f":{a.session.mask} PRIVMSG alice :note to self"] * 2
    # several targets: one echo per target
    out = a.send_take("PRIVMSG #general,bob :both")
    assert [m.params[0] for m in out] == ["#general", "bob"]


def test_rejected_messages_are_not_echoed() -> None:
    h = Harness(limits={"messages_per_period": 2})
    a = h.user("alice", "echo-message")
    b = h.user("bob")
    b.send("JOIN #dev")
    h.drain(a, b)
    assert cmds(a.send_take("PRIVMSG #dev :not a member")) == ["404"]
    assert cmds(a.send_take("PRIVMSG ghost :nobody")) == ["401"]
    assert cmds(a.send_take("PRIVMSG #general :one")) == ["PRIVMSG"]
    assert cmds(a.send_take("PRIVMSG #general :two")) == ["PRIVMSG"]
    out = a.send_take("PRIVMSG #general :three")
    assert cmds(out) == ["404"]
    assert "Rate limit" in out[0].params[-1]
    assert [m.params[1] for m in b.take()] == ["one", "two"]


def test_rate_limit_is_a_standard_reply_with_the_cap() -> None:
    h = Harness(limits={"messages_per_period": 1})
    a = h.user("alice", "standard-replies echo-message")
    a.send("PRIVMSG #general :one")
    a.take()
    out = a.send_take("PRIVMSG #general :two")
    assert cmds(out) == ["FAIL"]
    assert out[0].params[:3] == ("PRIVMSG", "RATE_LIMITED", "#general")


def test_tagmsg_only_to_message_tags_clients() -> None:
    h = Harness()
    a = h.user("alice", "message-tags echo-message")
    b = h.user("bob", "message-tags")
    c = h.user("carol")
    h.drain(a, b, c)
    a.send("@+typing=active;msgid=x TAGMSG #general")
    got = one(b.take(), "TAGMSG")
    assert got.source == a.session.mask and got.params == ("#general",)
    assert got.tags is not None and got.tags["+typing"] == "active"
    assert got.tags.get("msgid") != "x"
    assert cmds(a.take()) == ["TAGMSG"]  # echo
    assert c.take() == []
    # to a nick without message-tags: nothing
    a.send("@+typing=active TAGMSG carol")
    assert c.take() == []
    a.send("@+typing=paused TAGMSG bob")
    assert one(b.take(), "TAGMSG").params == ("bob",)
    assert cmds(a.take()) == ["TAGMSG", "TAGMSG"]  # echoes of both
    # no client tags: nothing to relay
    a.send("TAGMSG #general")
    assert b.take() == []
    # without echo-message the sender gets nothing back
    b.send("@+typing=active TAGMSG #general")
    assert b.take() == []
    assert cmds(a.take()) == ["TAGMSG"]


def test_tagmsg_never_echoed_to_a_client_without_message_tags() -> None:
    h = Harness()
    a = h.user("alice", "echo-message")
    b = h.user("bob", "message-tags")
    h.drain(a, b)
    a.send("@+typing=active TAGMSG bob", "@+typing=active TAGMSG #general")
    assert a.take() == []
    assert cmds(b.take()) == ["TAGMSG", "TAGMSG"]


def test_tagmsg_carries_msgid_and_time() -> None:
    h = Harness()
    a = h.user("alice", "message-tags")
    b = h.user("bob", "message-tags server-time")
    h.drain(a, b)
    a.send("@+typing=active TAGMSG #general")
    got = one(b.take(), "TAGMSG")
    assert got.tags is not None
    assert got.tags.get("msgid")
    assert got.tags.get("time") == iso_time(h.clock.now())


def test_labeled_response() -> None:
    h = Harness()
    a = h.user("alice", "labeled-response batch message-tags")
    b = h.user("bob")
    h.drain(a, b)
    # one reply: the label goes on it
    a.send("@label=L1 PING :x")
    assert a.take_lines() == [f"@label=L1 :{SERVER} PONG {SERVER} :x"]
    # no reply: ACK
    a.send("@label=L2 PRIVMSG #general :hi")
    assert a.take_lines() == [f"@label=L2 :{SERVER} ACK"]
    # several replies: a labeled-response batch, every line in it
    out = a.send_take("@label=L3 WHOIS bob")
    assert cmds(out)[0] == "BATCH" and cmds(out)[-1] == "BATCH"
    start, end = out[0], out[-1]
    assert start.tags == {"label": "L3"}
    ref = start.params[0][1:]
    assert start.params == (f"+{ref}", "labeled-response")
    assert end.params == (f"-{ref}",) and end.tags is None
    assert cmds(out[1:-1]) == ["311", "319", "312", "317", "318"]
    assert all(m.tags == {"batch": ref} for m in out[1:-1])
    # without a label: plain replies
    assert a.send_take("PING :y")[0].tags is None


def test_labeled_echo_carries_the_label() -> None:
    h = Harness()
    a = h.user("alice", "labeled-response batch message-tags echo-message")
    b = h.user("bob", "message-tags")
    h.drain(a, b)
    out = a.send_take("@label=E1 PRIVMSG #general :hi")
    assert len(out) == 1 and out[0].tags is not None
    assert out[0].tags["label"] == "E1"
    assert "label" not in (one(b.take(), "PRIVMSG").tags or {})


def test_labeled_response_without_batch_sends_no_batch() -> None:
    h = Harness()
    a = h.user("alice", "labeled-response")
    h.user("bob")
    a.take()
    out = a.send_take("@label=W WHOIS bob")
    assert "BATCH" not in cmds(out)
    assert cmds(out) == ["311", "319", "312", "317", "318"]


def test_labeled_quit_still_gets_error() -> None:
    h = Harness()
    a = h.user("alice", "labeled-response batch")
    out = a.send_take("@label=Q QUIT :bye")
    assert cmds(out) == ["ERROR"]


def test_multi_prefix_and_userhost_in_names() -> None:
    h = Harness()
    a = h.user("alice")
    a.send("JOIN #dev")
    b = h.user("bob", "multi-prefix")
    c = h.user("carol", "userhost-in-names multi-prefix")
    out = b.send_take("JOIN #dev")
    names = one(out, "353")
    assert len(names.params) == 4
    assert sorted(names.params[3].split()) == ["@alice", "bob"]
    out = c.send_take("JOIN #dev")
    names = one(out, "353")
    assert len(names.params) == 4
    assert sorted(names.params[3].split()) == sorted(
        [f"@{a.session.mask}", b.session.mask, c.session.mask]
    )
    out = a.send_take("NAMES #dev")
    assert sorted(out[0].params[3].split()) == ["@alice", "bob", "carol"]


def test_standard_replies_only_with_the_cap() -> None:
    h = Harness()
    a = h.user("alice", "standard-replies")
    b = h.user("bob")
    h.drain(a, b)
    out = a.send_take("UNREAD")
    assert cmds(out) == ["FAIL"]
    assert out[0].params[:2] == ("UNREAD", "ACCOUNT_REQUIRED")
    out = b.send_take("UNREAD")
    assert cmds(out) == ["NOTICE"]
    assert out[0].source is not None and out[0].source.startswith("Messenger!")
    assert out[0].params[0] == "bob"
