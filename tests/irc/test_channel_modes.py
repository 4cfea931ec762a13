"""Channel modes, adapter tier: MODE queries and changes, +i/+k/+l/+m/+s/+v, -n/-t, the lists
+b/+e/+I with the m: and a: extbans, INVITE and invite-notify, multi-target KICK, STATUSMSG, and
#general's own rules. Each test cites the section of Modern IRC (modern.ircdocs.horse) or IRCv3
(ircv3.net) it checks."""

from __future__ import annotations

from .harness import Client, Harness, cmds, one, only
from .operators import oper_up, with_operator


def chan(h: Harness, *nicks: str, name: str = "#chan") -> list[Client]:
    """Clients that joined ``name`` in order (the first is its operator), output drained."""
    out = []
    for nick in nicks:
        c = h.user(nick)
        c.send(f"JOIN {name}")
        out.append(c)
    h.drain(*out)
    return out


def test_channelmodeis_and_creation_time_and_removing_all_modes() -> None:
    """Modern IRC, RPL_CHANNELMODEIS (324) and RPL_CREATIONTIME (329): `MODE #chan` gives the
    modes set; after removing them all, 324 is "+"."""
    h = Harness()
    (op,) = chan(h, "chanop")
    out = op.send_take("MODE #chan +int")
    assert [m.params for m in out] == [("#chan", "+i")]  # n and t were set already
    out = op.send_take("MODE #chan")
    assert cmds(out) == ["324", "329"]
    assert one(out, "324").params == ("chanop", "#chan", "+int")
    assert one(out, "329").params[2].isdigit()
    assert [m.params for m in op.send_take("MODE #chan -int")] == [("#chan", "-int")]
    assert one(op.send_take("MODE #chan"), "324").params == ("chanop", "#chan", "+")


def test_mode_changes_are_broadcast_once_combined() -> None:
    """Modern IRC, MODE: the changes made go to the channel as one MODE message, with the
    parameters in order; a change that changes nothing is not echoed."""
    h = Harness()
    op, bob = chan(h, "chanop", "bob")
    out = op.send_take("MODE #chan +kl-t sesame 5")
    line = f":{op.session.mask} MODE #chan +kl-t sesame 5"
    assert [m.format() for m in out] == [line]
    assert [m.format() for m in bob.take()] == [line]
    assert op.send_take("MODE #chan +n") == []
    out = op.send_take("MODE #chan")
    assert one(out, "324").params == ("chanop", "#chan", "+kln", "sesame", "5")
    # a non-member does not see the key
    out = h.user("eve").send_take("MODE #chan")
    assert one(out, "324").params == ("eve", "#chan", "+kln", "*", "5")


def test_mode_errors_unknown_mode_and_not_operator() -> None:
    """Modern IRC: ERR_UNKNOWNMODE (472) names the character; ERR_CHANOPRIVSNEEDED (482) to a
    member who is not an operator; ERR_NOSUCHCHANNEL (403); ERR_UMODEUNKNOWNFLAG (501)."""
    h = Harness()
    op, bob = chan(h, "chanop", "bob")
    out = op.send_take("MODE #chan +Xm")
    assert [(m.command, m.params[1]) for m in out if m.command == "472"] == [("472", "X")]
    assert [m.params for m in only(out, "MODE")] == [("#chan", "+m")]
    out = bob.send_take("MODE #chan -m")
    assert cmds(out) == ["482"] and out[0].params[1] == "#chan"
    assert cmds(bob.send_take("MODE #nope +m")) == ["403"]
    assert cmds(bob.send_take("MODE bob +Q")) == ["501"]
    assert cmds(op.send_take("MODE #chan +o")) == ["461"]
    # at most MODES=4 changes with a parameter per command; the rest are ignored
    out = op.send_take("MODE #chan +bbbbb a b c d e")
    assert [m.params for m in out] == [("#chan", "+bbbb", "a!*@*", "b!*@*", "c!*@*", "d!*@*")]


def test_op_and_voice_errors() -> None:
    """Modern IRC, channel operators: +o for a nick not on the channel is ERR_USERNOTINCHANNEL
    (441), for no such nick ERR_NOSUCHNICK (401); the MODE goes to the target too."""
    h = Harness()
    op, bob = chan(h, "chanop", "bob")
    h.user("carol")
    h.drain(bob)
    assert cmds(op.send_take("MODE #chan +o carol")) == ["441"]
    assert cmds(op.send_take("MODE #chan +v nobody")) == ["401"]
    out = op.send_take("MODE #chan +ov bob bob")
    assert [m.params for m in out] == [("#chan", "+ov", "bob", "bob")]
    assert [m.params for m in bob.take()] == [("#chan", "+ov", "bob", "bob")]


