"""Bad input gets an error reply, never "Internal error" or a traceback (issue 9, section 5):
numbers that are not ASCII digits, client text in a middle parameter, times outside what can
be shown, replies that would pass 512 bytes, and a log that one client could fill
(adapter tier: lines in, lines out)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator

import pytest

from ircd.irc import COMMANDS, Hub
from ircd.irc.lines import safe_line
from ircd.irc.logbudget import (
    DROP,
    LOG,
    LOG_BURST,
    LOG_LINES_PER_MINUTE,
    RESUME_AT,
    SUPPRESS_START,
    LogBudget,
)
from ircd.irc.session import Session
from ircd.irc.timefmt import iso_time
from ircd.messenger import Messenger
from ircd.server import rules_from
from ircd.wire import Message, TooLong, format_line, parse

from .harness import SERVER, Client, Harness

CAPS = "standard-replies draft/read-marker draft/chathistory batch server-time"
YEAR_1 = -62135683140.0  # what 0001-01-01T00:00:00+23:59 used to be stored as


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures the server's log; the test then checks that no traceback was logged."""
    with caplog.at_level(logging.INFO, logger="ircd"):
        yield caplog
    crashes = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert crashes == []


def lines_of(c: Client, line: str) -> list[str]:
    c.take_lines()
    c.send(line)
    out = c.take_lines()
    assert not any("Internal error" in x for x in out), out
    for x in out:  # every reply is a line a client can read (modern.ircdocs.horse, "Messages")
        body = x.split(" ", 1)[1] if x.startswith("@") else x
        assert len(body.encode()) + 2 <= 512, x
        parse(x)
    return out


# ---------------------------------------------------------------------- the issue's lines

# (line, reply with standard-replies, reply without): the context echoes what was sent; a
# middle param that cannot go out as it is ("a b") has its space replaced ("a?b").
ISSUE_LINES = [
    # ircv3 standard-replies: FAIL <command> <code> [<context>...] :<description>
    (
        "DELAY CANCEL ²",
        f":{SERVER} FAIL DELAY UNKNOWN_ID ² :² is not a message id (see DELAY LIST)",
        f":Messenger!service@{SERVER} NOTICE alice :Error: ² is not a message id (see DELAY LIST)",
    ),
    # ircv3 chathistory: a limit that is not a number is INVALID_PARAMS
    (
        "CHATHISTORY LATEST #general * ²",
        f":{SERVER} FAIL CHATHISTORY INVALID_PARAMS LATEST ² :Invalid limit",
        f":Messenger!service@{SERVER} NOTICE alice :Error: Invalid limit",
    ),
    (  # an Arabic-Indic 3 is a digit to Python's int(), not to IRC
        "CHATHISTORY LATEST #general * ٣",
        f":{SERVER} FAIL CHATHISTORY INVALID_PARAMS LATEST ٣ :Invalid limit",
        f":Messenger!service@{SERVER} NOTICE alice :Error: Invalid limit",
    ),
    # ircv3 read-marker: the target is a channel or a nick; a bad one is INVALID_PARAMS
    (
        "MARKREAD :a b",
        f":{SERVER} FAIL MARKREAD INVALID_PARAMS a?b :Not a channel or nick",
        f":Messenger!service@{SERVER} NOTICE alice :Error: Not a channel or nick",
    ),
    # ... and its timestamp is a server-time one: year 1 with +23:59 is in year 0 in UTC
    (
        "MARKREAD #general timestamp=0001-01-01T00:00:00+23:59",
        f":{SERVER} FAIL MARKREAD INVALID_PARAMS #general "
        "timestamp=0001-01-01T00:00:00+23:59 :Invalid timestamp",
        f":Messenger!service@{SERVER} NOTICE alice :Error: Invalid timestamp",
    ),
    (
        "COMPLAIN :",
        f":{SERVER} FAIL COMPLAIN NEED_MORE_PARAMS :Usage: COMPLAIN <nick> [:<reason>]",
        f":Messenger!service@{SERVER} NOTICE alice :Error: Usage: COMPLAIN <nick> [:<reason>]",
    ),
]


