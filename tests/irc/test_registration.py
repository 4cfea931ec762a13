"""Registration as real clients do it, CAP negotiation, the welcome burst, timeouts and limits
(adapter tier: no sockets, FakeClock)."""

from __future__ import annotations

import pytest

from ircd.irc import pump_waiting
from ircd.irc.caps import CAPS
from ircd.irc.welcome import LANDING_QUIET
from ircd.wire import parse

from .harness import SERVER, Harness, cmds, is_numeric, one, only

WELCOME = ["001", "002", "003", "004", "005"]
LUSERS = ["251", "252", "253", "254", "255"]


def test_irssi_order_cap_and_bogus_join_first_then_nick_user_after_cap_end() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP LS 302", "JOIN :")
    assert cmds(out) == ["CAP", "451"]
    assert out[1].params == ("*", "You have not registered")
    assert out[1].source == SERVER
    out = c.send_take("CAP REQ :multi-prefix server-time")
    assert [m.format() for m in out] == [f":{SERVER} CAP * ACK :multi-prefix server-time"]
    assert c.send_take("CAP END") == []  # no nick yet: still waiting
    assert not c.session.registered
    out = c.send_take("NICK alice", "USER alice 0 * :Alice")
    assert c.session.registered
    assert cmds(out)[:5] == WELCOME
    assert out[0].params[0] == "alice"
    assert "JOIN" not in cmds(out)  # the landing waits for the next line (welcome.py)
    assert "JOIN" in cmds(c.send_take("MODE alice +i"))


def test_hexchat_pydle_order_waits_for_cap_end() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP LS 302", "NICK bob", "USER bob 0 * :Bob")
    assert cmds(out) == ["CAP"]
    assert not c.session.registered
    out = c.send_take("CAP REQ :echo-message")
    assert cmds(out) == ["CAP"]
    assert not c.session.registered
    out = c.send_take("CAP END")
    assert c.session.registered
    assert cmds(out)[:5] == WELCOME
    assert out[0].params[0] == "bob"


@pytest.mark.parametrize(
    "order", [("NICK carol", "USER c 0 * :C"), ("USER c 0 * :C", "NICK carol")]
)
def test_no_cap_registers_on_nick_and_user(order: tuple[str, str]) -> None:
    h = Harness()
    c = h.connect()
    assert c.send_take(order[0]) == []
    out = c.send_take(order[1])
    assert cmds(out)[:5] == WELCOME
    assert out[0].params == ("carol", f"Welcome to the Messenger Network, carol!~c@{c.session.ip}")


def test_cap_req_alone_also_suspends_registration() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP REQ :multi-prefix", "NICK dan", "USER d 0 * :D")
    assert cmds(out) == ["CAP"]
    assert not c.session.registered
    out = c.send_take("CAP END")
    assert out[0].command == "001"


def test_cap_ls_is_one_line_with_every_cap() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP LS")
    assert len(out) == 1
    ls = out[0]
    assert ls.params[:2] == ("*", "LS")
    assert len(ls.params) == 3  # no "*" continuation marker
    names = ls.params[2].split()
    assert names == list(CAPS)
    assert "sasl" in names  # without 302: no values
    assert not any("=" in n for n in names)
    assert len(out[0].format().encode()) < 510


def test_cap_ls_302_has_values_and_enables_cap_notify() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP LS 302")
    assert len(out) == 1
    assert len(out[0].params) == 3
    names = out[0].params[2].split()
    assert "sasl=PLAIN" in names
    assert "draft/account-registration=before-connect" in names
    assert "echo-message" in names
    out = c.send_take("CAP LIST")
    assert out[0].params == ("*", "LIST", "cap-notify")