def test_key_keeps_out_those_without_it() -> None:
    """Modern IRC, key channel mode (+k): JOIN without the key or with a wrong one is
    ERR_BADCHANNELKEY (475); with the key it succeeds; JOIN takes keys per channel."""
    h = Harness()
    (op,) = chan(h, "chanop")
    op.send_take("MODE #chan +k beer")
    q = h.user("qux")
    out = q.send_take("JOIN #chan")
    assert cmds(out) == ["475"] and out[0].params[1] == "#chan"
    assert cmds(q.send_take("JOIN #chan bees")) == ["475"]
    out = q.send_take("JOIN #other,#chan x,beer")
    assert [m.params[0] for m in only(out, "JOIN")] == ["#other", "#chan"]


def test_invalid_keys_are_refused_with_696_and_a_set_key_with_467() -> None:
    """Modern IRC, key channel mode: an invalid key gets ERR_INVALIDMODEPARAM (696) with
    `<channel> k <param>`; ERR_KEYSET (467) when another key is already set."""
    h = Harness()
    (op,) = chan(h, "chanop")
    for key in ("passphrase with spaces", "long" * 100, ""):
        out = op.send_take(f"MODE #chan +k :{key}")
        assert cmds(out) == ["696"], key
        assert out[0].params[1:4] == ("#chan", "k", "*")  # the key is not echoed
    assert h.user("foo").send_take("JOIN #chan")[0].command == "JOIN"
    op.send_take("MODE #chan +k one")
    assert cmds(op.send_take("MODE #chan +k two")) == ["467"]
    assert [m.params for m in op.send_take("MODE #chan -k")] == [("#chan", "-k", "*")]
    assert cmds(op.send_take("MODE #chan +k two")) == ["MODE"]


def test_limit() -> None:
    """Modern IRC, client limit channel mode (+l): a full channel refuses JOIN with
    ERR_CHANNELISFULL (471); an invitation lets one in despite the limit; an invalid limit is
    ERR_INVALIDMODEPARAM (696); -l removes it."""
    h = Harness()
    op, _u2 = chan(h, "chanop", "user2")
    assert [m.params for m in op.send_take("MODE #chan +l 2")] == [("#chan", "+l", "2")]
    u3 = h.user("user3")
    out = u3.send_take("JOIN #chan")
    assert cmds(out) == ["471"] and out[0].params == ("user3", "#chan", out[0].params[2])
    for bad in ("0", "-1", "abc", ""):
        assert cmds(op.send_take(f"MODE #chan +l :{bad}")) == ["696"], bad
    op.send_take("INVITE user3 #chan")
    assert u3.send_take("JOIN #chan")[0].command == "JOIN"
    u4 = h.user("user4")
    assert cmds(u4.send_take("JOIN #chan")) == ["471"]
    assert [m.params for m in op.send_take("MODE #chan -l")] == [("#chan", "-l")]
    assert u4.send_take("JOIN #chan")[0].command == "JOIN"


def test_invite_only_and_invite() -> None:
    """Modern IRC, invite-only channel mode (+i) and INVITE: JOIN is ERR_INVITEONLYCHAN (473);
    INVITE answers RPL_INVITING (341) `<client> <nick> <channel>` and sends the invitee
    `:inviter INVITE <nick> <channel>`; the invitation is good for one JOIN."""
    h = Harness()
    (foo,) = chan(h, "foo")
    foo.send_take("MODE #chan +i")
    assert cmds(foo.send_take("INVITE bar #chan")) == ["401"]
    bar = h.user("bar")
    assert cmds(bar.send_take("JOIN #chan")) == ["473"]
    out = foo.send_take("INVITE bar #chan")
    assert [(m.command, m.params) for m in out] == [("341", ("foo", "bar", "#chan"))]
    got = one(bar.take(), "INVITE")
    assert got.params == ("bar", "#chan") and got.source == foo.session.mask
    assert [(m.params[1]) for m in only(bar.send_take("INVITE"), "336")] == ["#chan"]
    assert bar.send_take("JOIN #chan")[0].command == "JOIN"
    assert cmds(bar.send_take("INVITE")) == ["337"]  # used up
    foo.send_take("KICK #chan bar")
    assert cmds(bar.send_take("JOIN #chan")) == ["473"]