@pytest.mark.parametrize(
    ("line", "standard", "plain"), ISSUE_LINES, ids=[x[0] for x in ISSUE_LINES]
)
def test_issue_lines_get_an_error_reply(
    line: str, standard: str, plain: str, errors: pytest.LogCaptureFixture
) -> None:
    h = Harness()
    with_caps = h.user("alice", CAPS, password="pw1234")
    assert lines_of(with_caps, line) == [standard]
    with_caps.quit()
    without = h.user("alice", password="pw1234")
    assert lines_of(without, line) == [plain]


def test_whowas_echoes_a_nick_with_a_space_as_a_valid_param(
    errors: pytest.LogCaptureFixture,
) -> None:
    # modern.ircdocs.horse: ERR_WASNOSUCHNICK (406) "<client> <nick> :There was no such
    # nickname", then RPL_ENDOFWHOWAS (369) "<client> <nick> :End of WHOWAS"
    a = Harness().user("alice")
    assert lines_of(a, "WHOWAS :a b") == [
        f":{SERVER} 406 alice a?b :There was no such nickname",
        f":{SERVER} 369 alice a?b :End of WHOWAS",
    ]


def test_cap_with_a_space_in_the_subcommand_is_an_invalid_cap_command(
    errors: pytest.LogCaptureFixture,
) -> None:
    # modern.ircdocs.horse: ERR_INVALIDCAPCMD (410) "<client> <command> :Invalid CAP command"
    h = Harness()
    c = h.connect()
    assert lines_of(c, "CAP :a b") == [f":{SERVER} 410 * a?b :Invalid CAP command"]
    a = h.user("alice")
    assert lines_of(a, "CAP :a b") == [f":{SERVER} 410 alice a?b :Invalid CAP command"]


def test_cap_ls_with_a_version_that_is_not_a_number_lists_without_values(
    errors: pytest.LogCaptureFixture,
) -> None:
    # ircv3 capability negotiation: "CAP LS [<version>]"; 302 and up get cap values. "3²" is
    # no version: the plain list, as for "CAP LS"
    c = Harness().connect()
    (ls,) = lines_of(c, "CAP LS 3²")
    assert ls.startswith(f":{SERVER} CAP * LS :account-notify ")
    assert "=" not in ls and c.session.cap_version == 0
    (ls,) = lines_of(c, "CAP LS 302")
    assert "sasl=PLAIN" in ls and c.session.cap_version == 302


def test_cap_req_ack_fits_in_a_line_however_the_request_repeats(
    errors: pytest.LogCaptureFixture,
) -> None:
    c = Harness().connect()
    # 495 bytes of request: as it is, the ACK would be 527 bytes
    wanted = " ".join(["draft/account-registration", "draft/chathistory"] * 11)
    (ack,) = lines_of(c, f"CAP REQ :{wanted}")
    assert ack == f":{SERVER} CAP * ACK :draft/account-registration draft/chathistory"
    (nak,) = lines_of(c, "CAP REQ :" + "bogus " * 80)
    assert nak.startswith(f":{SERVER} CAP * NAK :bogus bogus")


def test_pong_with_a_unicode_digit_is_ignored(errors: pytest.LogCaptureFixture) -> None:
    # modern.ircdocs.horse PONG: the token is ours ("ack-<seq>"); one we did not send is ignored
    h = Harness()
    a = h.user("alice", password="pw1234")
    delivered = h.messenger.users["alice"].delivered_seq
    for token in ("ack-²", "ack-٣", "ack-", "ack--1", "ack-" + "9" * 5000):
        assert lines_of(a, f"PONG :{token}") == []
    assert h.messenger.users["alice"].delivered_seq == delivered
    assert lines_of(a, "PING :still") == [f":{SERVER} PONG {SERVER} :still"]


