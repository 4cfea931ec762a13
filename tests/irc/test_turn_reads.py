"""Which lines a node of several answers without the network's write turn (``needs_turn``,
docs/scale-out.md): reads that append no event, and nothing that decides on the state."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ircd.irc.dispatch import ANSWERED_WITHOUT_TURN, needs_turn
from ircd.wire import ParseError, parse
from tests.irc.harness import Harness

READS = [
    "PING :x",
    "PONG :irc.messenger.local",
    "NAMES #general",
    "WHO #general",
    "WHOIS bob",
    "WHOWAS nobody",
    "LIST",
    "MOTD",
    "LUSERS",
    "VERSION",
    "TIME",
    "ISON bob",
    "USERHOST bob",
    "HELP",
    "INFO",
    "ADMIN",
    "CHATHISTORY LATEST #general * 10",
    "CHATHISTORY LATEST bob * 10",
    "CHATHISTORY TARGETS * * 10",
    "MONITOR + bob,carol",
    "MONITOR L",
    "MONITOR S",
    "MODE #general",
    "MODE alice",
    "@label=1 :alice MODE #general",
    "CAP LS 302",
    "CAP LIST",
]

WRITES = [
    "PONG :ack-1",
    "PONG irc.messenger.local :ack-7",
    "PRIVMSG #general :hi",
    "PRIVMSG bob :hi",
    "NOTICE bob :hi",
    "JOIN #new",
    "PART #general",
    "NICK alice2",
    "TOPIC #general :new",
    "MODE #general +m",
    "MODE #general b",
    "MODE alice +i",
    "@label=1 :alice MODE #general +m",
    "CAP END",
    "CAP REQ :sasl",
    "REGISTER * * hunter22",
    "MARKREAD #general",
    "QUIT :bye",
    "AWAY :gone",
    "",
    "@tag=1",
]


def test_reads_append_no_event_and_need_no_turn() -> None:
    """Modern IRC (https://modern.ircdocs.horse/#client-messages): every read a node answers
    without the turn appends no event, run on a state with history, private messages and
    channel members."""
    h = Harness()
    alice = h.user("alice", "draft/chathistory message-tags batch server-time")
    bob = h.user("bob")
    alice.send("PRIVMSG #general :one", "PRIVMSG bob :two")
    bob.send("PRIVMSG alice :three")
    h.drain(alice, bob)
    h.messenger.take_events()
    for line in READS:
        assert not needs_turn(alice.session, line), line
        h.clock.advance(2.0)  # each line within the command budget
        alice.send(line)
        assert alice.take() or line.startswith("PONG"), f"{line}: no reply"
        assert not h.messenger.has_events, f"{line} appended {h.messenger.take_events()}"


def test_writes_and_landing_need_the_turn() -> None:
    """Modern IRC (https://modern.ircdocs.horse/#connection-registration): a line that may
    change the state waits for the turn, and so does any line of a client whose next line
    lands its registration (it joins #general)."""
    h = Harness()
    alice = h.user("alice")
    for line in WRITES:
        assert needs_turn(alice.session, line), line
    c = h.connect()
    c.send("NICK carol", "USER carol 0 * :Carol")
    assert c.session.landing_due
    assert needs_turn(c.session, "PING :x")


@given(st.text(alphabet="@:=;# abcMODEPINGCAPLS+-\tk", max_size=40))
def test_no_turn_only_for_a_read_command(line: str) -> None:
    """Modern IRC, message format (https://modern.ircdocs.horse/#message-format): the quick
    split never lets a line skip the turn that the real parser reads as anything but a read
    (any command of ``ANSWERED_WITHOUT_TURN``, a MODE with its target alone, CAP LS/LIST)."""
    h = Harness()
    s = h.user("alice").session
    if needs_turn(s, line):
        return
    try:
        msg = parse(line)
    except ParseError:
        return  # ignored by feed: nothing decided
    if msg.command == "MODE":
        assert len(msg.params) == 1, line
    elif msg.command == "PONG":
        assert not any("ack-" in p for p in msg.params), line
    elif msg.command == "CAP":
        assert msg.params and msg.params[0].upper() in ("LS", "LIST"), line
    else:
        assert msg.command in ANSWERED_WITHOUT_TURN, line
