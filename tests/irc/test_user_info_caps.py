"""extended-join, setname and chghost at the adapter tier (ircv3.net/specs/extensions/
extended-join, .../setname, .../chghost), checked as irctest's server_tests/extended_join.py,
setname.py and chghost.py do."""

from __future__ import annotations

from .harness import Harness, cmds, one
from .operators import oper_up, with_operator


def test_extended_join_carries_account_and_realname() -> None:
    """ "JOIN <channel> <accountname> :<realname>"; "*" when not logged in. Clients without
    the cap get the plain JOIN, and a joiner with the cap sees its own JOIN extended."""
    h = Harness()
    foo = h.user("foo", "extended-join")
    plain = h.user("plain")
    for c in (foo, plain):
        c.send("JOIN #chan")
    h.drain(foo, plain)
    bar = h.connect()
    bar.send("NICK bar", "USER f * * :Realname")
    bar.take()
    bar.send("JOIN #chan")
    assert [m.params for m in foo.take() if m.command == "JOIN"][-1] == ("#chan", "*", "Realname")
    assert [m.params for m in plain.take() if m.command == "JOIN"][-1] == ("#chan",)
    jilles = h.connect()
    jilles.send("CAP LS 302", "CAP REQ extended-join", "PASS sesame")
    jilles.send("NICK jilles", "USER f * * :Real Name", "CAP END")
    out = jilles.take() + jilles.land()  # the landing comes on its next line
    # its own JOIN of #general, extended (it has the cap)
    assert ("#general", "jilles", "Real Name") in [m.params for m in out if m.command == "JOIN"]
    assert ("#general", "jilles", "Real Name") in [m.params for m in foo.take()]
    jilles.send("JOIN #chan")
    assert [m.params for m in foo.take() if m.command == "JOIN"] == [
        ("#chan", "jilles", "Real Name")
    ]


def test_extended_join_through_the_unbatched_path_too() -> None:
    """An away joiner's JOIN goes out at once (with its AWAY): extended there too."""
    h = Harness()
    foo = h.user("foo", "extended-join away-notify")
    foo.send("JOIN #chan")
    bar = h.user("bar")
    bar.send("AWAY :lunch")
    h.drain(foo, bar)
    bar.send("JOIN #chan")
    got = foo.take()
    assert [m.params for m in got if m.command == "JOIN"] == [("#chan", "*", "Real bar")]
    assert [m.params for m in got if m.command == "AWAY"] == [("lunch",)]


def test_setname_confirmed_and_relayed_to_peers_with_the_cap() -> None:
    """ "they MUST send the server-to-client version of the SETNAME message to all clients in
    common channels, as well as to the client from which it originated"; "MUST NOT be sent
    to clients which do not have the capability"; WHOIS shows the new name."""
    h = Harness()
    foo, bar, baz = h.user("foo", "setname"), h.user("bar", "setname"), h.user("baz")
    outsider = h.user("out", "setname")
    outsider.send("PART #general")
    for c in (foo, bar, baz):
        c.send("JOIN #chan")
    h.drain(foo, bar, baz, outsider)
    out = foo.send_take("SETNAME :qux quux")
    assert [(m.command, m.source, m.params) for m in out] == [
        ("SETNAME", foo.session.mask, ("qux quux",))
    ]
    assert [m.params for m in bar.take()] == [("qux quux",)]
    assert baz.take() == [] and outsider.take() == []
    whois = one(baz.send_take("WHOIS foo"), "311")
    assert whois.params[-1] == "qux quux"


def test_setname_errors_and_namelen() -> None:
    """ "FAIL SETNAME INVALID_REALNAME :Realname is not valid" past the length limit
    (ISUPPORT NAMELEN=100 bytes); a client without the cap is handled silently."""
    h = Harness()
    foo = h.user("foo", "setname standard-replies")
    out = foo.send_take("SETNAME :" + "é" * 51)  # 102 bytes
    assert [(m.command, m.params[:2]) for m in out] == [("FAIL", ("SETNAME", "INVALID_REALNAME"))]
    out = foo.send_take("SETNAME : ")
    assert [m.params[1] for m in out] == ["INVALID_REALNAME"]
    assert cmds(foo.send_take("SETNAME :" + "é" * 50)) == ["SETNAME"]  # 100 bytes
    assert "NAMELEN=100" in " ".join(m.format() for m in foo.send_take("VERSION"))
    silent = h.user("silent")
    assert silent.send_take("SETNAME :New Name") == []
    assert silent.session.realname == "New Name"


def test_setname_refused_while_muted() -> None:
    h = Harness(with_operator())
    root, bob = h.user("root"), h.user("bob", "setname standard-replies")
    oper_up(root)
    root.send_take("PRIVMSG Messenger :mute bob 10m")
    bob.take()
    out = bob.send_take("SETNAME :buy my stuff at example.com")
    assert [m.params[:2] for m in out] == [("SETNAME", "CANNOT_CHANGE_REALNAME")]
    assert bob.session.realname == "Real bob"


def test_chghost_by_an_operator_relayed_to_peers_with_the_cap() -> None:
    """ ":nick!old_user@old_host CHGHOST new_user new_host" to those sharing a channel with
    the user who negotiated chghost, and to the user itself if it did; others get nothing
    (irctest checks the client without the cap sees nothing)."""
    h = Harness(with_operator())
    root = h.user("root")
    oper_up(root)
    observer, old, vic = (
        h.user("observer", "chghost"),
        h.user("oldclient"),
        h.user("vic", "chghost"),
    )
    h.drain(root, observer, old, vic)
    before = vic.session.mask
    out = root.send_take("CHGHOST vic vhost.example.com")
    assert any("vic's host is now vhost.example.com" in m.params[-1] for m in out)
    want = [(before, "CHGHOST", ("~vic", "vhost.example.com"))]
    assert [(m.source, m.command, m.params) for m in observer.take()] == want
    assert [(m.source, m.command, m.params) for m in vic.take()] == want
    assert old.take() == []
    assert vic.session.mask == "vic!~vic@vhost.example.com"
    whois = one(observer.send_take("WHOIS vic"), "311")
    assert whois.params[3] == "vhost.example.com"
    # without the cap, the user itself is told with 396
    out = root.send_take("CHGHOST oldclient user/oldclient")
    assert [(m.command, m.params[1]) for m in old.take()] == [("396", "user/oldclient")]


def test_chghost_errors() -> None:
    h = Harness(with_operator())
    root, bob = h.user("root", "standard-replies"), h.user("bob")
    assert cmds(root.send_take("CHGHOST bob new.host")) == ["481"]
    oper_up(root)
    assert cmds(root.send_take("CHGHOST nobody new.host")) == ["401"]
    for bad in ("-x", "a@b", "a!b", "x" * 64, "a*b"):
        out = root.send_take(f"CHGHOST bob {bad}")
        assert [m.params[:2] for m in out] == [("CHGHOST", "INVALID_HOST")], bad
    assert bob.session.host == bob.session.ip