def test_invite_errors() -> None:
    """Modern IRC, INVITE: ERR_NOTONCHANNEL (442) from a non-member, ERR_CHANOPRIVSNEEDED
    (482) from a non-operator in a +i channel, ERR_USERONCHANNEL (443) `<client> <nick>
    <channel>` for a member, ERR_NOSUCHCHANNEL (403), ERR_NEEDMOREPARAMS (461); a member may
    invite to a channel that is not +i; other members are not told."""
    h = Harness()
    foo, baz = chan(h, "foo", "baz")
    bar = h.user("bar")
    out = bar.send_take("INVITE baz #chan")
    assert cmds(out) == ["442"] and out[0].params[1] == "#chan"
    assert cmds(foo.send_take("INVITE bar #chan")) == ["341"]
    out = foo.send_take("INVITE baz #chan")
    assert cmds(out) == ["443"] and out[0].params[1:3] == ("baz", "#chan")
    assert cmds(foo.send_take("INVITE bar #nope")) == ["403"]
    assert cmds(foo.send_take("INVITE bar")) == ["461"]
    assert cmds(baz.send_take("INVITE bar #chan")) == ["341"]  # not +i: any member
    assert only(foo.take(), "INVITE") == []  # no invite-notify: nothing
    foo.send_take("MODE #chan +i")
    out = baz.send_take("INVITE bar #chan")
    assert cmds(out) == ["482"] and out[0].params[1] == "#chan"


def test_invite_notify() -> None:
    """IRCv3 invite-notify: members with the capability who could invite themselves (in a +i
    channel its operators) get the INVITE; the inviter and others do not."""
    h = Harness()
    op = h.user("op", "invite-notify")
    op.send("JOIN #chan")
    mem = h.user("mem", "invite-notify")
    mem.send("JOIN #chan")
    plain = h.user("plain")
    plain.send("JOIN #chan")
    guest = h.user("guest")
    h.drain(op, mem, plain)
    op.send_take("INVITE guest #chan")
    line = f":{op.session.mask} INVITE guest #chan"
    assert [m.format() for m in only(mem.take(), "INVITE")] == [line]
    assert only(plain.take(), "INVITE") == []
    assert [m.format() for m in only(guest.take(), "INVITE")] == [line]
    op.send_take("MODE #chan +io mem mem")
    op.send_take("MODE #chan -o mem")
    h.drain(op, mem, plain)
    h.user("other")
    op.send_take("INVITE other #chan")
    assert only(mem.take(), "INVITE") == []  # +i: only operators hear of it
    mem2 = h.user("mem2", "invite-notify")
    op.send_take("INVITE mem2 #chan")
    mem2.send_take("JOIN #chan")
    op.send_take("MODE #chan +o mem2")
    mem.take()
    mem.send_take("PART #chan")
    op.send_take("INVITE mem #chan")
    assert [m.params for m in only(mem2.take(), "INVITE")] == [("mem", "#chan")]


def test_moderated_and_voice() -> None:
    """Modern IRC, moderated channel mode (+m) and voice (+v): in a +m channel only voiced
    members and operators speak; the others get ERR_CANNOTSENDTOCHAN (404); NAMES shows +."""
    h = Harness()
    op, baz = chan(h, "chanop", "baz")
    op.send_take("MODE #chan +m")
    baz.take()
    out = baz.send_take("PRIVMSG #chan :hi from baz")
    assert cmds(out) == ["404"]
    assert op.take() == []
    op.send_take("MODE #chan +v baz")
    baz.take()
    baz.send_take("PRIVMSG #chan :hi again from baz")
    assert [m.params for m in op.take()] == [("#chan", "hi again from baz")]
    names = one(op.send_take("NAMES #chan"), "353").params[3].split()
    assert sorted(names) == ["+baz", "@chanop"]


def test_multi_prefix_shows_op_and_voice() -> None:
    """IRCv3 multi-prefix: NAMES and WHOIS show every prefix of a member, highest first."""
    h = Harness()
    (op,) = chan(h, "chanop")
    mp = h.user("mp", "multi-prefix")
    op.send_take("MODE #chan +v chanop")
    assert one(mp.send_take("NAMES #chan"), "353").params[3] == "@+chanop"
    assert one(op.send_take("NAMES #chan"), "353").params[3] == "@chanop"
    assert "@+#chan" in one(mp.send_take("WHOIS chanop"), "319").params[2].split()


