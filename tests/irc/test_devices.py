"""Issue 13, section 4, "several devices per account", at the adapter tier (lines in, lines
out, a fake clock).

An account may be connected from several devices at once (``accounts.max_devices``). They are
one user: one nick and mask (WHOIS, NAMES, WHO list it once; JOIN, PART, QUIT and NICK are seen
once by others), every device gets the live messages, what one device sent reaches the others
as the user's own message (as bouncers do with znc.in/self-message,
https://ircv3.net/specs/extensions/echo-message "Use cases", and as irctest's
``server_tests/bouncer.py`` expects: also on a device that negotiated neither capability), a
read marker set on one reaches the others (https://ircv3.net/specs/extensions/read-marker,
"Command flows"), and "unread" is what no device of the account confirmed: directed cases, and
a property test over random sequences of posts, connects, reads, PONGs, QUITs, drops and UNREAD
(``FUZZ_EXAMPLES=3000`` for a long hunt).
"""

from __future__ import annotations

import os
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ircd.irc.acks import ACK_QUIET
from ircd.wire import Message, parse

from .harness import Client, Harness, cmds, make_config, one, only
from .operators import oper_up, with_operator

ECHO = "echo-message message-tags server-time"
RM = "draft/read-marker server-time message-tags"
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] ")


def harness(**accounts: object) -> Harness:
    return Harness(
        limits={"messages_per_period": 1000},
        server={"commands_per_second": 0.0},
        accounts=dict(accounts),
    )


def device(h: Harness, caps: str = "", nick: str = "alice") -> tuple[Client, list[Message]]:
    c = h.connect()
    return c, c.register(nick, caps, password="pw")


def acks_in(msgs: list[Message]) -> list[str]:
    return [m.params[-1] for m in msgs if m.command == "PING" and m.params[-1].startswith("ack-")]


def answer(c: Client, msgs: list[Message]) -> None:
    for token in acks_in(msgs):
        c.send(f"PONG :{token}")


def privmsgs(msgs: list[Message]) -> list[tuple[str, str, str]]:
    """(source nick, target, text) of each PRIVMSG."""
    return [
        ((m.source or "").split("!")[0], m.params[0], m.params[1])
        for m in msgs
        if m.command == "PRIVMSG"
    ]


def texts(msgs: list[Message]) -> list[str]:
    """The text of each PRIVMSG, without the date prefix of a replayed line."""
    return [STAMP.sub("", m.params[1]) for m in msgs if m.command == "PRIVMSG"]


# ---------------------------------------------------------------------- one user, one identity


def test_a_second_device_is_the_same_user_and_nobody_sees_it_arrive() -> None:
    h = harness()
    bob = h.user("bob")
    a, _ = device(h)
    bob.take()
    b, burst = device(h, "userhost-in-names")
    assert one(burst, "001").params[0] == "alice"
    assert a.session.registered and b.session.registered  # the first is not taken over
    # the second device is shown #general (JOIN, names) without anyone else seeing a JOIN
    assert [m.params[0] for m in only(burst, "JOIN")] == ["#general"]
    names = " ".join(m.params[-1] for m in only(burst, "353")).split()
    assert [n.split("!")[0] for n in names].count("alice") == 1
    assert b.session.mask == a.session.mask  # one mask, whichever device a line comes from
    assert only(bob.take(), "JOIN") == [] and a.take() == []
    # WHOIS shows one user; NAMES, WHO and LUSERS count her once
    whois = bob.send_take("WHOIS alice")
    assert len(only(whois, "311")) == 1
    assert only(whois, "320") == []  # how many devices is hers to know
    mine = b.send_take("WHOIS alice")
    assert one(mine, "320").params[-1] == "is connected from 2 devices"
    names = bob.send_take("NAMES #general")
    assert " ".join(m.params[-1] for m in only(names, "353")).split().count("alice") == 1
    who = bob.send_take("WHO #general")
    assert [m.params[5] for m in only(who, "352")].count("alice") == 1
    lusers = bob.send_take("LUSERS")
    assert one(lusers, "251").params[-1].startswith("There are 2 users")
    assert one(lusers, "253").params[1] == "0"  # her second device is not "unknown"
    listed = bob.send_take("LIST #general")
    assert one(listed, "322").params[2] == "2"


