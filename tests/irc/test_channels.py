"""#general for everyone, and channels as on any IRC server (adapter tier)."""

from __future__ import annotations

from .harness import SERVER, Harness, cmds, one, only
from .operators import oper_up, with_operator


def test_auto_join_general_after_registration() -> None:
    h = Harness()
    a = h.connect()
    out = a.register("alice")
    tail = out[cmds(out).index("JOIN") :]
    assert [m.format() for m in tail] == [
        f":alice!~alice@{a.session.ip} JOIN #general",
        f":{SERVER} 353 alice = #general :alice",
        f":{SERVER} 366 alice #general :End of /NAMES list",
    ]
    b = h.connect()
    out = b.register("bob")
    names = one(out, "353")
    assert len(names.params) == 4
    assert names.params[:3] == ("bob", "=", "#general")
    assert sorted(names.params[3].split()) == ["alice", "bob"]
    # the others see the JOIN, exactly once
    got = a.take()
    assert [m.format() for m in got] == [f":bob!~bob@{b.session.ip} JOIN #general"]


def test_general_has_no_operator_and_topic_is_shown_on_join() -> None:
    h = Harness(with_operator())
    a = h.user("alice")
    # #general is +t and has no channel operator: a server operator sets its topic
    out = a.send_take("TOPIC #general :Welcome all")
    assert [m.format() for m in out] == [
        f":{SERVER} 482 alice #general :You're not channel operator"
    ]
    oper_up(a)
    out = a.send_take("TOPIC #general :Welcome all")
    assert [m.format() for m in out] == [
        f":alice!~alice@{a.session.ip} TOPIC #general :Welcome all"
    ]
    b = h.connect()
    out = b.register("bob")
    topic = one(out, "332")
    assert topic.params == ("bob", "#general", "Welcome all")
    who = one(out, "333")
    assert who.params[:3] == ("bob", "#general", a.session.mask)
    assert "331" not in cmds(out)
    names = one(out, "353")
    assert "@" not in names.params[3]
    out = b.send_take("TOPIC #general")
    assert cmds(out) == ["332", "333"]


def test_join_new_channel_first_joiner_is_op() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    out = a.send_take("JOIN #dev")
    assert [m.format() for m in out] == [
        f":alice!~alice@{a.session.ip} JOIN #dev",
        f":{SERVER} 353 alice = #dev :@alice",
        f":{SERVER} 366 alice #dev :End of /NAMES list",
    ]
    assert b.take() == []  # not in #dev
    out = b.send_take("JOIN #DEV")
    assert out[0].format() == f":bob!~bob@{b.session.ip} JOIN #dev"
    names = one(out, "353")
    assert sorted(names.params[3].split()) == ["@alice", "bob"]
    assert [m.format() for m in a.take()] == [f":bob!~bob@{b.session.ip} JOIN #dev"]


def test_duplicate_join_is_ignored() -> None:
    h = Harness()
    a = h.user("alice")
    assert a.send_take("JOIN #general") == []
    a.send_take("JOIN #dev")
    assert a.send_take("JOIN #dev,#general") == []


def test_join_several_and_bad_names() -> None:
    h = Harness()
    a = h.user("alice")
    out = a.send_take("JOIN #a,#b")
    assert [m.params[0] for m in only(out, "JOIN")] == ["#a", "#b"]
    out = a.send_take("JOIN nochan")
    assert [m.format() for m in out] == [f":{SERVER} 403 alice nochan :No such channel"]


def test_part_seen_by_members_and_then_not_on_channel() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.send("JOIN #dev")
    b.send("JOIN #dev")
    h.drain(a, b)
    out = b.send_take("PART #dev :later")
    line = f":bob!~bob@{b.session.ip} PART #dev :later"
    assert [m.format() for m in out] == [line]
    assert [m.format() for m in a.take()] == [line]
    out = b.send_take("PRIVMSG #dev :still here?")
    assert cmds(out) == ["404"]
    assert cmds(b.send_take("PART #dev")) == ["442"]
    assert cmds(b.send_take("PART #nowhere")) == ["403"]
    # alice alone in #dev keeps working
    assert a.send_take("PRIVMSG #dev :hello?") == []


def test_part_general_is_honoured() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    out = b.send_take("PART #general")
    assert cmds(out) == ["PART"]
    assert cmds(a.take()) == ["PART"]
    a.send("PRIVMSG #general :hi")
    assert b.take() == []


def test_join_0_parts_everything() -> None:
    h = Harness()
    a = h.user("alice")
    a.send("JOIN #x")
    out = a.send_take("JOIN 0")
    assert sorted(m.params[0] for m in only(out, "PART")) == ["#general", "#x"]


def test_topic_by_operators_only_in_op_channels() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.send("JOIN #dev")
    b.send("JOIN #dev")
    h.drain(a, b)
    out = b.send_take("TOPIC #dev :mine")
    assert [m.format() for m in out] == [f":{SERVER} 482 bob #dev :You're not channel operator"]
    assert a.take() == []
    out = a.send_take("TOPIC #dev :Dev talk")
    line = f":alice!~alice@{a.session.ip} TOPIC #dev :Dev talk"
    assert [m.format() for m in out] == [line]
    assert [m.format() for m in b.take()] == [line]
    out = b.send_take("TOPIC #dev")
    assert out[0].params == ("bob", "#dev", "Dev talk")
    assert cmds(b.send_take("TOPIC #nope :x")) == ["403"]
    c = h.user("carol")
    assert cmds(c.send_take("TOPIC #dev :x")) == ["442"]