# ---------------------------------------------------------------------- stored times


def _markers_everywhere(h: Harness) -> dict[str, float]:
    return dict(h.messenger.users["alice"].read_markers)


def test_a_year_1_read_marker_is_refused_and_not_stored(errors: pytest.LogCaptureFixture) -> None:
    h = Harness()
    a = h.user("alice", CAPS, password="pw1234")
    lines_of(a, "MARKREAD #general timestamp=0001-01-01T00:00:00+23:59")
    lines_of(a, "MARKREAD #general timestamp=9999-12-31T23:59:59-23:59")  # year 10000 in UTC
    assert _markers_everywhere(h) == {}
    assert lines_of(a, "MARKREAD #general") == [f":{SERVER} MARKREAD #general *"]
    a.quit()
    again = h.connect()
    again.register("alice", CAPS, password="pw1234")
    assert f":{SERVER} MARKREAD #general *" in again.raw


def _restarted(h: Harness, m: Messenger) -> Harness:
    """A harness on ``m``, as the server builds it from a state file."""
    h2 = Harness(h.config)
    h2.clock = h.clock
    h2.messenger = m
    h2.hub = Hub(h.config, m, h.clock)
    return h2


def _login_shows_marker(h: Harness) -> list[str]:
    c = h.connect()
    c.register("alice", "draft/read-marker", password="pw1234")
    assert not any("Internal error" in x for x in c.raw)
    c.quit()
    return [x for x in c.raw if " MARKREAD " in x]


@pytest.mark.parametrize("where", ["snapshot", "journal"])
def test_a_stored_year_1_marker_loads_and_the_account_logs_in(
    where: str, errors: pytest.LogCaptureFixture
) -> None:
    """A state written before timestamps were checked may hold a marker of year 1: it loads,
    the account logs in (before: a traceback at every login, across restarts), the marker is
    shown as the earliest time there is, and a real one replaces it."""
    h = Harness()
    a = h.user("alice", password="pw1234")
    a.quit()
    rules = rules_from(h.config)
    if where == "snapshot":
        state = h.messenger.to_dict()
        (alice,) = (u for u in state["users"] if u["key"] == "alice")
        alice["markers"]["#general"] = YEAR_1
        m = Messenger.from_dict(json.loads(json.dumps(state)), h.clock, rules)
    else:
        events = h.messenger.take_events()
        events.append({"t": "mark", "u": "alice", "target": "#general", "ts": YEAR_1})
        m = Messenger(h.clock, rules)
        m.replay(json.loads(json.dumps(events)))
    h2 = _restarted(h, m)
    for _ in range(2):  # every later login, not just the first
        shown = _login_shows_marker(h2)
        assert shown == [f":{SERVER} MARKREAD #general timestamp=1970-01-01T00:00:00.000Z"]
    c = h2.connect()
    c.register("alice", CAPS, password="pw1234")
    now = iso_time(h.clock.now())
    assert lines_of(c, f"MARKREAD #general timestamp={now}") == [
        f":{SERVER} MARKREAD #general timestamp={now}"
    ]


@pytest.mark.parametrize(
    ("ts", "shown"),
    [
        (YEAR_1, "1970-01-01T00:00:00.000Z"),
        (-1.0, "1970-01-01T00:00:00.000Z"),
        (float("nan"), "1970-01-01T00:00:00.000Z"),
        (float("inf"), "9999-12-31T23:59:59.000Z"),
        (1e300, "9999-12-31T23:59:59.000Z"),
        (253402300799.9996, "9999-12-31T23:59:59.000Z"),
        (1_700_000_000.25, "2023-11-14T22:13:20.250Z"),
    ],
)
def test_iso_time_never_raises(ts: float, shown: str) -> None:
    assert iso_time(ts) == shown


# ---------------------------------------------------------------------- 512 bytes