def test_cap_req_ack_and_nak_the_whole_set() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP REQ :message-tags server-time")
    assert out[0].params == ("*", "ACK", "message-tags server-time")
    # one unknown cap: the whole request is refused, nothing changes
    out = c.send_take("CAP REQ :echo-message bogus-cap")
    assert out[0].params == ("*", "NAK", "echo-message bogus-cap")
    assert c.session.caps == {"message-tags", "server-time"}
    # requesting an enabled cap again is fine; "-cap" disables
    out = c.send_take("CAP REQ :message-tags -server-time")
    assert out[0].params == ("*", "ACK", "message-tags -server-time")
    out = c.send_take("CAP LIST")
    assert out[0].params == ("*", "LIST", "message-tags")


def test_cap_req_empty_is_nak() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP REQ :")
    assert out[0].params == ("*", "NAK", "")


def test_cap_after_registration_uses_nick_and_end_is_ignored() -> None:
    h = Harness()
    c = h.user("erin")
    assert c.send_take("CAP END") == []
    assert c.send_take("CAP LIST")[0].params == ("erin", "LIST", "")
    out = c.send_take("CAP REQ :away-notify")
    assert out[0].params == ("erin", "ACK", "away-notify")
    assert c.send_take("CAP LIST")[0].params == ("erin", "LIST", "away-notify")


def test_cap_unknown_subcommand_is_410() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP FROB")
    assert [m.format() for m in out] == [f":{SERVER} 410 * FROB :Invalid CAP command"]
    c.register("fred")
    out = c.send_take("CAP frob")
    assert out[0].command == "410"
    assert out[0].params[:2] == ("fred", "frob")


def test_cap_without_subcommand_is_461() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("CAP")
    assert out[0].command == "461"
    assert out[0].params[:2] == ("*", "CAP")


def test_welcome_burst_in_order() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("NICK alice", "USER alice 0 * :Alice")
    seq = cmds(out)
    # 001-004, then one or more 005, then LUSERS, then MOTD, then the #general join
    assert seq[:4] == ["001", "002", "003", "004"]
    n005 = seq.count("005")
    assert n005 >= 1
    assert seq[4 : 4 + n005] == ["005"] * n005
    rest = seq[4 + n005 :]
    assert rest[:5] == LUSERS
    i375 = rest.index("375")
    assert rest[i375 + 1] == "372"
    i376 = rest.index("376")
    assert set(rest[i375 + 1 : i376]) == {"372"}
    assert rest[i376 + 1 :] == []  # the landing waits for the client's next line
    assert all(m.source == SERVER for m in out if is_numeric(m))
    assert all(m.params[0] == "alice" for m in out if is_numeric(m))
    # silent: the next tick asks with a PING; its PONG lands it
    h.advance(1)
    assert [(m.command, m.params) for m in c.take()] == [("PING", ("welcome",))]
    h.advance(1)
    assert c.take() == []  # asked once
    landing = c.send_take("PONG :welcome")
    assert cmds(landing) == ["JOIN", "353", "366"]  # no 331 on JOIN (Modern IRC, JOIN)


def test_004_has_at_least_five_params() -> None:
    h = Harness()
    out = h.connect().register("alice")
    m004 = one(out, "004")
    assert len(m004.params) >= 5
    assert m004.params[:2] == ("alice", SERVER)


def test_isupport_tokens() -> None:
    h = Harness()
    out = h.connect().register("alice")
    lines = only(out, "005")
    tokens: dict[str, str] = {}
    for m in lines:
        assert m.params[-1] == "are supported by this server"
        assert len(m.params) - 2 <= 13
        for t in m.params[1:-1]:
            k, _, v = t.partition("=")
            tokens[k] = v
    assert tokens["CASEMAPPING"] == "ascii"
    assert tokens["CHANTYPES"] == "#"
    assert tokens["PREFIX"] == "(ov)@+"
    assert tokens["CHANMODES"] == "beI,k,l,imnst"
    assert (tokens["EXTBAN"], tokens["ACCOUNTEXTBAN"]) == (",am", "a")
    assert (tokens["EXCEPTS"], tokens["INVEX"]) == ("e", "I")
    assert (tokens["MAXLIST"], tokens["STATUSMSG"]) == ("beI:100", "@+")
    assert tokens["NICKLEN"] == "30"
    assert tokens["CHANNELLEN"] == "50"
    assert tokens["TOPICLEN"] == "390"
    assert tokens["NETWORK"] == "Messenger"
    assert "WHOX" in tokens and tokens["ELIST"] == "CMNTU" and tokens["MONITOR"] == "100"