def test_a_device_logging_in_while_the_account_uses_another_nick_gets_that_nick() -> None:
    h = harness()
    a, _ = device(h)
    a.send_take("NICK alice_away")
    b, burst = device(h)  # asks for "alice", the account's name
    assert one(burst, "NICK").params == ("alice_away",)  # told before the welcome
    assert one(burst, "001").params[0] == "alice_away"
    assert b.session.nick == "alice_away" and h.hub.session_by_nick("alice_away") is a.session


def test_guests_stay_one_connection_per_nick() -> None:
    h = harness()
    h.user("gus")
    c = h.connect()
    c.send("NICK gus", "USER gus 0 * :Gus")
    assert cmds(c.take()) == ["433"] and not c.session.registered


# ---------------------------------------------------------------------- the limit


def test_a_login_beyond_max_devices_is_refused_and_the_others_go_on() -> None:
    h = harness(max_devices=2)
    bob = h.user("bob")
    a, _ = device(h)
    b, _ = device(h)
    bob.take()
    c = h.connect()
    c.send("PASS pw", "NICK alice", "USER alice 0 * :A")
    out = c.take()
    assert "001" not in cmds(out)
    assert any(
        "connected from 2 devices already" in m.params[-1] for m in out if m.command == "NOTICE"
    )
    err = one(out, "ERROR")
    assert "connected from 2 devices already" in err.params[0]
    assert c.session not in h.hub.sessions
    # nobody noticed: the two devices are still there, and nobody saw a QUIT
    assert a.session.registered and b.session.registered
    assert "QUIT" not in cmds(bob.take())
    bob.send("PRIVMSG #general :still here?")
    assert texts(a.take()) == texts(b.take()) == ["still here?"]
    # once one leaves, there is room again
    b.quit()
    _, burst = device(h)
    assert "001" in cmds(burst)


def test_max_devices_is_a_setting() -> None:
    cfg = make_config()
    assert cfg.accounts.max_devices == 5


# ---------------------------------------------------------------------- live messages and echo


def test_every_device_gets_live_messages_and_what_the_others_sent_as_its_own() -> None:
    h = harness()
    bob = h.user("bob")
    a, _ = device(h, ECHO)  # echo-message
    b, _ = device(h)  # no capability at all
    h.drain(a, b, bob)
    bob.send("PRIVMSG #general :hi all")
    assert texts(a.take()) == texts(b.take()) == ["hi all"]
    # a channel message from one device: its echo there, a copy on the other, one to bob
    a.send("PRIVMSG #general :from the phone")
    assert privmsgs(a.take()) == [("alice", "#general", "from the phone")]  # the echo
    assert privmsgs(b.take()) == [("alice", "#general", "from the phone")]  # as her own
    assert privmsgs(bob.take()) == [("alice", "#general", "from the phone")]
    # the device without echo-message gets no echo of its own, but the other one a copy
    b.send("PRIVMSG #general :from irssi")
    assert privmsgs(b.take()) == []
    assert privmsgs(a.take()) == [("alice", "#general", "from irssi")]
    assert privmsgs(bob.take()) == [("alice", "#general", "from irssi")]


def test_private_messages_reach_every_device_and_are_copied_to_the_senders_others() -> None:
    """znc.in/self-message: a client "can receive messages that it itself sent"; the copy is
    ``:alice PRIVMSG bob :text``, the same msgid as bob's (irctest bouncer.py)."""
    h = harness()
    bob = h.user("bob", "message-tags")
    a, _ = device(h, ECHO)
    b, _ = device(h, "znc.in/self-message message-tags")
    c, _ = device(h)  # neither: it still shows the whole conversation
    h.drain(a, b, c, bob)
    bob.send("PRIVMSG alice :psst")
    for d in (a, b, c):
        assert privmsgs(d.take()) == [("bob", "alice", "psst")]
    b.send("PRIVMSG bob :hello from the laptop")
    to_bob = bob.take()
    assert privmsgs(to_bob) == [("alice", "bob", "hello from the laptop")]
    copies = a.take()
    assert privmsgs(copies) == [("alice", "bob", "hello from the laptop")]
    assert privmsgs(c.take()) == [("alice", "bob", "hello from the laptop")]
    assert privmsgs(b.take()) == []  # no echo-message: the sending device gets nothing back
    assert copies[0].tags["msgid"] == one(to_bob, "PRIVMSG").tags["msgid"]
    # a message to oneself reaches each device once, and the echo-message one its echo too
    # (echo-message: the echo is sent in addition to the normal delivery)
    a.send("PRIVMSG alice :note to self")
    assert privmsgs(a.take()) == [("alice", "alice", "note to self")] * 2
    for d in (b, c):
        assert privmsgs(d.take()) == [("alice", "alice", "note to self")]


