"""The direct fan-out (``Outbox.collect(direct=True)`` -> ``RoomLog.deliver``), lines in and
lines out on fake links: when a pass's events are durable at once and nothing is held, a
member with nothing else queued that pass is written its share of the channel's posts straight
to its link; everyone else goes through the pieces as before. Either way each link gets one
write per pass, in the order the lines were queued, nothing before it is durable, the SendQ
holds, and each capability variant of a line is formatted once (``ircd/irc/output.py``).

PRIVMSG to a channel reaches every member but the sender (modern.ircdocs.horse, "PRIVMSG
message": "the message will be delivered to all users in that channel"; the sender only with
https://ircv3.net/specs/extensions/echo-message).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ircd.durable import DONE, Durable
from ircd.irc.fanout import prune_names
from ircd.irc.link import Link
from ircd.irc.output import Outbox
from ircd.wire import Message, parse

from .harness import Client, Harness

SENDQ = 4096


class FakeLink:
    """A transport that records each write (one per pass is the rule)."""

    def __init__(self) -> None:
        self.peer = "10.9.9.9"
        self.secure = False
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.backlog = 0  # what buffered() reports (a slow reader)

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
        return 0

    def take(self) -> list[Message]:
        """Every line written since the last take, parsed."""
        out = [parse(x) for w in self.writes for x in w.decode().split("\r\n") if x]
        self.writes.clear()
        return out


class Rig:
    def __init__(self, **accounts: object) -> None:
        self.h = Harness(
            server={"sendq_bytes": SENDQ, "commands_per_second": 0.0},
            limits={"messages_per_period": 1000},
            accounts=dict(accounts),
        )
        self.outbox = Outbox(self.h.hub, SENDQ)
        self.events: list[list[dict[str, object]]] = []

    def user(
        self, nick: str, caps: str = "", password: str | None = None
    ) -> tuple[Client, FakeLink]:
        c = self.h.connect()
        c.register(nick, caps, password=password)
        link = FakeLink()
        as_link: Link = link
        self.outbox.attach(c.session, as_link)
        return c, link

    def end_pass(self, durable: Durable | None = None) -> Durable:
        """What ``Server._flush`` does once: append the events, hold, release."""
        self.events.append(self.h.messenger.take_events())
        d = durable if durable is not None else DONE
        self.outbox.end_pass(d)
        self.outbox.release()
        return d

    def settle(self, *links: FakeLink) -> None:
        """A pass that drains what registration left, and forget what it wrote."""
        self.end_pass()
        self.end_pass()
        for link in links:
            link.writes.clear()


def texts(msgs: list[Message], command: str = "PRIVMSG") -> list[str]:
    return [m.params[-1] for m in msgs if m.command == command]


def test_members_get_one_write_and_the_same_bytes_per_variant() -> None:
    """Each member is written once per pass; the plain members are given the very same bytes
    (formatted once), the member with message-tags and server-time its own variant
    (https://ircv3.net/specs/extensions/server-time: the ``time`` tag on messages to it)."""
    r = Rig()
    sender, s_link = r.user("sender")
    _a, a_link = r.user("alice")
    _b, b_link = r.user("bob")
    _c, c_link = r.user("carol", caps="message-tags server-time")
    r.settle(s_link, a_link, b_link, c_link)
    sender.send("PRIVMSG #general :one", "PRIVMSG #general :two")
    r.end_pass()
    assert len(a_link.writes) == len(b_link.writes) == len(c_link.writes) == 1
    assert a_link.writes[0] is b_link.writes[0]  # one render for both
    assert texts(a_link.take()) == ["one", "two"]
    assert texts(b_link.take()) == ["one", "two"]
    tagged = c_link.take()
    assert texts(tagged) == ["one", "two"] and all("time" in m.tags for m in tagged)
    assert s_link.writes == []  # no echo-message: the sender is sent nothing


def test_a_member_with_other_output_gets_it_in_order_in_the_same_write() -> None:
    """A member that was sent something else in the pass gets the channel's lines in the
    order they happened, with the rest, in one write: a PONG queued before the post comes
    first, one queued after it comes after (modern.ircdocs.horse, "PING message")."""
    r = Rig()
    sender, s_link = r.user("sender")
    alice, a_link = r.user("alice")
    bob, b_link = r.user("bob")
    carol, c_link = r.user("carol")
    r.settle(s_link, a_link, b_link, c_link)
    alice.send("PING :before")
    carol.send("PING :before")
    sender.send("PRIVMSG #general :post")
    bob.send("PING :after")
    carol.send("PING :after")
    r.end_pass()
    assert len(a_link.writes) == len(b_link.writes) == len(c_link.writes) == 1
    got = [(m.command, m.params[-1]) for m in a_link.take()]
    assert got == [("PONG", "before"), ("PRIVMSG", "post")]
    got = [(m.command, m.params[-1]) for m in b_link.take()]
    assert got == [("PRIVMSG", "post"), ("PONG", "after")]
    got = [(m.command, m.params[-1]) for m in c_link.take()]
    assert got == [("PONG", "before"), ("PRIVMSG", "post"), ("PONG", "after")]


def test_bytes_written_directly_are_counted_as_sent() -> None:
    """``Delivery.sent`` (what the QUIT credit and the repeat marks count from) grows by what
    each link was written, whichever path wrote it: a guest and an account."""
    r = Rig()
    sender, s_link = r.user("sender")
    guest, g_link = r.user("guest")
    acct, ac_link = r.user("acct", password="pw")
    r.settle(s_link, g_link, ac_link)
    assert acct.session.account
    before = {c: c.session.delivery.sent for c in (guest, acct)}
    sender.send("PRIVMSG #general :counted")
    r.end_pass()
    for c, link in ((guest, g_link), (acct, ac_link)):
        assert len(link.writes) == 1
        assert c.session.delivery.sent - before[c] == len(link.writes[0])
    # the account's delivery state notes that the post was written to it (acks.py)
    assert acct.session.delivery.written == r.h.messenger.seq


def test_nothing_is_written_while_an_earlier_pass_is_held() -> None:
    """A later pass whose own append is durable at once still waits behind a held one (its
    lines may show what the held events did), and then both leave in one write, in order."""
    r = Rig()
    sender, s_link = r.user("sender")
    _alice, a_link = r.user("alice")
    r.settle(s_link, a_link)
    sender.send("PRIVMSG #general :first")
    d1 = r.end_pass(Durable())  # a store whose append completes later
    sender.send("PRIVMSG #general :second")
    r.end_pass()  # durable at once, but behind the held pass: no direct write
    assert a_link.writes == []
    assert r.outbox.held.get(_alice.session, 0) > 0  # held bytes count towards the SendQ
    d1.resolve()
    r.outbox.release()
    assert len(a_link.writes) == 1
    assert texts(a_link.take()) == ["first", "second"]
    sender.send("PRIVMSG #general :third")  # nothing held any more: direct again
    r.end_pass()
    assert texts(a_link.take()) == ["third"]


def test_a_failed_append_writes_nothing_of_its_pass() -> None:
    r = Rig()
    sender, s_link = r.user("sender")
    _alice, a_link = r.user("alice")
    r.settle(s_link, a_link)
    sender.send("PRIVMSG #general :lost")
    failed = Durable()
    failed.fail(OSError("disk on fire"))
    r.outbox.end_pass(failed)
    with pytest.raises(OSError, match="disk on fire"):
        r.outbox.release()
    assert a_link.writes == []


def test_a_member_over_its_sendq_on_the_direct_path_is_dropped_after_the_pass() -> None:
    """The member's link reports more than the SendQ after its direct write: it is quit and
    its connection aborted; its QUIT reaches the others with the next pass, and the engine's
    events of it are that pass's, not the one whose append was already durable."""
    r = Rig()
    sender, s_link = r.user("sender")
    alice, a_link = r.user("alice")
    _bob, b_link = r.user("bob")
    r.settle(s_link, a_link, b_link)
    a_link.backlog = SENDQ + 1  # alice does not read
    sender.send("PRIVMSG #general :flood")
    r.end_pass()
    assert texts(a_link.take()) == ["flood"]  # written, then the link is aborted
    assert a_link.aborted and alice.session not in r.h.hub.sessions
    assert texts(b_link.take()) == ["flood"]
    r.end_pass()
    quits = [m for m in b_link.take() if m.command == "QUIT"]
    assert [m.params[-1] for m in quits] == ["SendQ exceeded"]
    assert (quits[0].source or "").startswith("alice!")


def test_a_share_bigger_than_the_sendq_is_not_written_directly() -> None:
    """A member whose share of one pass alone is over the SendQ is not written it: it is
    closed with an ERROR (modern.ircdocs.horse, "ERROR message") like any other over-full
    queue."""
    r = Rig()
    sender, s_link = r.user("sender")
    alice, a_link = r.user("alice")
    r.settle(s_link, a_link)
    text = "x" * 400
    for _ in range(SENDQ // 400 + 2):
        sender.send(f"PRIVMSG #general :{text}")
    r.end_pass()
    assert alice.session.closing == "SendQ exceeded"
    assert alice.session not in r.h.hub.sessions
    assert a_link.aborted


def test_members_closing_in_the_pass_get_nothing_after_their_error() -> None:
    """A member whose QUIT came before the post is not sent it; one whose QUIT came after it
    gets it before its ERROR; each gets the pass in one write, the others see everything in
    the order it happened (modern.ircdocs.horse, "QUIT message": the
    server answers with ERROR and closes)."""
    r = Rig()
    sender, s_link = r.user("sender")
    early, e_link = r.user("early")
    late, l_link = r.user("late")
    _stay, st_link = r.user("stay")
    r.settle(s_link, e_link, l_link, st_link)
    early.send("QUIT :bye")
    sender.send("PRIVMSG #general :news")
    late.send("QUIT :bye")
    r.end_pass()
    assert len(e_link.writes) == 1 and e_link.closed
    assert [m.command for m in e_link.take()] == ["ERROR"]
    assert len(l_link.writes) == 1 and l_link.closed
    got = [(m.command, (m.source or "").split("!")[0]) for m in l_link.take()]
    assert got == [("QUIT", "early"), ("PRIVMSG", "sender"), ("ERROR", "")]
    assert len(st_link.writes) == 1
    got = [(m.command, (m.source or "").split("!")[0]) for m in st_link.take()]
    assert got == [("QUIT", "early"), ("PRIVMSG", "sender"), ("QUIT", "late")]


def test_labeled_echo_goes_to_the_sender_and_plain_lines_to_the_members() -> None:
    """The sender's labeled PRIVMSG: its echo carries the label
    (https://ircv3.net/specs/extensions/labeled-response, echo-message); the members' copy
    carries none."""
    r = Rig()
    sender, s_link = r.user("sender", caps="labeled-response echo-message message-tags batch")
    _alice, a_link = r.user("alice", caps="message-tags")
    r.settle(s_link, a_link)
    sender.send("@label=L1 PRIVMSG #general :hello")
    r.end_pass()
    echo = s_link.take()
    assert [(m.command, m.tags.get("label")) for m in echo] == [("PRIVMSG", "L1")]
    got = a_link.take()
    assert texts(got) == ["hello"] and "label" not in got[0].tags


def test_every_device_of_a_member_gets_the_post_and_the_cached_list_follows_changes() -> None:
    """Each device of an account gets the channel's posts; the room's cached list of devices
    (``fanout.Audience``) follows a device connecting and leaving, and a member joining and
    parting (modern.ircdocs.horse, "JOIN message", "PART message")."""
    r = Rig(max_devices=3)
    sender, s_link = r.user("sender")
    _d1, d1_link = r.user("alice", password="pw")
    r.settle(s_link, d1_link)
    for i in range(3):  # the list is made and used
        sender.send(f"PRIVMSG #general :p{i}")
        r.end_pass()
    assert texts(d1_link.take()) == ["p0", "p1", "p2"]
    d2, d2_link = r.user("alice", password="pw")  # a second device
    r.settle(s_link, d1_link, d2_link)
    sender.send("PRIVMSG #general :both")
    r.end_pass()
    assert texts(d1_link.take()) == ["both"] and texts(d2_link.take()) == ["both"]
    d2.send("QUIT :later")
    r.settle(s_link, d1_link, d2_link)
    sender.send("PRIVMSG #general :one")
    r.end_pass()
    assert texts(d1_link.take()) == ["one"] and d2_link.writes == []
    carol, c_link = r.user("carol")
    sender.send("JOIN #side")
    r.settle(s_link, d1_link, c_link)
    for i in range(2):
        sender.send(f"PRIVMSG #side :s{i}")
        r.end_pass()
    assert c_link.writes == []
    carol.send("JOIN #side")
    r.settle(c_link, s_link)
    sender.send("PRIVMSG #side :joined")
    r.end_pass()
    assert texts(c_link.take()) == ["joined"]
    carol.send("PART #side")
    r.settle(c_link, s_link)
    sender.send("PRIVMSG #side :parted")
    r.end_pass()
    assert c_link.writes == []
    prune_names(r.h.hub)  # the tick forgets what is stale: nothing keeps closed sessions
    assert all(d2.session not in (a.sessions or []) for a in r.h.hub.audiences.values())


_MAP_MUTATORS = {"setdefault", "pop", "popitem", "clear", "update"}
_LIST_MUTATORS = {"append", "remove", "insert", "pop", "clear", "extend"}


def _devices_changers(path: Path) -> dict[str, bool]:
    """Functions in ``path`` that change ``<hub>.devices`` (the map, or a list taken from it)
    -> whether they also count the change (``devices_version += 1``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, bool] = {}

    def is_devices(e: ast.expr) -> bool:
        return isinstance(e, ast.Attribute) and e.attr == "devices"

    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        lists: set[str] = set()  # local names bound to a list of the map
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
                f = n.value.func
                if isinstance(f, ast.Attribute) and is_devices(f.value):
                    lists.update(t.id for t in n.targets if isinstance(t, ast.Name))
        changes = counts = False
        for n in ast.walk(fn):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
                on = n.func.value
                if is_devices(on) and n.func.attr in _MAP_MUTATORS:
                    changes = True
                if isinstance(on, ast.Name) and on.id in lists and n.func.attr in _LIST_MUTATORS:
                    changes = True
            elif isinstance(n, ast.Subscript) and is_devices(n.value):
                changes |= isinstance(n.ctx, ast.Store | ast.Del)
            elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Attribute):
                counts |= n.target.attr == "devices_version"
        if changes:
            found[f"{path.name}:{fn.name}"] = counts
    return found


def test_every_change_of_the_devices_map_is_counted() -> None:
    """The rooms' cached device lists (``fanout.Audience``) are right because every change of
    ``Hub.devices`` bumps ``Hub.devices_version``: each function that changes the map (or a
    list in it) counts it."""
    ircd = Path(__file__).resolve().parents[2] / "ircd"
    found: dict[str, bool] = {}
    for path in sorted(ircd.rglob("*.py")):
        found.update(_devices_changers(path))
    assert {"hub.py:add_device", "hub.py:_detach", "hub.py:rekey"} <= set(found)
    assert {"foreign.py:_add_device", "foreign.py:_drop_device"} <= set(found)
    assert [name for name, counted in found.items() if not counted] == []
