"""WHO, WHOIS, ISON, USERHOST, AWAY, NICK changes, QUIT and the small queries (adapter tier)."""

from __future__ import annotations

from .harness import SERVER, Harness, cmds, one, only


def test_who_channel_and_nick() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    out = a.send_take("WHO #general")
    assert cmds(out) == ["352", "352", "315"]
    rows = {m.params[5]: m.params for m in only(out, "352")}
    assert rows["bob"] == (
        "alice",
        "#general",
        "~bob",
        b.session.ip,
        SERVER,
        "bob",
        "H",
        "0 Real bob",
    )
    assert out[-1].params == ("alice", "#general", "End of /WHO list")
    out = a.send_take("WHO bob")
    assert cmds(out) == ["352", "315"]
    assert out[0].params[1] == "*"
    out = a.send_take("WHO nobody")
    assert [m.format() for m in out] == [f":{SERVER} 315 alice nobody :End of /WHO list"]
    out = a.send_take("WHO #nope")
    assert cmds(out) == ["315"]


def test_who_flags_show_away_and_op() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.send("JOIN #dev")
    b.send("JOIN #dev", "AWAY :lunch")
    out = a.send_take("WHO #dev")
    flags = {m.params[5]: m.params[6] for m in only(out, "352")}
    assert flags == {"alice": "H@", "bob": "G"}


def test_whois_known_and_unknown() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    b.send("JOIN #dev")
    out = a.send_take("WHOIS bob")
    assert cmds(out) == ["311", "319", "312", "317", "318"]
    assert out[0].params == ("alice", "bob", "~bob", b.session.ip, "*", "Real bob")
    assert out[1].params == ("alice", "bob", "#general @#dev")
    assert out[2].params == ("alice", "bob", SERVER, "Messenger")
    assert out[-1].params == ("alice", "bob", "End of /WHOIS list")
    # some clients send "WHOIS nick nick"
    assert cmds(a.send_take("WHOIS BOB BOB"))[-1] == "318"
    out = a.send_take("WHOIS ghost")
    assert [m.format() for m in out] == [
        f":{SERVER} 401 alice ghost :No such nick/channel",
        f":{SERVER} 318 alice ghost :End of /WHOIS list",
    ]


def test_ison_and_userhost() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    out = a.send_take("ISON bob ghost ALICE")
    assert [m.format() for m in out] == [f":{SERVER} 303 alice :bob alice"]
    out = a.send_take("ISON ghost")
    assert [m.format() for m in out] == [f":{SERVER} 303 alice :"]
    out = a.send_take("USERHOST bob ghost")
    assert [m.format() for m in out] == [f":{SERVER} 302 alice :bob=+~bob@{b.session.ip}"]


def test_away_replies_301_to_senders_and_305_306() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    out = b.send_take("AWAY :gone fishing")
    assert [m.format() for m in out] == [f":{SERVER} 306 bob :You have been marked as being away"]
    out = a.send_take("PRIVMSG bob :you there?")
    assert [m.format() for m in out] == [f":{SERVER} 301 alice bob :gone fishing"]
    assert cmds(b.take()) == ["PRIVMSG"]
    # no 301 for NOTICE
    assert a.send_take("NOTICE bob :fyi") == []
    out = a.send_take("WHOIS bob")
    assert one(out, "301").params == ("alice", "bob", "gone fishing")
    out = a.send_take("USERHOST bob")
    assert out[0].params[1].startswith("bob=-")
    out = b.send_take("AWAY")
    assert [m.format() for m in out] == [
        f":{SERVER} 305 bob :You are no longer marked as being away"
    ]
    assert a.send_take("PRIVMSG bob :back?") == []


def test_away_notify_only_to_peers_with_the_cap() -> None:
    h = Harness()
    a = h.user("alice", "away-notify")
    c = h.user("carol")
    b = h.user("bob")
    h.drain(a, c)
    b.send("AWAY :brb")
    assert [m.format() for m in a.take()] == [f":{b.session.mask} AWAY :brb"]
    assert c.take() == []
    b.send("AWAY")
    assert [m.format() for m in a.take()] == [f":{b.session.mask} AWAY"]
    assert c.take() == []
    # an away user joining a shared channel is announced to away-notify peers
    a.send("JOIN #dev")
    c.send("JOIN #dev")
    b.send("AWAY :zzz")
    h.drain(a, c)
    b.send("JOIN #dev")
    assert [m.command for m in a.take()] == ["JOIN", "AWAY"]
    assert [m.command for m in c.take()] == ["JOIN"]


def test_nick_change_seen_by_channel_peers_only() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    c = h.user("carol")
    c.send("PART #general")
    h.drain(a, b, c)
    old_mask = a.session.mask
    out = a.send_take("NICK alicia")
    line = f":{old_mask} NICK alicia"
    assert [m.format() for m in out] == [line]
    assert [m.format() for m in b.take()] == [line]
    assert c.take() == []
    assert a.nick == "alicia"
    assert cmds(b.send_take("PRIVMSG alice :hi")) == ["401"]
    assert b.send_take("PRIVMSG alicia :hi") == []
    got = a.take()
    assert [m.format() for m in got] == [f":{b.session.mask} PRIVMSG alicia :hi"]
    # the old nick is free again
    d = h.connect()
    assert d.send_take("NICK alice", "USER d 0 * :D")[0].command == "001"


def test_nick_case_change_of_own_nick() -> None:
    h = Harness()
    a = h.user("alice")
    out = a.send_take("NICK Alice")
    assert cmds(out) == ["NICK"]
    assert a.nick == "Alice"
    assert h.hub.session_by_nick("ALICE") is a.session


def test_quit_seen_by_peers_with_reason() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    mask = b.session.mask
    out = b.quit("see you")
    assert [m.command for m in out] == ["ERROR"]
    assert [m.format() for m in a.take()] == [f":{mask} QUIT :Quit: see you"]
    assert b.session not in h.hub.sessions
    assert h.hub.session_by_nick("bob") is None
    out = a.send_take("NAMES #general")
    assert out[0].params[3] == "alice"
    # anything after QUIT is ignored
    b.send("PRIVMSG #general :ghost")
    assert a.take() == []


def test_small_queries_are_answered() -> None:
    h = Harness()
    a = h.user("alice")
    assert cmds(a.send_take("VERSION"))[0] == "351"
    assert "005" in cmds(a.send_take("VERSION"))
    assert cmds(a.send_take("TIME")) == ["391"]
    out = a.send_take("MOTD")
    assert cmds(out)[0] == "375" and cmds(out)[-1] == "376"
    assert cmds(a.send_take("LUSERS"))[:5] == ["251", "252", "253", "254", "255"]
    assert cmds(a.send_take("WHOWAS bob")) == ["406", "369"]
