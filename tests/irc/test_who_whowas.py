"""WHO (masks, the o flag, the flags field, WHOX) and WHOWAS at the adapter tier.

Modern IRC, WHO: https://modern.ircdocs.horse/#who-message (RPL_WHOREPLY 352, RPL_ENDOFWHO 315
with the mask as sent); IRCv3 WHOX: https://ircv3.net/specs/extensions/whox (RPL_WHOSPCRPL
354, fields tcuihsnfdlaor in that order, the token); Modern IRC, WHOWAS:
https://modern.ircdocs.horse/#whowas-message (314, 312, 369, 406). Cases follow
progval/irctest's server_tests/who.py and whowas.py.
"""

from __future__ import annotations

from .harness import SERVER, Harness, cmds, make_config, one, only
from .operators import oper_up, with_operator


def _who_nicks(out: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(m.params[5] for m in only(out, "352"))


def test_whox_is_advertised() -> None:
    """IRCv3 whox: the server advertises WHOX in RPL_ISUPPORT."""
    h = Harness()
    c = h.connect()
    burst = c.register("alice")
    assert "WHOX" in [p for m in only(burst, "005") for p in m.params[1:-1]]


def test_who_star_and_masks_match_nick_user_host_realname() -> None:
    """Modern IRC, WHO: a mask matches nick, username, host, server or realname; 315 carries
    the mask exactly as sent (irctest testWhoStar, testWhoNick 'coolni*')."""
    h = Harness()
    a = h.user("coolNick")
    h.user("otherNick")
    out = a.send_take("WHO *")
    assert _who_nicks(out) == ["coolNick", "otherNick"]
    assert out[-1].params == ("coolNick", "*", "End of /WHO list")
    row = one(a.send_take("WHO coolni*"), "352")
    assert row.params[1:] == (
        "*", "~coolNick", a.session.ip, SERVER, "coolNick", "H", "0 Real coolNick"
    )  # fmt: skip
    assert a.send_take("WHO COOLni*")[-1].params[1] == "COOLni*"
    assert _who_nicks(a.send_take("WHO ~other*")) == ["otherNick"]  # username
    assert _who_nicks(a.send_take("WHO :Real other*")) == ["otherNick"]  # realname
    assert _who_nicks(a.send_take(f"WHO *!*@{a.session.ip}")) == ["coolNick"]  # full mask
    assert _who_nicks(a.send_take("WHO nobody*")) == []
    assert _who_nicks(a.send_take("WHO 0")) == ["coolNick", "otherNick"]


def test_who_nick_exact_casefolded_and_missing() -> None:
    """Modern IRC, WHO: a nick (any case) gives its one reply; one that does not exist only
    RPL_ENDOFWHO (irctest testWhoNickNotExists)."""
    h = Harness()
    a = h.user("alice")
    h.user("coolNick")
    assert _who_nicks(a.send_take("WHO coolnick")) == ["coolNick"]
    out = a.send_take("WHO idontexist")
    assert cmds(out) == ["315"] and out[0].params[1] == "idontexist"


def test_masks_show_only_who_shares_a_channel() -> None:
    """Modern IRC, WHO: invisible users (everyone here is +i) are listed for a mask only when
    they share a channel with the asker; by exact nick always; an operator sees everyone
    (irctest testWhoInvisible)."""
    h = Harness(with_operator())
    a = h.user("alice")
    b = h.user("bob")
    b.send_take("PART #general")
    assert _who_nicks(a.send_take("WHO *")) == ["alice"]
    assert _who_nicks(a.send_take("WHO bob")) == ["bob"]
    b.send_take("JOIN #dev")
    a.send_take("JOIN #dev")
    assert _who_nicks(a.send_take("WHO b*")) == ["bob"]
    a.send_take("PART #dev")
    oper_up(a)
    assert _who_nicks(a.send_take("WHO *")) == ["alice", "bob"]


def test_flags_away_oper_op_bot_and_the_o_filter() -> None:
    """Modern IRC, RPL_WHOREPLY flags: H/G, * for an operator, the channel prefix when a
    channel is named, B for a bot (draft bot-mode); WHO <mask> o lists operators only."""
    h = Harness(with_operator())
    a = h.user("alice")
    b = h.user("bob")
    a.send_take("JOIN #dev")
    b.send_take("JOIN #dev", "AWAY :lunch", "MODE bob +B")
    oper_up(b)
    flags = {m.params[5]: m.params[6] for m in only(a.send_take("WHO #dev"), "352")}
    assert flags == {"alice": "H@", "bob": "G*B"}
    assert one(a.send_take("WHO bob"), "352").params[6] == "G*B"  # no channel, no prefix
    assert _who_nicks(a.send_take("WHO * o")) == ["bob"]
    assert _who_nicks(a.send_take("WHO #dev o")) == ["bob"]
    out = a.send_take("WHO #DEV")
    assert {m.params[1] for m in only(out, "352")} == {"#dev"}
    assert out[-1].params[1] == "#DEV"


def test_whox_fields_token_and_order() -> None:
    """IRCv3 whox: fields come in the order tcuihsnfdlaor whatever order they are asked in;
    the token comes first; 'a' is 0 without an account (irctest testWhoxFull, -Reversed,
    testWhoxToken, testWhoxNoAccount)."""
    h = Harness()
    a = h.user("otherNick")
    c = h.user("coolNick")
    h.advance(3)
    full = one(a.send_take("WHO coolNick %tcuihsnfdlaor,123"), "354").params
    rev = one(a.send_take("WHO coolNick %" + "tcuihsnfdlaor"[::-1] + ",123"), "354").params
    assert full == rev
    ip = c.session.ip
    assert full[:9] == ("otherNick", "123", "*", "~coolNick", ip, ip, SERVER, "coolNick", "H")
    assert full[9] == "0" and full[10].isdigit() and full[11] == "0"
    assert full[13] == "Real coolNick"
    assert one(a.send_take("WHO coolNick %tn,321"), "354").params == (
        "otherNick",
        "321",
        "coolNick",
    )
    assert one(a.send_take("WHO coolNick %na"), "354").params == ("otherNick", "coolNick", "0")
    # a token that is not 1-3 digits is not echoed
    assert one(a.send_take("WHO coolNick %tn,abc"), "354").params == ("otherNick", "coolNick")


def test_whox_account() -> None:
    """IRCv3 whox, 'a': the account name of a logged-in user (irctest testWhoxAccount)."""
    h = Harness()
    a = h.user("otherNick")
    h.user("coolAcct", password="sesame-pw")
    assert one(a.send_take("WHO coolAcct %na"), "354").params == (
        "otherNick",
        "coolAcct",
        "coolAcct",
    )


def test_whowas_after_quit_and_nick_change() -> None:
    """Modern IRC, WHOWAS: 314 <nick> <user> <host> * :<realname>, 312 with the server, 369
    with the nick as asked (irctest testWhowasNumerics); a nick given up by NICK is in the
    history too; a logged-in user's entry has 330."""
    h = Harness()
    a = h.user("nick1")
    b = h.user("nick2")
    ip = b.session.ip
    b.quit()
    out = a.send_take("WHOWAS nick2")
    assert cmds(out) == ["314", "312", "369"]
    assert out[0].params == ("nick1", "nick2", "~nick2", ip, "*", "Real nick2")
    assert out[1].params[:3] == ("nick1", "nick2", SERVER)
    assert out[2].params == ("nick1", "nick2", "End of WHOWAS")
    c = h.user("carol", password="pw-carol")
    c.send_take("NICK carol2")
    out = a.send_take("WHOWAS Carol")
    assert cmds(out) == ["314", "330", "312", "369"]
    assert out[1].params == ("nick1", "carol", "carol", "was logged in as")
    assert out[-1].params[1] == "Carol"


def test_whowas_most_recent_first_count_and_wildcards() -> None:
    """RFC 1459/2812 WHOWAS (as Modern IRC keeps it): most recent entry first; <count> limits
    the entries, a non-positive count means all; a wildcard mask is allowed (irctest
    testWhowasMultiple, -Count1, -CountNegative, -Wildcard)."""
    h = Harness()
    a = h.user("nick1")
    for ident in ("ident2", "ident3"):
        c = h.connect()
        c.send("NICK nick2", f"USER {ident} 0 * :Realname")
        c.quit()
    users = [m.params[2] for m in only(a.send_take("WHOWAS nick2"), "314")]
    assert users == ["~ident3", "~ident2"]
    assert [m.params[2] for m in only(a.send_take("WHOWAS nick2 1"), "314")] == ["~ident3"]
    for count in ("0", "-1", "2", "x"):
        assert len(only(a.send_take(f"WHOWAS nick2 {count}"), "314")) == 2
    assert len(only(a.send_take("WHOWAS *ck2"), "314")) == 2


def test_whowas_unknown_and_bounded() -> None:
    """Modern IRC, WHOWAS: 406 then 369 for a nick with no history; the history keeps the
    configured number of entries, the oldest going first."""
    h = Harness(make_config(server={"whowas_history": 2}))
    a = h.user("alice")
    out = a.send_take("WHOWAS ghost")
    assert [(m.command, m.params[1]) for m in out] == [("406", "ghost"), ("369", "ghost")]
    for nick in ("n1", "n2", "n3"):
        h.user(nick).quit()
    assert cmds(a.send_take("WHOWAS n1")) == ["406", "369"]
    assert cmds(a.send_take("WHOWAS n3"))[0] == "314"
    assert cmds(a.send_take("WHOWAS")) == ["461"]


def test_who_channel_prefixes_voice_multi_prefix_and_secret() -> None:
    """Modern IRC, RPL_WHOREPLY: the flags carry the member's channel prefix, "+" for voice;
    IRCv3 multi-prefix: all of them ("@+"); a secret (+s) channel's members are listed only
    to its members (as NAMES does)."""
    h = Harness()
    a = h.user("alice")
    b = h.user("bob", "multi-prefix")
    c = h.user("carol")
    a.send_take("JOIN #dev")
    b.send_take("JOIN #dev")
    a.send_take("MODE #dev +v bob", "MODE #dev +v alice")
    flags = {m.params[5]: m.params[6] for m in only(a.send_take("WHO #dev"), "352")}
    assert flags == {"alice": "H@", "bob": "H+"}
    flags = {m.params[5]: m.params[6] for m in only(b.send_take("WHO #dev"), "352")}
    assert flags == {"alice": "H@+", "bob": "H+"}
    a.send_take("MODE #dev +s")
    out = c.send_take("WHO #dev")
    assert cmds(out) == ["315"]