def test_tagmsg_reaches_every_device() -> None:
    h = harness()
    bob = h.user("bob", "message-tags")
    a, _ = device(h, "message-tags echo-message")
    b, _ = device(h, "message-tags")
    h.drain(a, b, bob)
    bob.send("@+typing=active TAGMSG alice")
    assert cmds(a.take()) == cmds(b.take()) == ["TAGMSG"]
    a.send("@+typing=active TAGMSG bob")
    assert cmds(bob.take()) == ["TAGMSG"]
    assert cmds(a.take()) == ["TAGMSG"] and cmds(b.take()) == ["TAGMSG"]  # echo and copy


# ---------------------------------------------------------------------- read markers


def test_a_read_marker_set_on_one_device_reaches_the_others_that_asked_for_it() -> None:
    """read-marker, "Command flows": after the last read timestamp of a target changes, the
    server SHOULD send a MARKREAD for it to all the clients of the user."""
    h = harness()
    bob = h.user("bob")
    a, _ = device(h, RM)
    b, _ = device(h, RM)
    c, _ = device(h)  # did not negotiate draft/read-marker
    h.drain(a, b, c, bob)
    bob.send("PRIVMSG #general :read me")
    ts = one(a.take(), "PRIVMSG").tags["time"]
    h.drain(b, c)
    a.send(f"MARKREAD #general timestamp={ts}")
    assert one(a.take(), "MARKREAD").params == ("#general", f"timestamp={ts}")
    assert one(b.take(), "MARKREAD").params == ("#general", f"timestamp={ts}")
    assert c.take() == []
    # an older timestamp changes nothing: only the asking client is answered (stored value)
    b.send("MARKREAD #general timestamp=2000-01-01T00:00:00.000Z")
    assert one(b.take(), "MARKREAD").params == ("#general", f"timestamp={ts}")
    assert a.take() == []
    # private targets too, and a device that comes later is given the channel's on JOIN
    a.send(f"MARKREAD bob timestamp={ts}")
    a.take()
    assert one(b.take(), "MARKREAD").params == ("bob", f"timestamp={ts}")
    _, burst = device(h, RM)
    assert one(burst, "MARKREAD").params == ("#general", f"timestamp={ts}")


# ---------------------------------------------------------------------- JOIN, PART, QUIT, NICK


def test_join_and_part_apply_to_the_account_and_others_see_them_once() -> None:
    h = harness()
    bob = h.user("bob")
    bob.send_take("JOIN #room", "TOPIC #room :the room")
    a, _ = device(h)
    b, _ = device(h)
    h.drain(a, b, bob)
    a.send("JOIN #room")
    got_a, got_b = a.take(), b.take()
    for got in (got_a, got_b):  # each device shows the channel: JOIN, topic, names
        assert one(got, "JOIN").params[0] == "#room"
        assert one(got, "332").params[-1] == "the room"
        assert "366" in cmds(got)
    assert len(only(bob.take(), "JOIN")) == 1
    # a device that comes now is shown both channels, and nobody sees a JOIN
    c, burst = device(h)
    assert sorted(m.params[0] for m in only(burst, "JOIN")) == ["#general", "#room"]
    assert bob.take() == [] and a.take() == []
    b.send("PART #room :bye")
    for d in (a, b, c):
        assert one(d.take(), "PART").params == ("#room", "bye")
    assert len(only(bob.take(), "PART")) == 1
    # a KICK (bob is the channel's operator) puts the account out on every device
    c.send("JOIN #room")
    h.drain(a, b, c, bob)
    bob.send("KICK #room alice :out")
    for d in (a, b, c):
        assert one(d.take(), "KICK").params == ("#room", "alice", "out")
    assert len(only(bob.take(), "KICK")) == 1
    assert "alice" not in h.messenger.rooms["#room"].members


