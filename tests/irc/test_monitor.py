"""MONITOR and extended-monitor at the adapter tier.

IRCv3 monitor: https://ircv3.net/specs/extensions/monitor (the MONITOR command, 730-734, the
MONITOR ISUPPORT token); IRCv3 extended-monitor:
https://ircv3.net/specs/extensions/extended-monitor. Cases follow progval/irctest's
server_tests/monitor.py.
"""

from __future__ import annotations

from ircd.irc.monitor import chunks

from .harness import SERVER, Harness, cmds, make_config, one, only


def test_isupport_and_caps_advertise_monitor() -> None:
    """monitor, "RPL_ISUPPORT": MONITOR=<limit>; extended-monitor is a capability."""
    h = Harness(make_config(server={"monitor_limit": 7}))
    c = h.connect()
    c.send("CAP LS 302")
    ls = " ".join(m.params[-1] for m in c.take())
    assert "extended-monitor" in ls.split()
    c.send("CAP END")
    burst = c.register("alice")
    tokens = [p for m in only(burst, "005") for p in m.params[1:-1]]
    assert "MONITOR=7" in tokens


def test_add_offline_then_online_then_quit() -> None:
    """monitor, "MONITOR + targets": 731 for offline targets; later 730 with the mask when
    the nick comes online, 731 when it goes offline (irctest testMonitorOneDisconnected)."""
    h = Harness()
    a = h.user("alice")
    out = a.send_take("MONITOR + bob")
    assert [(m.source, m.command, m.params) for m in out] == [(SERVER, "731", ("alice", "bob"))]
    b = h.user("bob")
    out = only(a.take(), "730")
    assert [(m.source, m.params) for m in out] == [(SERVER, ("alice", f"bob!~bob@{b.session.ip}"))]
    b.quit()
    assert [m.params for m in only(a.take(), "731")] == [("alice", "bob")]


def test_add_online_and_offline_at_once() -> None:
    """monitor, "MONITOR + targets": RPL_MONONLINE for the online ones, RPL_MONOFFLINE for
    the others (irctest testMonitorConnectedAndDisconnected)."""
    h = Harness()
    a = h.user("alice")
    h.user("bob")
    out = a.send_take("MONITOR + Bob,baz")
    assert sorted((m.command, m.params[1]) for m in out) == [
        ("730", f"bob!~bob@{h.hub.session_by_nick('bob').ip}"),  # type: ignore[union-attr]
        ("731", "baz"),
    ]


def test_remove_clear_list_and_status() -> None:
    """monitor, "MONITOR -", "C", "L", "S": removing and clearing answer nothing; L lists
    with 732 and ends with 733; S gives 730/731 for each target."""
    h = Harness()
    a = h.user("alice")
    h.user("bob")
    a.send_take("MONITOR + bob,qux,bazbat")
    assert a.send_take("MONITOR - qux") == []
    out = a.send_take("MONITOR L")
    assert cmds(out) == ["732", "733"]
    assert set(out[0].params[1].split(",")) == {"bob", "bazbat"}
    assert out[-1].params == ("alice", "End of MONITOR list")
    out = a.send_take("MONITOR S")
    assert sorted(m.command for m in out) == ["730", "731"]
    assert a.send_take("MONITOR C") == []
    assert cmds(a.send_take("MONITOR L")) == ["733"]
    b2 = h.user("qux")
    assert only(a.take(), "730") == []  # no longer watched
    b2.quit()
    assert only(a.take(), "731") == []


def test_two_watchers_one_removes() -> None:
    """irctest testTwoMonitoringOneRemove: the other watcher still hears about the nick."""
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.send_take("MONITOR + qux")
    b.send_take("MONITOR + qux")
    b.send_take("MONITOR - qux")
    h.user("qux")
    assert "730" in cmds(a.take())
    assert "730" not in cmds(b.take())


def test_nick_changes() -> None:
    """monitor: a nick taken by NICK is online (730), a nick given up is offline (731, as last
    spelled); a change of case alone is no change (irctest testNickChange)."""
    h = Harness()
    a = h.user("alice")
    a.send_take("MONITOR + qux")
    b = h.user("baz")
    assert only(a.take(), "730") == []
    b.send("NICK qux")
    assert [m.params[1].split("!")[0] for m in only(a.take(), "730")] == ["qux"]
    b.send("NICK QUX")
    assert only(a.take(), "730") + only(a.take(), "731") == []
    b.send("NICK bazbat")
    out = a.take()
    assert [m.params for m in only(out, "731")] == [("alice", "QUX")]
    assert only(out, "730") == []


def test_masks_and_bad_targets_are_never_watched() -> None:
    """monitor: "target MUST be a valid nick"; a hostmask is answered offline and not kept
    (irctest testMonitorForbidsMasks)."""
    h = Harness()
    a = h.user("alice")
    out = a.send_take("MONITOR + *!username@127.0.0.1")
    assert cmds(out) == ["731"]
    # many bad targets: one comma list, not a line each
    out = a.send_take("MONITOR + " + ",".join(f"x{i}!*@*" for i in range(50)))
    assert cmds(out) == ["731"] and len(out[0].params[1].split(",")) == 50
    assert cmds(a.send_take("MONITOR L")) == ["733"]
    h.user("username")
    assert only(a.take(), "730") == []
    assert cmds(a.send_take("MONITOR +")) == ["461"]
    assert cmds(a.send_take("MONITOR X")) == ["421"]


