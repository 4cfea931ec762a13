"""The transport seam and the durable-output rule, on the adapter alone (issue 10, items 1-2):
a fake ``Link`` per connection, the hub's ``Outbox`` and ``Durable`` completions the test
settles itself. A pass's output reaches a link in one write, only once its events are durable,
and passes leave in order (``ircd/irc/output.py``). No sockets, no event loop."""

from __future__ import annotations

import pytest

from ircd.durable import DONE, Durable
from ircd.irc.link import Link
from ircd.irc.output import Outbox
from ircd.irc.session import Session
from ircd.wire import parse

from .harness import Client, Harness

SENDQ = 4096


class FakeLink:
    """A transport that records what it is given (a WebSocket one would frame it instead)."""

    def __init__(self, peer: str = "10.9.9.9", secure: bool = False) -> None:
        self.peer = peer
        self.secure = secure
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.backlog = 0  # what buffered() reports on top of nothing (a slow reader)
        self.in_flight: int | None = 0  # what unacked() reports

    def send(self, data: bytes) -> int:
        if not (self.closed or self.aborted):
            self.writes.append(data)
        return self.backlog

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def buffered(self) -> int:
        return self.backlog

    def unacked(self) -> int | None:
        return self.in_flight

    def lines(self) -> list[str]:
        return [x for w in self.writes for x in w.decode().split("\r\n") if x]


class Rig:
    """A harness whose clients have links, and the server's end of pass done by hand."""

    def __init__(self) -> None:
        self.h = Harness(server={"sendq_bytes": SENDQ}, limits={"messages_per_period": 1000})
        self.outbox = Outbox(self.h.hub, SENDQ)
        self.events: list[list[dict[str, object]]] = []  # what each pass handed to the "store"

    def user(self, nick: str) -> tuple[Client, FakeLink]:
        c = self.h.user(nick)  # registered, its burst drained
        link = FakeLink()
        as_link: Link = link  # a FakeLink is a Link (mypy checks the protocol)
        self.outbox.attach(c.session, as_link)
        return c, link

    def end_pass(self, durable: Durable | None = None) -> Durable:
        """What ``Server._flush`` does once: append the events, hold, release."""
        out = self.outbox
        events = self.h.messenger.take_events()
        self.events.append(events)
        d = durable if durable is not None else DONE
        out.end_pass(d)
        out.release()
        return d


def privmsgs(link: FakeLink) -> list[str]:
    return [m.params[1] for m in map(parse, link.lines()) if m.command == "PRIVMSG"]


def test_a_pass_reaches_each_link_in_one_write_in_order() -> None:
    r = Rig()
    _alice, a_link = r.user("alice")
    bob, b_link = r.user("bob")
    r.end_pass()
    a_link.writes.clear()
    b_link.writes.clear()
    bob.send("PRIVMSG #general :one", "PRIVMSG #general :two", "PRIVMSG alice :three")
    r.end_pass()
    assert len(a_link.writes) == 1
    assert privmsgs(a_link) == ["one", "two", "three"]
    assert b_link.writes == []  # no echo-message: bob is sent nothing
    assert r.events[-1], "the posts were handed to the store"


def test_nothing_leaves_before_its_pass_is_durable_and_later_passes_wait() -> None:
    r = Rig()
    alice, a_link = r.user("alice")
    bob, b_link = r.user("bob")
    r.end_pass()
    a_link.writes.clear()
    bob.send("PRIVMSG #general :first")
    d1 = r.end_pass(Durable())
    # a pass with no events of its own (a PONG) waits behind the held one: its replies
    # could show what the held events did
    alice.send("PING :probe")
    assert r.end_pass() is DONE and r.events[-1] == []
    bob.send("PRIVMSG #general :second")
    d3 = r.end_pass(Durable())
    assert a_link.writes == [] and b_link.writes == []
    assert r.outbox.pending
    d3.resolve()  # a later append settling first releases nothing
    r.outbox.release()
    assert a_link.writes == []
    d1.resolve()
    r.outbox.release()
    assert not r.outbox.pending
    assert len(a_link.writes) == 1  # passes released together: one write
    got = [(m.command, m.params[-1]) for m in map(parse, a_link.lines())]
    assert got == [("PRIVMSG", "first"), ("PONG", "probe"), ("PRIVMSG", "second")]