def test_lusers_counts() -> None:
    h = Harness()
    h.user("alice")
    h.connect()  # an unregistered connection
    out = h.connect().register("bob")
    got = {m.command: m.params for m in out if m.command in LUSERS}
    assert got["251"] == ("bob", "There are 2 users and 0 invisible on 1 servers")
    assert got["253"][:2] == ("bob", "1")
    assert got["254"][:2] == ("bob", "1")
    assert got["255"] == ("bob", "I have 2 clients and 0 servers")


def test_motd_lines_and_422_when_empty() -> None:
    h = Harness(server={"motd": "line one\nline two"})
    out = h.connect().register("alice")
    motd = [m for m in out if m.command in ("375", "372", "376")]
    assert [m.format() for m in motd] == [
        f":{SERVER} 375 alice :- {SERVER} Message of the day - ",
        f":{SERVER} 372 alice :- line one",
        f":{SERVER} 372 alice :- line two",
        f":{SERVER} 376 alice :End of /MOTD command.",
    ]
    h2 = Harness(server={"motd": ""})
    out = h2.connect().register("alice")
    assert "422" in cmds(out)
    assert "375" not in cmds(out) and "376" not in cmds(out)


def test_ping_before_and_after_registration() -> None:
    h = Harness()
    c = h.connect()
    c.send("PING :LAG12345")
    assert c.take_lines() == [f":{SERVER} PONG {SERVER} :LAG12345"]
    c.register("alice")
    out = c.send_take("PING tok")
    assert out[0].params == (SERVER, "tok")


def test_commands_before_registration_get_451() -> None:
    h = Harness()
    c = h.connect()
    for line in ("PRIVMSG #general :hi", "WHOIS x", "FROBNICATE", "JOIN #x"):
        out = c.send_take(line)
        assert [m.format() for m in out] == [f":{SERVER} 451 * :You have not registered"]


def test_nick_validation_432() -> None:
    h = Harness()
    c = h.connect()
    for bad in ("1abc", "-x", "a" * 31, "ab!c", "é"):
        out = c.send_take(f"NICK :{bad}")
        assert cmds(out) == ["432"], bad
        assert out[0].params[:2] == ("*", bad)
    # echoed input that cannot be a middle param is made safe, not a crash
    for bad, shown in (("a b", "a?b"), (":x", "x"), (":", "*")):
        out = c.send_take(f"NICK :{bad}")
        assert cmds(out) == ["432"], bad
        assert out[0].params[:2] == ("*", shown)
    out = c.send_take("NICK Messenger")
    assert cmds(out) == ["432"]
    out = c.send_take("NICK NickServ")
    assert cmds(out) == ["432"]
    out = c.send_take("NICK")
    assert cmds(out) == ["431"]
    c.register("good[nick]")


def test_nick_in_use_433_case_insensitively_then_another_nick_registers() -> None:
    h = Harness()
    h.user("alice")
    c = h.connect()
    out = c.send_take("NICK ALICE", "USER x 0 * :X")
    assert cmds(out) == ["433"]
    assert out[0].params[1] == "ALICE"
    assert not c.session.registered
    out = c.send_take("NICK alice_")
    assert out[0].command == "001"
    assert out[0].params[0] == "alice_"


def test_nick_change_to_taken_nick_after_registration_is_433() -> None:
    h = Harness()
    h.user("alice")
    b = h.user("bob")
    out = b.send_take("NICK Alice")
    assert cmds(out) == ["433"]
    assert out[0].params[:2] == ("bob", "Alice")
    assert b.nick == "bob"


def test_user_twice_is_462_and_pass_after_registration_is_462() -> None:
    h = Harness()
    c = h.user("alice")
    assert cmds(c.send_take("USER a 0 * :A")) == ["462"]
    assert cmds(c.send_take("PASS secret")) == ["462"]