def test_the_user_quits_only_when_its_last_device_leaves() -> None:
    h = harness()
    bob = h.user("bob")
    a, _ = device(h)
    b, _ = device(h)
    h.drain(bob)
    a.quit("phone off")
    assert bob.take() == []  # she is still here
    assert h.hub.session_by_nick("alice") is b.session
    whois = bob.send_take("WHOIS alice")
    assert one(whois, "311").params[1] == "alice"
    bob.send("PRIVMSG #general :you there?")
    assert texts(b.take()) == ["you there?"]
    h.hub.close_session(b.session, "Connection reset")  # dropped, no QUIT
    q = one(bob.take(), "QUIT")
    assert (q.source or "").startswith("alice!")
    assert h.hub.session_by_nick("alice") is None and "alice" not in h.messenger.online


def test_a_nick_change_applies_to_every_device_and_others_see_it_once() -> None:
    h = harness()
    bob = h.user("bob")
    a, _ = device(h)
    b, _ = device(h)
    h.drain(bob)
    a.send("NICK alice_")
    for d in (a, b):
        nick = one(d.take(), "NICK")
        assert nick.params == ("alice_",) and (nick.source or "").startswith("alice!")
    assert len(only(bob.take(), "NICK")) == 1
    assert b.session.nick == "alice_" and h.hub.session_by_nick("alice_") is not None
    b.send("PRIVMSG #general :renamed")
    assert privmsgs(bob.take()) == [("alice_", "#general", "renamed")]
    names = bob.send_take("NAMES #general")
    listed = " ".join(m.params[-1] for m in only(names, "353")).split()
    assert "alice_" in listed and "alice" not in listed


def test_a_case_change_of_the_nick_works_from_any_device() -> None:
    h = harness()
    a, _ = device(h)
    b, _ = device(h)
    got = b.send_take("NICK Alice")
    assert one(got, "NICK").params == ("Alice",)
    assert one(a.take(), "NICK").params == ("Alice",)
    assert a.session.nick == b.session.nick == "Alice"


def test_away_is_the_users() -> None:
    h = harness()
    bob = h.user("bob")
    a, _ = device(h)
    b, _ = device(h)
    b.send_take("AWAY :at lunch")
    assert a.session.away == "at lunch"
    bob.send("PRIVMSG alice :hi")
    assert one(bob.take(), "301").params[-1] == "at lunch"


def test_setname_and_chghost_change_the_user_on_every_device() -> None:
    """setname and chghost (ircv3.net): the user's other devices that negotiated the
    capability get the line too, and every device takes the new name and host."""
    h = Harness(with_operator())
    op = h.user("op")
    oper_up(op)
    a, _ = device(h, "setname chghost")
    b, _ = device(h)
    h.drain(op, a, b)
    b.send("SETNAME :Alice Liddell")
    assert one(a.take(), "SETNAME").params == ("Alice Liddell",)
    assert a.session.realname == b.session.realname == "Alice Liddell"
    op.send("CHGHOST alice wonder.land")
    assert one(a.take(), "CHGHOST").params[1] == "wonder.land"
    assert one(b.take(), "396").params[1] == "wonder.land"
    assert a.session.mask == b.session.mask == "alice!~alice@wonder.land"


def test_kill_puts_out_every_device_and_others_see_one_quit() -> None:
    h = Harness(with_operator())
    op = h.user("op")
    oper_up(op)
    a, _ = device(h)
    b, _ = device(h)
    h.drain(op, a, b)
    op.send("KILL alice :enough")
    for d in (a, b):
        assert "KILL" in cmds(d.take()) and not d.session.registered
    assert len(only(op.take(), "QUIT")) == 1
    assert h.hub.session_by_nick("alice") is None


def test_a_statusmsg_to_the_ops_reaches_every_device_of_an_op() -> None:
    h = harness()
    bob = h.user("bob")
    bob.send_take("JOIN #room")  # bob creates it: an operator
    a, _ = device(h)
    b, _ = device(h)
    a.send("JOIN #room")
    bob.send("MODE #room +o alice")
    h.drain(a, b, bob)
    bob.send("PRIVMSG @#room :ops only")
    assert texts(a.take()) == texts(b.take()) == ["ops only"]
    a.send("PRIVMSG @#room :from an op")
    assert texts(b.take()) == ["from an op"]  # her other device: a copy


# ---------------------------------------------------------------------- unread: no device got it