def test_secret_channel_is_hidden_from_outsiders() -> None:
    """RFC 1459 4.2.6 / Modern IRC, secret channel mode (+s): LIST, NAMES and WHOIS do not show
    a secret channel to those outside it; its members see it (NAMES marks it "@")."""
    h = Harness()
    (first,) = chan(h, "first", name="#gen")
    first.send_take("MODE #gen +s")
    assert "#gen" in [m.params[1] for m in only(first.send_take("LIST"), "322")]
    assert one(first.send_take("NAMES #gen"), "353").params[1] == "@"
    second = h.user("second")
    assert "#gen" not in [m.params[1] for m in only(second.send_take("LIST"), "322")]
    assert cmds(second.send_take("NAMES #gen")) == ["366"]
    assert one(second.send_take("WHOIS first"), "319").params[2].split() == ["#general"]
    second.send_take("JOIN #gen")
    assert "#gen" in [m.params[1] for m in only(second.send_take("LIST"), "322")]


def test_no_external_messages_and_open_topic() -> None:
    """Modern IRC, no external messages (+n): an outsider's PRIVMSG is ERR_CANNOTSENDTOCHAN
    (404); after -n it reaches the members. Protected topic (+t): after -t a member sets it."""
    h = Harness()
    op, mem = chan(h, "chanop", "mem")
    baz = h.user("baz")
    h.drain(op, mem)
    assert cmds(baz.send_take("PRIVMSG #chan :hi from baz")) == ["404"]
    assert op.take() == []
    assert [m.params for m in op.send_take("MODE #chan -n")] == [("#chan", "-n")]
    baz.send_take("PRIVMSG #chan :hi again from baz")
    assert [m.params for m in op.take()] == [("#chan", "hi again from baz")]
    assert cmds(mem.send_take("TOPIC #chan :mine")) == ["482"]
    op.send_take("MODE #chan -t")
    assert cmds(mem.send_take("TOPIC #chan :mine")) == ["TOPIC"]


def test_ban_and_unban_up_to_case() -> None:
    """Modern IRC, ban channel mode (+b): a banned user's JOIN is ERR_BANNEDFROMCHAN (474);
    -b given in another case removes it; the list is 367 `<channel> <mask> <who> <set-ts>`
    and 368; a banned member cannot speak."""
    h = Harness()
    op, bar = chan(h, "chanop", "Bar")
    out = op.send_take("MODE #chan +b BAR")
    assert [m.params for m in out] == [("#chan", "+b", "BAR!*@*")]
    out = bar.send_take("PRIVMSG #chan :hi")
    assert cmds(only(out, "404")) == ["404"]
    bar.send_take("PART #chan")
    assert cmds(bar.send_take("JOIN #chan")) == ["474"]
    out = bar.send_take("MODE #chan +b")
    assert cmds(out) == ["367", "368"]
    assert out[0].params[:4] == ("Bar", "#chan", "BAR!*@*", "chanop")
    assert out[0].params[4].isdigit()
    assert [m.params for m in op.send_take("MODE #chan -b bar!*@*")] == [("#chan", "-b", "BAR!*@*")]
    assert bar.send_take("JOIN #chan")[0].command == "JOIN"


def test_ban_exception_and_invite_exception() -> None:
    """Modern IRC, ban exception (+e, 348/349) and invite exception (+I, 346/347): an
    exception lets a banned user in, an invite exception lets a user into a +i channel; only
    operators see those lists; an INVITE overrides a ban once."""
    h = Harness()
    op, mem = chan(h, "chanop", "mem")
    op.send_take("MODE #chan +b *!*@*")
    op.send_take("MODE #chan +e bar")
    bar = h.user("bar")
    assert bar.send_take("JOIN #chan")[0].command == "JOIN"
    baz = h.user("baz")
    assert cmds(baz.send_take("JOIN #chan")) == ["474"]
    op.send_take("MODE #chan -b *!*@*")
    op.send_take("MODE #chan +i")
    assert cmds(baz.send_take("JOIN #chan")) == ["473"]
    assert [m.params for m in op.send_take("MODE #chan +I baz!*@*")] == [("#chan", "+I", "baz!*@*")]
    assert baz.send_take("JOIN #chan")[0].command == "JOIN"
    out = op.send_take("MODE #chan e")
    assert cmds(out) == ["348", "349"] and out[0].params[2] == "bar!*@*"
    out = op.send_take("MODE #chan +I")
    assert cmds(out) == ["346", "347"] and out[0].params[2:4] == ("baz!*@*", "chanop")
    assert cmds(mem.send_take("MODE #chan +I")) == ["482"]
    # INVITE exempts from a ban, once
    op.send_take("MODE #chan -i")
    op.send_take("MODE #chan +b qux")
    qux = h.user("qux")
    op.send_take("INVITE qux #chan")
    assert qux.send_take("JOIN #chan")[0].command == "JOIN"
    op.send_take("KICK #chan qux")
    assert cmds(qux.send_take("JOIN #chan")) == ["474"]