def test_list_full() -> None:
    """monitor, ERR_MONLISTFULL: "<nick> <limit> <targets> :Monitor list is full." for the
    targets that did not fit; those before them were added."""
    h = Harness(make_config(server={"monitor_limit": 2}))
    a = h.user("alice")
    out = a.send_take("MONITOR + a1,a2,a3,a4")
    full = one(out, "734")
    assert full.params == ("alice", "2", "a3,a4", "Monitor list is full")
    assert sorted(only(out, "731")[0].params[1].split(",")) == ["a1", "a2"]
    assert set(a.send_take("MONITOR L")[0].params[1].split(",")) == {"a1", "a2"}
    # a target already there does not count twice
    assert "734" not in cmds(a.send_take("MONITOR + A1"))


def test_the_service_is_always_online() -> None:
    h = Harness()
    a = h.user("alice")
    out = a.send_take("MONITOR + Messenger")
    assert [m.params[1] for m in only(out, "730")] == [f"Messenger!service@{SERVER}"]


def test_devices_and_watcher_leaving() -> None:
    """monitor: the nick is online while any device of its user is: a second device is no
    change, the first one leaving neither; the last one leaving is 731. A watcher's list ends
    with its connection."""
    h = Harness()
    w = h.user("watcher")
    first = h.user("carol", password="pw")
    w.send_take("MONITOR + carol")
    second = h.user("carol", password="pw")  # one more device of the account
    first.quit()
    assert [m.command for m in w.take() if m.command in ("730", "731")] == []
    second.quit()
    assert [m.params for m in only(w.take(), "731")] == [("watcher", "carol")]
    w.quit()
    assert h.hub.monitor.watchers == {} and h.hub.monitor.lists == {}


def test_long_lists_are_split() -> None:
    """monitor: replies carry comma lists, several lines if needed (each within 512 bytes)."""
    names = [f"nick{i:03d}xxxxxxxxxxxxxxxxxxxxxxxx"[:30] for i in range(60)]
    parts = list(chunks(names))
    assert len(parts) > 1 and all(len(p) <= 400 for p in parts)
    assert ",".join(parts).split(",") == names
    h = Harness()
    a = h.user("alice")
    out = a.send_take("MONITOR + " + ",".join(names[:30]))
    assert sum(len(m.params[1].split(",")) for m in only(out, "731")) == 30


def test_extended_monitor_away_account() -> None:
    """extended-monitor: a watcher with extended-monitor and away-notify (account-notify)
    gets AWAY (ACCOUNT) of a watched user it shares no channel with; without extended-monitor,
    or without the cap, nothing; sharing a channel, once (irctest ExtendedMonitorTestCase)."""
    h = Harness()
    ext = h.user("ext", "extended-monitor away-notify account-notify")
    plain = h.user("plain", "away-notify")
    nocap = h.user("nocap", "extended-monitor")
    for c in (ext, plain, nocap):
        c.send_take("PART #general", "MONITOR + bob")
    b = h.user("bob")
    h.drain(ext, plain, nocap)
    b.send("AWAY :afk")
    assert [m.format() for m in ext.take()] == [f":bob!~bob@{b.session.ip} AWAY :afk"]
    assert plain.take() == [] and nocap.take() == []
    b.send("AWAY")
    assert [(m.command, m.params) for m in ext.take()] == [("AWAY", ())]
    # in a channel together: still once
    ext.send_take("JOIN #general")
    b.send("AWAY :again")
    assert cmds(ext.take()) == ["AWAY"]
    # ACCOUNT when the watched guest registers its nick as an account
    ext.send_take("PART #general")
    b.send("REGISTER * * secretpass")
    assert [(m.command, m.params) for m in only(ext.take(), "ACCOUNT")] == [("ACCOUNT", ("bob",))]


def test_extended_monitor_setname_and_chghost() -> None:
    """extended-monitor: SETNAME (with setname) and CHGHOST (with chghost) of a watched user
    reach a watcher outside its channels that negotiated extended-monitor and that cap; not
    one without extended-monitor (irctest testExtendedMonitorSetName, -NoCap)."""
    from .operators import oper_up, with_operator

    h = Harness(with_operator())
    ext = h.user("ext", "extended-monitor setname chghost")
    plain = h.user("plain", "setname chghost")
    for c in (ext, plain):
        c.send_take("PART #general", "MONITOR + bob")
    b = h.user("bob", "setname")
    h.drain(ext, plain)
    b.send("SETNAME :new name")
    assert [(m.command, m.params) for m in ext.take()] == [("SETNAME", ("new name",))]
    assert plain.take() == []
    op = h.user("op")
    oper_up(op)
    op.send_take("CHGHOST bob user/bob")
    assert [(m.command, m.params) for m in ext.take()] == [("CHGHOST", ("~bob", "user/bob"))]
    assert plain.take() == []