def test_what_one_device_confirmed_is_not_unread_next_time() -> None:
    h = harness()
    bob = h.user("bob")
    a, burst = device(h)
    answer(a, burst)
    b, burst = device(h)
    answer(b, burst)
    h.advance(ACK_QUIET)
    h.drain(a, b)
    bob.send("PRIVMSG #general :seen on the phone", "PRIVMSG alice :private too")
    answer(a, a.take())  # the phone confirms
    b.take()  # the laptop got them too but never confirms
    h.hub.close_session(b.session, "Connection reset")
    h.hub.close_session(a.session, "Connection reset")
    _, burst = device(h)
    assert texts(burst) == []
    assert any(
        m.params[-1] == "No unread messages since your last visit."
        for m in burst
        if m.command == "NOTICE"
    )


def test_what_no_device_confirmed_comes_back_once() -> None:
    h = harness()
    bob = h.user("bob")
    a, burst = device(h)
    answer(a, burst)
    b, burst = device(h)
    answer(b, burst)
    h.drain(a, b)
    bob.send("PRIVMSG #general :nobody confirmed this")
    a.take()
    b.take()
    h.hub.close_session(a.session, "Connection reset")
    h.hub.close_session(b.session, "Connection reset")
    _, burst = device(h)
    assert texts(burst) == ["[repeat?] nobody confirmed this"]  # once, not once per device


def test_a_device_that_lands_while_another_is_online_gets_the_unconfirmed_unread() -> None:
    """Nothing is lost: what the first device was written but has not confirmed yet is
    replayed to the newcomer (marked [repeat?]: it may have been shown on the other)."""
    h = harness()
    bob = h.user("bob")
    a, burst = device(h)
    answer(a, burst)
    h.drain(a)
    bob.send("PRIVMSG #general :not confirmed yet")
    a.take()
    b, burst = device(h)
    assert texts(burst) == ["[repeat?] not confirmed yet"]
    answer(b, burst)
    # confirmed by the newcomer: not unread any more, whatever the first device does
    h.hub.close_session(a.session, "Connection reset")
    h.hub.close_session(b.session, "Connection reset")
    _, burst = device(h)
    assert texts(burst) == []


def test_a_devices_late_confirmation_never_clears_what_a_pulling_device_was_not_given() -> None:
    """The laptop (a plain client) got "m0" and "m1" live and answers only the PING behind
    "m0"; the phone (draft/chathistory: told, not given) lands meanwhile and confirms its live
    lines, leaving "m0".."m1" held. The laptop's late PONG covers "m0" only: "m1" stays unread
    (with one device this cannot happen; the engine's Ack.upto)."""
    h = harness()
    bob = h.user("bob")
    laptop, burst = device(h)
    answer(laptop, burst)
    h.advance(ACK_QUIET)
    laptop.take()
    bob.send("PRIVMSG #general :m0")
    got = laptop.take()
    ping_m0 = acks_in(got)
    assert texts(got) == ["m0"] and len(ping_m0) == 1
    bob.send("PRIVMSG #general :m1")
    assert texts(laptop.take()) == ["m1"]  # no new PING: one is outstanding
    phone, burst = device(h, "draft/chathistory batch server-time message-tags")
    assert texts(burst) == []  # a pulling client is told, not given
    answer(phone, burst)  # held: m0, m1 stay unread
    bob.send("PRIVMSG #general :m2")
    h.advance(ACK_QUIET)
    answer(phone, phone.take())
    laptop.send(f"PONG :{ping_m0[0]}")  # the laptop's late answer: up to m0
    h.hub.close_session(laptop.session, "Connection reset")
    h.hub.close_session(phone.session, "Connection reset")
    _, burst = device(h)
    got = [t.replace("[repeat?] ", "") for t in texts(burst)]
    assert got == ["m1"]


# ---------------------------------------------------------------------- unread, as a property

DEVICE_CAPS = {
    "plain": "",
    "hexchat": "server-time message-tags",
    "pull": "draft/chathistory batch server-time message-tags",  # told, not given
}
ACTIONS = st.one_of(
    st.tuples(st.just("post"), st.booleans()),  # bob posts to #general / privately to alice
    st.tuples(st.just("connect"), st.sampled_from(sorted(DEVICE_CAPS))),
    st.tuples(st.just("take"), st.integers(0, 2)),  # a device reads what was written to it
    st.tuples(st.just("answer"), st.integers(0, 2)),  # ... and answers the ack PINGs it read
    st.tuples(st.just("quiet"), st.just(0)),  # time passes (ack PINGs go out)
    st.tuples(st.just("drop"), st.integers(0, 2)),  # the connection dies: confirms nothing
    st.tuples(st.just("quit"), st.integers(0, 2)),  # QUIT, all it read acknowledged by TCP
    st.tuples(st.just("unread"), st.integers(0, 2)),  # UNREAD: the held ones replayed
)


