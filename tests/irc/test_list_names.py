"""LIST with the ELIST conditions and NAMES with several channels, at the adapter tier.

Modern IRC, LIST: https://modern.ircdocs.horse/#list-message and the ELIST token:
https://modern.ircdocs.horse/#elist-parameter (C, M, N, T, U; C and T in minutes as in
ircdocs/modern-irc#171: "<val" less than val minutes ago, ">val" more); Modern IRC, NAMES:
https://modern.ircdocs.horse/#names-message. Cases follow progval/irctest's
server_tests/list.py and names.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircd.irc import elist

from .harness import Harness, cmds, only


def _listed(out: list) -> set[str]:  # type: ignore[type-arg]
    return {m.params[1] for m in only(out, "322")} - {"#general"}


def test_elist_is_advertised() -> None:
    h = Harness()
    c = h.connect()
    burst = c.register("alice")
    assert "ELIST=CMNTU" in [p for m in only(burst, "005") for p in m.params[1:-1]]


def test_list_masks_and_not_masks() -> None:
    """ELIST M: "Searching based on mask"; N: "a non-matching mask" (irctest testListMask,
    testListNotMask)."""
    h = Harness()
    a = h.user("foo")
    b = h.user("bar")
    a.send_take("JOIN #chan1", "JOIN #chan2")
    assert _listed(b.send_take("LIST *an1")) == {"#chan1"}
    assert _listed(b.send_take("LIST #c*n2")) == {"#chan2"}
    assert _listed(b.send_take("LIST *an3")) == set()
    assert _listed(b.send_take("LIST #ch*")) == {"#chan1", "#chan2"}
    assert _listed(b.send_take("LIST !*an1")) == {"#chan2"}
    assert _listed(b.send_take("LIST !#ch*")) == set()
    assert _listed(b.send_take("LIST #CHAN1,#nope")) == {"#chan1"}


def test_list_users() -> None:
    """ELIST U: "<val" and ">val": fewer or more than val users (irctest testListUsers)."""
    h = Harness()
    a = h.user("foo")
    b = h.user("bar")
    c = h.user("baz")
    a.send_take("JOIN #chan1", "JOIN #chan2")
    b.send_take("JOIN #chan2")
    assert _listed(c.send_take("LIST >0")) == {"#chan1", "#chan2"}
    assert _listed(c.send_take("LIST <1")) == set()
    assert _listed(c.send_take("LIST >1")) == {"#chan2"}
    assert _listed(c.send_take("LIST <2")) == {"#chan1"}
    assert _listed(c.send_take("LIST #ch* >1")) == {"#chan2"}  # conditions in the 2nd param
    assert _listed(c.send_take("LIST >1,<100")) == {"#chan2"}


def test_list_creation_and_topic_times() -> None:
    """ELIST C and T in minutes: C>2 created more than 2 minutes ago, C<2 less; T likewise
    for the topic's time; a channel without a topic matches no T condition (irctest
    testListCreationTime, testListTopicTime)."""
    h = Harness()
    a = h.user("foo")
    b = h.user("bar")

    def minutes(n: int) -> None:
        for _ in range(n):
            h.advance(60)
            a.send_take("PING :alive")  # within the ping timeout
            b.send_take("PING :alive")

    a.send_take("JOIN #chan1", "TOPIC #chan1 :First channel")
    minutes(2)
    a.send_take("JOIN #chan2", "TOPIC #chan2 :Second channel", "JOIN #notopic")
    minutes(1)
    assert _listed(b.send_take("LIST C>2")) == {"#chan1"}
    assert _listed(b.send_take("LIST C<2")) == {"#chan2", "#notopic"}
    assert _listed(b.send_take("LIST C<0")) == set()
    assert _listed(b.send_take("LIST C>0")) == {"#chan1", "#chan2", "#notopic"}
    assert _listed(b.send_take("LIST T>2")) == {"#chan1"}
    assert _listed(b.send_take("LIST T<2")) == {"#chan2"}
    assert _listed(b.send_take("LIST T<10")) == {"#chan1", "#chan2"}


def test_list_bad_condition_and_server_target() -> None:
    """A word that is no ELIST condition gets a clear error (FAIL LIST INVALID_PARAMS, or a
    notice) and the list's end; LIST <channels> <this server> is RFC 1459's form."""
    h = Harness()
    a = h.user("foo", "standard-replies")
    a.send_take("JOIN #chan1")
    out = a.send_take("LIST >x")
    assert [(m.command, m.params[:3]) for m in out] == [
        ("FAIL", ("LIST", "INVALID_PARAMS", ">x")),
        ("323", ("foo", "End of /LIST")),
    ]
    assert _listed(a.send_take(f"LIST #chan1 {h.hub.name}")) == {"#chan1"}


def test_names_several_channels_and_none() -> None:
    """Modern IRC, NAMES: each channel gets its RPL_NAMREPLY and an RPL_ENDOFNAMES naming it;
    a channel that does not exist or an invalid name only the 366; without a parameter every
    channel with someone in it, then one 366 for "*"."""
    h = Harness()
    a = h.user("nick1")
    a.send_take("JOIN #chan1", "JOIN #chan2")
    out = a.send_take("NAMES #chan1,#chan2,#nope,invalid")
    assert [(m.command, m.params[1:3]) for m in out] == [
        ("353", ("=", "#chan1")),
        ("366", ("#chan1", "End of /NAMES list")),
        ("353", ("=", "#chan2")),
        ("366", ("#chan2", "End of /NAMES list")),
        ("366", ("#nope", "End of /NAMES list")),
        ("366", ("invalid", "End of /NAMES list")),
    ]
    assert only(out, "353")[0].params[3] == "@nick1"
    out = a.send_take("NAMES")
    assert [m.params[2] for m in only(out, "353")] == ["#chan1", "#chan2", "#general"]
    assert cmds(out)[-1] == "366" and out[-1].params[1] == "*"


# ---------------------------------------------------------------------- the parser


def test_parse_conditions() -> None:
    q = elist.parse(("#a,#B*,!#c*", ">1,<9,C<5,c>2,T<7,t>1"))
    assert q.names == {"#a"} and q.masks == ["#B*"] and q.not_masks == ["#c*"]
    assert (q.more_users, q.fewer_users) == (1, 9)
    assert (q.created_within, q.created_before, q.topic_within, q.topic_before) == (5, 2, 7, 1)
    assert not elist.parse(()).filtered and elist.parse((">1",)).filtered


@pytest.mark.parametrize("word", ["x", ">", "<-1", "C<", "T>x", ">1x", "!"])
def test_parse_refuses(word: str) -> None:
    with pytest.raises(elist.ElistError):
        elist.parse((word,))


_word = st.one_of(
    st.builds(lambda op, n: f"{op}{n}", st.sampled_from([">", "<", "C<", "C>", "T<", "T>"]),
              st.integers(0, 10**6)),
    st.from_regex(r"#[a-z*?]{1,8}", fullmatch=True),
    st.from_regex(r"![a-z#*]{1,8}", fullmatch=True),
)  # fmt: skip


@given(st.lists(_word, max_size=6), st.text(max_size=12))
def test_parse_any_valid_conditions_and_never_crash(words: list[str], junk: str) -> None:
    """Every well-formed list parses; anything else parses or raises ElistError only."""
    elist.parse((",".join(words),))
    try:
        q = elist.parse((junk,))
    except elist.ElistError:
        return
    q.matches("#x", 3, 0.0, 0.0, 100.0)