def test_mute_extban() -> None:
    """ircdocs EXTBAN (defs.ircdocs.horse, isupport EXTBAN): `+b m:<mask>` mutes without
    keeping out; the muted member gets 404 and nobody sees the message; +v or an exception
    `+e m:<mask>` lets it speak again; -b m: lifts it."""
    h = Harness()
    op, qux = chan(h, "chanop", "qux")
    assert [m.params for m in op.send_take("MODE #chan +b m:qux!*@*")] == [
        ("#chan", "+b", "m:qux!*@*")
    ]
    out = qux.send_take("MODE #chan +b")
    assert out[0].params[:4] == ("qux", "#chan", "m:qux!*@*", "chanop")
    assert cmds(qux.send_take("PRIVMSG #chan :hi from qux")) == ["404"]
    assert op.take() == []
    op.send_take("MODE #chan +e m:*!~qux@*")
    qux.take()
    assert qux.send_take("PRIVMSG #chan :excepted") == []
    assert [m.params[1] for m in op.take()] == ["excepted"]
    op.send_take("MODE #chan -e m:*!~qux@*")
    op.send_take("MODE #chan +v qux")
    qux.take()
    assert qux.send_take("PRIVMSG #chan :voiced") == []
    op.send_take("MODE #chan -v qux")
    op.send_take("MODE #chan -b m:qux!*@*")
    qux.take()
    assert qux.send_take("PRIVMSG #chan :free") == []
    assert cmds(op.send_take("MODE #chan +b x:foo")) == ["696"]


def test_account_extban() -> None:
    """IRCv3 account-extban (ACCOUNTEXTBAN=a): `+b a:<account>` keeps that account out, not a
    guest that merely has the nick; `+e a:<account>` excepts it from a wider ban."""
    h = Harness()
    (op,) = chan(h, "chanop")
    op.send_take("MODE #chan +b a:bob")
    guest = h.user("bob")
    assert guest.send_take("JOIN #chan")[0].command == "JOIN"  # a guest: no account
    guest.quit()
    bob = h.user("bob", password="sesame12")  # creates the account bob
    assert cmds(bob.send_take("JOIN #chan")) == ["474"]
    op.send_take("MODE #chan -b a:bob")
    op.send_take("MODE #chan +b *!*@*")
    op.send_take("MODE #chan +e a:BOB")
    assert bob.send_take("JOIN #chan")[0].command == "JOIN"


def test_general_keeps_its_rules() -> None:
    """#general (README, Channels): only server operators change its modes (482 to others,
    even its channel operators); nobody makes it +i, +k or +l, nor bans everyone from it
    (ERR_INVALIDMODEPARAM, 696); a server operator may ban someone or moderate it."""
    h = Harness(with_operator())
    root = h.user("root")
    oper_up(root)
    bob = h.user("bob")
    h.drain(root, bob)
    assert cmds(bob.send_take("MODE #general +m")) == ["482"]
    for change in ("+i", "+k key", "+l 10", "+b *!*@*", "+b *", "+b a:*"):
        out = root.send_take(f"MODE #general {change}")
        assert cmds(out) == ["696"], change
    assert cmds(root.send_take("MODE #general +b spammer")) == ["MODE"]
    root.send_take("MODE #general +o bob")
    assert cmds(bob.send_take("MODE #general +m")) == ["482"]
    assert cmds(bob.send_take("MODE #general -o bob")) == ["482"]
    assert cmds(root.send_take("MODE #general +m")) == ["MODE"]
    assert one(root.send_take("MODE #general"), "324").params[2] == "+mnt"


def test_a_user_banned_from_general_lands_elsewhere() -> None:
    """A user banned from #general by a server operator is told so (474) at registration
    instead of being joined."""
    h = Harness(with_operator())
    root = h.user("root")
    oper_up(root)
    root.send_take("MODE #general +b spammer")
    out = h.connect().register("spammer")
    assert "474" in cmds(out)
    assert not [m for m in out if m.command == "JOIN"]