def test_a_failed_append_releases_nothing_of_its_pass_or_later_ones() -> None:
    r = Rig()
    alice, a_link = r.user("alice")
    bob, _ = r.user("bob")
    r.end_pass()
    a_link.writes.clear()
    bob.send("PRIVMSG #general :lost")
    d = r.end_pass(Durable())
    alice.send("PING :after")
    r.end_pass()
    d.fail(OSError("disk on fire"))
    with pytest.raises(OSError, match="disk on fire"):
        r.outbox.release()
    assert a_link.writes == []
    assert not r.outbox.pending and r.outbox.held == {}
    assert r.outbox.unacked(alice.session) == 0


def test_held_bytes_count_as_unacknowledged() -> None:
    r = Rig()
    alice, a_link = r.user("alice")
    bob, _ = r.user("bob")
    r.end_pass()
    bob.send("PRIVMSG #general :pending")
    d = r.end_pass(Durable())
    held = r.outbox.held[alice.session]
    assert held > 0
    a_link.in_flight = 7
    assert alice.session.peer_unacked is not None
    assert alice.session.peer_unacked() == held + 7
    a_link.in_flight = None  # the transport cannot tell: nobody can
    assert alice.session.peer_unacked() is None
    a_link.in_flight = 0
    d.resolve()
    r.outbox.release()
    assert alice.session.peer_unacked() == 0


def test_quit_sends_error_then_closes_gracefully() -> None:
    r = Rig()
    alice, a_link = r.user("alice")
    _bob, b_link = r.user("bob")
    r.end_pass()
    alice.send("QUIT :bye")
    r.end_pass()
    assert parse(a_link.lines()[-1]).command == "ERROR"
    assert a_link.closed and not a_link.aborted
    assert any(parse(x).command == "QUIT" for x in b_link.lines())


def test_a_link_over_its_sendq_is_aborted_and_its_peers_told() -> None:
    r = Rig()
    alice, a_link = r.user("alice")
    bob, b_link = r.user("bob")
    r.end_pass()
    a_link.backlog = SENDQ + 1  # alice does not read
    bob.send("PRIVMSG #general :flood")
    r.end_pass()
    assert a_link.aborted
    assert alice.session not in r.h.hub.sessions
    r.end_pass()  # the QUIT to bob goes out with the next pass
    quits = [m for m in map(parse, b_link.lines()) if m.command == "QUIT"]
    assert quits and quits[0].params[-1] == "SendQ exceeded"


def test_output_held_for_a_stalled_store_counts_towards_the_sendq() -> None:
    r = Rig()
    alice, a_link = r.user("alice")
    bob, _ = r.user("bob")
    r.end_pass()
    a_link.writes.clear()
    stalled = Durable()
    text = "x" * 300
    for _ in range(SENDQ // 300 + 2):
        bob.send(f"PRIVMSG #general :{text}")
        r.end_pass(stalled if not r.outbox.pending else Durable())
        bob.session.tokens = -1.0  # (no flood control in this test)
    assert alice.session.closing == "SendQ exceeded"
    r.end_pass()  # she is quit; her connection is aborted once her output may leave
    assert alice.session not in r.h.hub.sessions
    assert not a_link.aborted and a_link.writes == []  # nothing leaves before the store settles


def test_sessions_without_a_link_are_skipped() -> None:
    r = Rig()
    _alice, a_link = r.user("alice")
    carol = r.h.user("carol")  # no link (an adapter-only session): nothing is sent for it
    r.end_pass()
    carol.send("PRIVMSG #general :hi")
    r.end_pass()
    assert privmsgs(a_link) == ["hi"]
    assert isinstance(carol.session, Session) and carol.session.link is None