def test_461_not_enough_params() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("USER onlyone")
    assert [m.format() for m in out] == [f":{SERVER} 461 * USER :Not enough parameters"]
    c.register("alice")
    for line, verb in (
        ("PRIVMSG", "PRIVMSG"),
        ("JOIN", "JOIN"),
        ("KICK #general", "KICK"),
        ("WHOIS", "WHOIS"),
        ("TOPIC", "TOPIC"),
    ):
        out = c.send_take(line)
        assert [m.format() for m in out] == [f":{SERVER} 461 alice {verb} :Not enough parameters"]


def test_unknown_verb_after_registration_is_421() -> None:
    h = Harness()
    c = h.user("alice")
    out = c.send_take("FROBNICATE a b")
    assert [m.format() for m in out] == [f":{SERVER} 421 alice FROBNICATE :Unknown command"]


def test_quit_before_registration_closes() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take("QUIT :bye")
    assert cmds(out) == ["ERROR"]
    assert c.session not in h.hub.sessions
    assert c.session.closing is not None


# ------------------------------------------------------------------------ timeouts


def test_registration_timeout() -> None:
    h = Harness()
    c = h.connect()
    c.send("NICK slow")
    timeout = h.config.server.registration_timeout
    h.advance(timeout - 1)
    assert c.take() == []
    assert c.session in h.hub.sessions
    h.advance(2)
    out = c.take()
    assert cmds(out) == ["ERROR"]
    assert "Registration timeout" in out[0].params[0]
    assert c.session not in h.hub.sessions
    assert h.hub.ip_counts == {}


def test_ping_timeout_after_keepalive_ping() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    cfg = h.config.server
    h.advance(cfg.ping_interval + 1)
    assert a.take_lines() == [f"PING :{SERVER}"]
    assert b.take_lines() == [f"PING :{SERVER}"]
    # bob answers, alice stays silent
    b.send(f"PONG :{SERVER}")
    h.advance(cfg.ping_timeout - cfg.ping_interval)
    out = a.take()
    assert cmds(out) == ["ERROR"]
    assert "Ping timeout" in out[0].params[0]
    assert a.session not in h.hub.sessions
    quit_ = one(b.take(), "QUIT")
    assert quit_.source == a.session.mask
    assert quit_.params[0].startswith("Ping timeout")
    assert b.session in h.hub.sessions
    assert h.hub.session_by_nick("alice") is None


def test_activity_prevents_ping_timeout() -> None:
    h = Harness()
    a = h.user("alice")
    cfg = h.config.server
    for _ in range(5):
        h.advance(cfg.ping_interval - 1)
        a.send("PING :x")
    assert a.session in h.hub.sessions
    assert "PING" not in cmds(a.take())


# ------------------------------------------------------------------------ per-IP limit


def test_per_ip_limit() -> None:
    h = Harness(server={"max_clients_per_ip": 2})
    a = h.hub.new_session("192.0.2.1")
    b = h.hub.new_session("192.0.2.1")
    assert a is not None and b is not None
    assert h.hub.new_session("192.0.2.1") is None
    assert h.hub.new_session("192.0.2.2") is not None
    h.hub.close_session(a, "gone")
    again = h.hub.new_session("192.0.2.1")
    assert again is not None
    assert h.hub.new_session("192.0.2.1") is None


def test_closed_registered_session_frees_its_nick() -> None:
    h = Harness()
    a = h.user("alice")
    a.quit()
    c = h.connect()
    out = c.send_take("NICK alice", "USER a 0 * :A")
    assert out[0].command == "001"


def test_parse_of_every_output_line_round_trips() -> None:
    h = Harness()
    c = h.connect()
    c.register("alice", "message-tags server-time")
    for raw in c.raw:
        assert parse(raw).format() == raw


# ---------------------------------------------------------------------- the landing