def test_multi_target_kick() -> None:
    """Modern IRC, KICK: `KICK #chan bar,baz :bye` kicks both, one KICK message each (the
    server never sends KICK with several users); `KICK #a,#b x,y` pairs them; TARGMAX KICK:4."""
    h = Harness()
    foo, _bar, _baz, qux = chan(h, "foo", "bar", "baz", "qux")
    foo.send_take("KICK #chan bar,baz :bye")
    got = only(qux.take(), "KICK")
    assert [m.params for m in got] == [("#chan", "bar", "bye"), ("#chan", "baz", "bye")]
    foo.send("JOIN #two")
    qux.send("JOIN #two")
    h.drain(foo, qux)
    foo.send_take("KICK #chan,#two qux,qux")
    assert [m.params[0] for m in only(qux.take(), "KICK")] == ["#chan", "#two"]
    assert cmds(foo.send_take("KICK #a,#b,#c x,y")) == ["461"]
    assert cmds(qux.send_take("KICK #chan foo,foo")) == ["442"]  # told once


def test_statusmsg() -> None:
    """Modern IRC, STATUSMSG parameter: `PRIVMSG @#chan` reaches only the channel's operators,
    `+#chan` its voiced members and operators, with the target as sent."""
    h = Harness()
    op, joe, voiced, sender = chan(h, "chanop", "joe", "voiced", "schmoe")
    op.send_take("MODE #chan +v voiced")
    h.drain(joe, voiced, sender)
    assert sender.send_take("PRIVMSG @#chan :for operators") == []
    got = only(op.take(), "PRIVMSG")
    assert [m.params for m in got] == [("@#chan", "for operators")]
    assert got[0].source == sender.session.mask
    assert only(joe.take(), "PRIVMSG") == [] and only(voiced.take(), "PRIVMSG") == []
    sender.send_take("PRIVMSG +#chan :for voices")
    assert [m.params for m in only(voiced.take(), "PRIVMSG")] == [("+#chan", "for voices")]
    assert [m.params for m in only(op.take(), "PRIVMSG")] == [("+#chan", "for voices")]
    assert only(joe.take(), "PRIVMSG") == []
    outsider = h.user("out")
    assert cmds(outsider.send_take("PRIVMSG @#chan :hi")) == ["404"]
    assert outsider.send_take("NOTICE @#chan :hi") == []  # NOTICE: never an automatic reply
    op.take()
    sender.send_take("NOTICE @#chan :notice for operators")
    assert [(m.command, m.params) for m in op.take()] == [
        ("NOTICE", ("@#chan", "notice for operators"))
    ]


def test_kick_and_voice_reach_an_offline_account() -> None:
    """Modern IRC, KICK and MODE +v: an account that is offline is still a member of its
    channels, so it can be voiced and kicked by name like anyone present."""
    h = Harness()
    (op,) = chan(h, "chanop")
    acct = h.user("dave", password="sesame12")
    acct.send("JOIN #chan")
    acct.quit()
    h.drain(op)
    assert [m.params for m in op.send_take("MODE #chan +v dave")] == [("#chan", "+v", "dave")]
    out = op.send_take("KICK #chan dave :gone")
    assert [m.params for m in out] == [("#chan", "dave", "gone")]
    assert "dave" not in h.messenger.rooms["#chan"].members


def test_an_invite_from_an_account_carries_its_account_tag() -> None:
    """ircv3.net account-tag: "This tag MUST be added by the server to all messages sent by a
    user that is logged in" (INVITE included; irctest account_tag testInvite); clients
    without the capability get the plain line."""
    h = Harness()
    tagged = h.user("foo", "account-tag")
    plain = h.user("baz", "invite-notify")
    inviter = h.user("jilles", password="sesame-pw")
    inviter.send("JOIN #chan")
    plain.send("JOIN #chan")
    h.drain(tagged, plain, inviter)
    inviter.send_take("INVITE foo #chan")
    got = one(tagged.take(), "INVITE")
    assert got.tags == {"account": "jilles"} and got.params == ("foo", "#chan")
    assert one(plain.take(), "INVITE").tags is None
    guest = h.user("gus")
    guest.send("JOIN #other")
    h.drain(guest, tagged)
    guest.send_take("INVITE foo #other")
    assert one(tagged.take(), "INVITE").tags is None  # a guest has no account