def read_texts(msgs: list[Message]) -> list[str]:
    """The posts in these lines (without the date prefix and the [repeat?] mark)."""
    return [t.removeprefix("[repeat?] ") for t in texts(msgs)]


class Device:
    """One of alice's connections, with what it read and what its answers confirmed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.read: list[Message] = []
        self.answered = 0  # PINGs in ``read`` answered so far

    def take(self) -> None:
        self.read.extend(self.client.take())

    def answer(self, confirmed: set[str]) -> None:
        """PONG every ack PING read: each confirms the lines read before it."""
        pings = [i for i, m in enumerate(self.read) if m.command == "PING"]
        for i in pings[self.answered :]:
            self.client.send(f"PONG :{self.read[i].params[-1]}")
            confirmed.update(read_texts(self.read[:i]))
        self.answered = len(pings)


EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))  # a long random hunt, as test_fuzz.py


@given(st.lists(ACTIONS, max_size=40))
@example(  # a plain device's late PONG after a pulling device's hold (the engine's Ack.upto)
    actions=[
        ("connect", "plain"),
        ("answer", 0),
        ("quiet", 0),
        ("post", True),
        ("take", 0),
        ("post", True),
        ("take", 0),
        ("connect", "pull"),
        ("answer", 1),
        ("answer", 0),
    ]
)
@settings(max_examples=EXAMPLES or 60, deadline=None, derandomize=not EXAMPLES, database=None)
def test_unread_is_exactly_what_no_device_confirmed(actions: list[tuple[str, object]]) -> None:
    """Whatever the devices do (plain and history-pulling clients, PONGs, QUITs, drops, UNREAD),
    the replay after the last one is gone holds each post that no device confirmed reading,
    once, and none that a device confirmed: nothing lost, nothing doubled."""
    h = Harness(
        limits={"messages_per_period": 1000, "private_burst": 1000},
        server={"commands_per_second": 0.0},
    )
    bob = h.user("bob")
    first, burst = device(h)  # the account exists, everything before this is read
    answer(first, burst)
    first.session.peer_unacked = lambda: 0
    first.quit()
    devices: list[Device] = []
    confirmed: set[str] = set()
    posted: list[str] = []
    for kind, arg in actions:
        online = [d for d in devices if d.client.session.registered]
        pick = online[arg % len(online)] if online and isinstance(arg, int) else None
        if kind == "post":
            text = f"p{len(posted)}"
            posted.append(text)
            bob.send(f"PRIVMSG {'#general' if arg else 'alice'} :{text}")
        elif kind == "connect" and len(online) < 3:
            c = h.connect()
            c.register("alice", DEVICE_CAPS[str(arg)], password="pw")  # (the burst is taken)
            d = Device(c)
            d.read.extend(parse(line) for line in c.raw)
            devices.append(d)
        elif kind == "quiet":
            h.advance(ACK_QUIET)
        elif pick is None:
            continue
        elif kind == "take":
            pick.take()
        elif kind == "answer":
            pick.take()
            pick.answer(confirmed)
        elif kind == "drop":
            h.hub.close_session(pick.client.session, "Connection reset")
        elif kind == "quit":
            pick.take()
            confirmed.update(read_texts(pick.read))  # its TCP stack acknowledged all it read
            pick.client.session.peer_unacked = lambda: 0
            pick.client.quit()
        elif kind == "unread":
            pick.client.send("UNREAD")
    for d in devices:
        if d.client.session.registered:
            h.hub.close_session(d.client.session, "Connection reset")
    _, burst = device(h)
    replayed = read_texts(burst)
    assert sorted(replayed) == sorted(set(replayed)), "a post replayed twice"
    assert set(replayed) == set(posted) - confirmed, (
        f"lost: {sorted(set(posted) - confirmed - set(replayed))}, "
        f"confirmed yet replayed: {sorted(set(replayed) & confirmed)}"
    )