def test_landing_waits_for_the_next_line_and_answers_a_query_first() -> None:
    """The landing (#general, the user's channels, the backlog) comes on the client's line
    after the welcome burst: a query first (pydle's WHOIS of its placeholder nick) is answered
    before it, so that a client handling lines concurrently knows its nick when its JOIN comes
    (Modern IRC, "Connection Registration": the burst ends with the MOTD; what follows is the
    server's). Only once: later lines land nothing."""
    h = Harness()
    c = h.connect()
    burst = c.send_take("NICK alice", "USER alice 0 * :Alice")
    assert cmds(burst)[-1] == "376" and h.messenger.rooms["#general"].members == set()
    out = c.send_take("WHOIS <unregistered>")
    assert cmds(out) == ["401", "318", "JOIN", "353", "366"]
    assert cmds(c.send_take("PING :x")) == ["PONG"]
    assert cmds(c.send_take("WHOIS <unregistered>")) == ["401", "318"]
    h.advance(1)
    assert c.take() == []  # landed: no landing PING


def test_a_silent_client_is_pinged_after_a_short_quiet_and_its_pong_lands_it() -> None:
    """A client that says nothing after the burst (a bot waiting for the server) is sent the
    landing PING once it has been quiet for LANDING_QUIET, on the server's timer rather than
    the once-a-second tick, and its PONG lands it (Modern IRC, PING: the client answers with
    PONG and the same token)."""
    h = Harness()
    wakes: list[float] = []
    h.hub.wake_at = wakes.append
    c = h.connect()
    c.send_take("NICK alice", "USER alice 0 * :Alice")
    assert wakes and wakes[-1] == pytest.approx(h.clock.now() + LANDING_QUIET)
    h.clock.advance(LANDING_QUIET / 2)
    pump_waiting(h.hub)
    assert c.take() == []  # not quiet long enough yet: the timer is armed again
    assert wakes[-1] == pytest.approx(h.clock.now() + LANDING_QUIET / 2)
    h.clock.advance(LANDING_QUIET / 2)
    pump_waiting(h.hub)
    assert c.take_lines() == ["PING welcome"]
    assert cmds(c.send_take("PONG welcome")) == ["JOIN", "353", "366"]
    h.clock.advance(1)
    pump_waiting(h.hub)
    assert c.take() == []  # one landing PING only


def test_a_client_that_spoke_gets_no_landing_ping() -> None:
    """A line before the quiet period is over lands the client: the timer sends nothing."""
    h = Harness()
    c = h.connect()
    c.send_take("NICK alice", "USER alice 0 * :Alice")
    assert cmds(c.send_take("MODE alice")) == ["JOIN", "353", "366", "221"]
    h.clock.advance(LANDING_QUIET)
    pump_waiting(h.hub)
    assert c.take() == []


def test_a_pipelined_command_is_handled_after_the_landing() -> None:
    """A line that is no query (a pipelined PRIVMSG to #general) lands the client first, as if
    the landing had come with the burst."""
    h = Harness()
    a = h.user("alice")
    c = h.connect()
    out = c.send_take("NICK bob", "USER bob 0 * :Bob", "PRIVMSG #general :hi all")
    assert "404" not in cmds(out) and "442" not in cmds(out)
    assert cmds(out)[-3:] == ["JOIN", "353", "366"]
    assert [m.params for m in only(a.take(), "PRIVMSG")] == [("#general", "hi all")]


def test_a_labeled_first_line_keeps_the_landing_out_of_its_response() -> None:
    """IRCv3 labeled-response: the response to a labeled command is only what that command
    caused; the landing that comes with it is sent beside it, unlabeled."""
    h = Harness()
    c = h.connect()
    c.send("CAP REQ :labeled-response batch", "NICK bob", "USER bob 0 * :Bob", "CAP END")
    c.take()
    out = c.send_take("@label=a1 WHOIS <unregistered>")
    labeled = [m for m in out if m.tags and m.tags.get("label") == "a1"]
    assert len(labeled) == 1 and labeled[0].command == "BATCH"
    assert "JOIN" in cmds(out) and not any(m.tags and "batch" in m.tags for m in only(out, "JOIN"))