def test_kick_by_operator_only() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    c = h.user("carol")
    for x in (a, b, c):
        x.send("JOIN #dev")
    h.drain(a, b, c)
    out = b.send_take("KICK #dev carol :no")
    assert cmds(out) == ["482"]
    assert c.take() == [] and a.take() == []
    out = a.send_take("KICK #dev carol :bye now")
    line = f":alice!~alice@{a.session.ip} KICK #dev carol :bye now"
    assert [m.format() for m in out] == [line]
    assert [m.format() for m in b.take()] == [line]
    assert [m.format() for m in c.take()] == [line]
    assert cmds(c.send_take("PRIVMSG #dev :hey")) == ["404"]
    a.send("PRIVMSG #dev :only members now")
    assert c.take() == []
    assert cmds(b.take()) == ["PRIVMSG"]
    assert cmds(a.send_take("KICK #dev carol")) == ["441"]
    assert cmds(a.send_take("KICK #dev nobody")) == ["401"]
    assert cmds(a.send_take("KICK #nope bob")) == ["403"]


def test_kick_in_general_nobody_is_operator() -> None:
    h = Harness()
    a = h.user("alice")
    h.user("bob")
    assert cmds(a.send_take("KICK #general bob")) == ["482"]


def test_names_and_list() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    b.send("JOIN #dev")
    b.send("TOPIC #dev :the dev room")
    out = a.send_take("NAMES #dev")
    assert [m.command for m in out] == ["353", "366"]
    assert out[0].params == ("alice", "=", "#dev", "@bob")
    assert out[1].params == ("alice", "#dev", "End of /NAMES list")
    out = a.send_take("NAMES")  # every channel with people in it, then one end line
    assert [m.format() for m in out] == [
        f":{SERVER} 353 alice = #dev :@bob",
        f":{SERVER} 353 alice = #general :alice bob",
        f":{SERVER} 366 alice * :End of /NAMES list",
    ]
    out = a.send_take("NAMES #nope")
    assert cmds(out) == ["366"]
    out = a.send_take("LIST")
    assert cmds(out) == ["321", "322", "322", "323"]
    rows = {m.params[1]: m.params[2:] for m in only(out, "322")}
    assert rows == {"#dev": ("1", "the dev room"), "#general": ("2", "")}
    out = a.send_take("LIST #dev")
    assert [m.params[1] for m in only(out, "322")] == ["#dev"]


def test_mode_queries() -> None:
    h = Harness()
    a = h.user("alice")
    out = a.send_take("MODE #general")
    assert cmds(out) == ["324", "329"]
    assert out[0].params == ("alice", "#general", "+nt")
    assert out[1].params[:2] == ("alice", "#general")
    assert out[1].params[2].isdigit()
    out = a.send_take("MODE #general b")
    assert [m.format() for m in out] == [f":{SERVER} 368 alice #general :End of channel ban list"]
    # irssi may query several channels at once
    a.send("JOIN #x")
    out = a.send_take("MODE #general,#x")
    assert cmds(out) == ["324", "329", "324", "329"]
    assert cmds(a.send_take("MODE #nope")) == ["403"]
    out = a.send_take("MODE alice")
    assert cmds(out) == ["221"]


def test_mode_op_by_operator_only() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.send("JOIN #dev")
    b.send("JOIN #dev")
    h.drain(a, b)
    assert cmds(b.send_take("MODE #dev +o bob")) == ["482"]
    out = a.send_take("MODE #dev +o bob")
    line = f":alice!~alice@{a.session.ip} MODE #dev +o bob"
    assert [m.format() for m in out] == [line]
    assert [m.format() for m in b.take()] == [line]
    out = b.send_take("TOPIC #dev :now I can")
    assert cmds(out) == ["TOPIC"]
    out = a.send_take("NAMES #dev")
    assert sorted(out[0].params[3].split()) == ["@alice", "@bob"]


def test_names_on_join_stays_right_after_nick_op_part_and_quit_changes() -> None:
    """Joiners of a room get its NAMES from a cache; every change must show up."""
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.send_take("JOIN #dev")  # alice is op of #dev
    b.send_take("JOIN #dev")

    def names_for(nick: str) -> list[str]:
        c = h.user(nick)
        out = c.send_take("JOIN #dev")
        got = sorted(n for m in out if m.command == "353" for n in m.params[3].split())
        c.send_take("PART #dev")
        return got

    assert names_for("carol") == ["@alice", "bob", "carol"]
    b.send_take("NICK bobby")
    assert names_for("dave") == ["@alice", "bobby", "dave"]
    a.send_take("MODE #dev +o bobby")
    assert names_for("erin") == ["@alice", "@bobby", "erin"]
    a.send_take("KICK #dev bobby")
    assert names_for("fred") == ["@alice", "fred"]
    a.send_take("QUIT :bye")
    assert names_for("gina") == ["@gina"]  # alone in the room again: its first joiner