def test_a_reply_that_echoes_a_long_command_fits_in_512_bytes(
    errors: pytest.LogCaptureFixture,
) -> None:
    # modern.ircdocs.horse: ERR_UNKNOWNCOMMAND (421) "<client> <command> :Unknown command";
    # a line "SHALL NOT exceed 512 bytes", so the echoed command is cut, not the words
    a = Harness().user("alice")
    (reply,) = lines_of(a, "X" * 508)
    assert reply.endswith(" :Unknown command")
    assert len(reply.encode()) == 510
    assert reply.startswith(f":{SERVER} 421 alice XXXX")


@pytest.mark.parametrize(
    ("line", "relayed"),
    [
        ("PART #general :", "PART"),
        ("AWAY :", "AWAY"),
        ("QUIT :", "QUIT"),
    ],
)
def test_relayed_reasons_fit_in_512_bytes(
    line: str, relayed: str, errors: pytest.LogCaptureFixture
) -> None:
    """The longest reason a client can send (its line is at most 510 bytes) is relayed with
    the sender's mask in front: it is cut on a character boundary, never split mid-character."""
    h = Harness()
    bob = h.user("bob", "away-notify")
    alice = h.user("alice")
    bob.take_lines()
    pad = "é" * ((510 - len(line)) // 2)
    alice.send(line + pad)
    out = [x for x in bob.take_lines() if f" {relayed} " in x]
    assert out, relayed
    for x in out:
        assert len(x.encode()) <= 510, len(x.encode())
        assert parse(x).params[-1].strip("é").removeprefix("Quit: ") == ""


def test_replayed_lines_with_a_time_prefix_fit_in_512_bytes(
    errors: pytest.LogCaptureFixture,
) -> None:
    """A message as long as can be sent, replayed to a client without server-time: the
    "[2023-11-14 22:13] " prefix still fits (the text is cut at its end)."""
    h = Harness()
    bob = h.user("bob")
    # (about) the longest text that is relayed: ":mask PRIVMSG #general :text" is 508 bytes
    text = "x" * (508 - len(f":{bob.session.mask} PRIVMSG #general :"))
    assert lines_of(bob, f"PRIVMSG #general :{text}") == []
    carol = h.connect()
    carol.register("carol")
    replayed = [x for x in carol.raw if " PRIVMSG #general :[" in x]
    assert len(replayed) == 1
    assert len(replayed[0].encode()) == 510
    assert parse(replayed[0]).params[-1].startswith("[2023-11-14 22:13] xxxx")


# ---------------------------------------------------------------------- safe_line


def test_safe_line_makes_echoed_params_sendable() -> None:
    assert safe_line("406", ("me", "a b", "There was no such nickname"), "srv") == (
        ":srv 406 me a?b :There was no such nickname"
    )
    assert safe_line("FAIL", ("X", "CODE", ":x", "", "t\r\nu\0"), "srv") == (
        ":srv FAIL X CODE x * t??u?"
    )
    with pytest.raises(ValueError):
        format_line("406", ("me", "a b", "text"), "srv")  # format_line itself stays strict


def test_safe_line_cuts_the_longest_param_first_on_a_character_boundary() -> None:
    line = safe_line("421", ("me", "€" * 300, "Unknown command"), "srv")
    assert len(line.encode()) <= 510
    assert line.endswith(" :Unknown command")
    assert parse(line).params[1] == "€" * parse(line).params[1].count("€")
    notice = safe_line("NOTICE", ("me", "é" * 400), "srv")
    assert len(notice.encode()) <= 510 and notice.encode().decode() == notice
    tagged = safe_line("NOTICE", ("me", "x" * 600), "srv", {"label": "y" * 200})
    assert len(tagged.split(" ", 1)[1].encode()) <= 510  # tags have a budget of their own


# ---------------------------------------------------------------------- the log budget


def test_log_budget_bursts_then_resumes_once_half_the_burst_is_back() -> None:
    b = LogBudget()
    t = 1000.0
    assert [b.take(t) for _ in range(LOG_BURST)] == [LOG] * LOG_BURST
    assert b.take(t) == SUPPRESS_START  # the "suppressed" line instead
    assert b.take(t) == DROP
    per_line = 60 / LOG_LINES_PER_MINUTE
    assert b.take(t + per_line) == DROP  # one line's worth back: still suppressed
    t += RESUME_AT * per_line
    assert b.take(t) == LOG  # the caller says how many were dropped, then logs
    assert b.resumed() == 3 and b.dropped_total == 3 and b.resumed() == 0
    assert [b.take(t) for _ in range(int(RESUME_AT) - 1)] == [LOG] * (int(RESUME_AT) - 1)
    assert b.take(t) == SUPPRESS_START


def _crash(hub: Hub, s: Session, msg: Message) -> None:
    raise RuntimeError("a bug in a handler")


def test_one_client_cannot_fill_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A client sends 3,000 lines over 10 minutes (the most its command budget lets through),
    of which 1,200 would log a line (too-long lines, a handler that crashes, wrong OPER
    passwords until the throttle answers) and the others nothing (unknown commands, SASL when
    registered). The log gets at most LOG_BURST + LOG_LINES_PER_MINUTE * 10 + 2 * 7 = 94 of
    its lines (logbudget.py) instead of 1,220; another client keeps its own budget, and the
    close line says how many were dropped."""
    monkeypatch.setitem(COMMANDS, "TIME", dataclasses.replace(COMMANDS["TIME"], handler=_crash))
    h = Harness()
    flooder = h.user("flooder")
    other = h.user("other")
    kinds = [
        "OPER root wrong",
        TooLong("line"),
        "TIME",
        "NOSUCHCOMMAND x",
        "AUTHENTICATE PLAIN",
    ]
    minutes = 10
    lines = 3000
    with caplog.at_level(logging.INFO, logger="ircd"):
        for i in range(lines):
            flooder.send(kinds[i % len(kinds)])
            other.send("PONG :x")
            h.advance(minutes * 60 / lines)  # the hub's ticker: budgets refill, queues drain
            flooder.take_lines()
        mine = [r for r in caplog.records if "flooder" in r.getMessage()]
        h.hub.quit(flooder.session, "bye")
        other.send("TIME")
    assert flooder.session.closing in (None, "bye") or "flood" in str(flooder.session.closing)
    episodes = 1 + LOG_LINES_PER_MINUTE * minutes / RESUME_AT
    bound = LOG_BURST + LOG_LINES_PER_MINUTE * minutes + 2 * episodes
    assert LOG_BURST < len(mine) <= bound == 94, len(mine)
    size = sum(len(logging.Formatter().format(r)) for r in mine)
    assert size < 20_000, size
    assert any("further log lines from flooder" in r.getMessage() for r in mine)
    closed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("closed flooder")]
    assert len(closed) == 1 and "log lines suppressed" in closed[0], closed
    # the other client's own crash is still logged: budgets are per connection
    assert any(r.exc_info and "other" in r.getMessage() for r in caplog.records), (
        "the other client's line was dropped"
    )


def test_a_reconnecting_loop_cannot_fill_the_log_with_refusals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Connections refused for the per-address limit have no session to charge: they share
    one budget, so 1,000 attempts in a second log LOG_BURST lines and one "suppressed"."""
    h = Harness()
    limit = h.config.server.max_clients_per_ip
    for _ in range(limit):
        h.connect("10.9.9.9")
    with caplog.at_level(logging.INFO, logger="ircd"):
        for _ in range(1000):
            assert h.hub.new_session("10.9.9.9") is None
    refused = [r.getMessage() for r in caplog.records]
    assert len(refused) == LOG_BURST + 1, refused[-3:]
    assert refused[-1] == "further log lines from refused connections suppressed"
    h.clock.advance(600)
    with caplog.at_level(logging.INFO, logger="ircd"):
        assert h.hub.new_session("10.9.9.9") is None
    assert caplog.records[-2].getMessage() == (
        "log lines from refused connections resume; 980 were suppressed"
    )
