"""Issue 13, section 4, "several devices per account", on the real server with raw sockets
(and a fake clock for the quiet time that gates ack PINGs; sockets are real):

* two raw clients logged in as one account are one user: bob sees one JOIN and one QUIT (when
  the last device leaves), WHOIS and NAMES show alice once;
* each device gets the live messages and its own echo (echo-message); what one device sent
  reaches the other as alice's own message (znc.in/self-message style, also without any
  capability, as irctest's ``server_tests/bouncer.py`` expects of a bouncer-like server);
* a read marker set on one reaches the other (read-marker, "Command flows");
* unread on return is what no device of the account confirmed: what one device confirmed is
  not replayed, what none did comes back once;
* a login beyond ``accounts.max_devices`` is refused with a clear ERROR, and the others go on.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ircd.clock import FakeClock
from ircd.config import Config
from ircd.irc.acks import ACK_QUIET
from ircd.server import Server
from ircd.wire import Message, parse
from tests.conftest import TIMEOUT, RawClient, make_config

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] ")
ECHO = "echo-message server-time message-tags draft/read-marker"


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path, limits={"messages_per_period": 1000}, accounts={"max_devices": 2})


@pytest.fixture
async def srv(cfg: Config) -> AsyncIterator[Server]:
    s = Server(cfg, clock=FakeClock(T0))
    await s.start()
    yield s
    await s.stop()


def clock(srv: Server) -> FakeClock:
    assert isinstance(srv.clock, FakeClock)
    return srv.clock


def is_ack(m: Message) -> bool:
    return m.command == "PING" and m.params[-1].startswith("ack-")


def texts(msgs: list[Message]) -> list[str]:
    return [STAMP.sub("", m.params[1]) for m in msgs if m.command == "PRIVMSG"]


def privmsg(text: str) -> Callable[[Message], bool]:
    return lambda m: m.command == "PRIVMSG" and STAMP.sub("", m.params[1]).endswith(text)


async def device(
    srv: Server, caps: str = "", *, answer: bool = True
) -> tuple[RawClient, list[Message]]:
    """A connection logged in as alice; waits for its landing's ack PING (answered unless
    ``answer`` is False); returns what it got until then."""
    c = await RawClient.connect(srv.port)
    c.auto_pong = answer  # type: ignore[attr-defined]
    await c.register("alice", password="pw", caps=caps)
    await c.expect(is_ack)
    await c.sync()
    return c, [parse(x) for x in c.lines]


async def bob_joins(srv: Server) -> RawClient:
    bob = await RawClient.connect(srv.port)
    await bob.registered_and_joined("bob")
    return bob


def drop(c: RawClient) -> None:
    """The connection dies: a TCP reset, no QUIT."""
    sock = c.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.writer.transport.abort()


async def quit_seen(bob: RawClient) -> Message:
    return await bob.expect(lambda m: m.command == "QUIT" and (m.source or "").startswith("alice!"))


def seen_since(c: RawClient, start: int) -> list[Message]:
    return [parse(x) for x in c.lines[start:]]


async def test_two_raw_clients_of_one_account_are_one_user(srv: Server) -> None:
    bob = await bob_joins(srv)
    phone, _ = await device(srv, ECHO)
    await bob.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("alice!"))
    laptop, burst = await device(srv, "draft/read-marker server-time")
    assert [m.params[0] for m in burst if m.command == "001"] == ["alice"]
    assert [m.params[0] for m in burst if m.command == "JOIN"] == ["#general"]
    mark = len(bob.lines)
    bob.send("WHOIS alice", "NAMES #general")
    await bob.expect(lambda m: m.command == "366" and m.params[1] == "#general")
    got = seen_since(bob, mark)
    assert len([m for m in got if m.command == "311"]) == 1
    names = " ".join(m.params[-1] for m in got if m.command == "353").split()
    assert names.count("alice") == 1
    assert not [m for m in got if m.command == "JOIN"]  # the laptop's arrival was not shown

    # live messages reach both; the echo goes to the device that asked for it, and a copy of
    # what one device sent to the other, as alice's own message
    bob.send("PRIVMSG #general :hello alice")
    for d in (phone, laptop):
        await d.expect(privmsg("hello alice"))
    phone.send("PRIVMSG bob :from the phone")
    assert (await phone.expect(privmsg("from the phone"))).params[0] == "bob"  # echo
    copy = await laptop.expect(privmsg("from the phone"))
    assert copy.params[0] == "bob" and (copy.source or "").startswith("alice!")
    await bob.expect(privmsg("from the phone"))
    laptop.send("PRIVMSG #general :from the laptop")
    copy = await phone.expect(privmsg("from the laptop"))
    assert copy.params[0] == "#general" and (copy.source or "").startswith("alice!")
    await bob.expect(privmsg("from the laptop"))

    # a read marker set on the phone reaches the laptop
    ts = copy.tags["time"]
    phone.send(f"MARKREAD #general timestamp={ts}")
    await phone.expect("MARKREAD")
    moved = await laptop.expect("MARKREAD")
    assert moved.params == ("#general", f"timestamp={ts}")

    # the phone leaves: nobody sees a QUIT; the laptop leaves: bob sees one
    phone.send("QUIT :phone off")
    await phone.expect("ERROR")
    await phone.close()
    await bob.sync()
    assert not [m for m in seen_since(bob, mark) if m.command == "QUIT"]
    bob.send("PRIVMSG #general :still there?")
    await laptop.expect(privmsg("still there?"))
    laptop.send("QUIT :laptop off")
    q = await quit_seen(bob)
    assert q.params[-1].endswith("laptop off")
    await bob.sync()
    assert len([m for m in seen_since(bob, mark) if m.command == "QUIT"]) == 1
    await laptop.close()
    await bob.close()


async def test_unread_on_return_is_what_no_device_received(srv: Server) -> None:
    bob = await bob_joins(srv)
    # round 1: the laptop (first in) never answers, the phone (second) confirms: nothing is
    # unread afterwards
    laptop, _ = await device(srv, answer=False)
    phone, _ = await device(srv)
    clock(srv).advance(ACK_QUIET)  # both quiet: the next posts are asked for at once
    bob.send("PRIVMSG #general :seen on the phone", "PRIVMSG alice :private too")
    await phone.expect(privmsg("private too"))
    await phone.expect(is_ack)  # answered (auto)
    await phone.sync()
    await laptop.expect(privmsg("private too"))
    drop(laptop)
    drop(phone)
    await quit_seen(bob)
    again, got = await device(srv)
    assert texts(got) == []
    assert any(m.params[-1] == "No unread messages since your last visit." for m in got)
    # round 2: neither confirms: what came then is replayed once, marked [repeat?]
    other, _ = await device(srv, answer=False)
    again.auto_pong = False  # type: ignore[attr-defined]
    clock(srv).advance(ACK_QUIET)
    bob.send("PRIVMSG #general :nobody confirmed")
    for d in (again, other):
        await d.expect(privmsg("nobody confirmed"))
    drop(again)
    drop(other)
    await quit_seen(bob)
    back, got = await device(srv)
    assert texts(got) == ["[repeat?] nobody confirmed"]
    await back.close()
    await bob.close()


async def test_a_login_beyond_max_devices_is_refused(srv: Server) -> None:
    bob = await bob_joins(srv)
    one, _ = await device(srv)
    two, _ = await device(srv)
    third = await RawClient.connect(srv.port)
    third.send("PASS pw", "NICK alice", "USER alice 0 * :alice")
    err = await third.expect("ERROR")
    assert "connected from 2 devices already" in err.params[0]
    assert not [line for line in third.lines if " 001 " in line]
    try:
        await third.expect("PING", timeout=TIMEOUT)
        raise AssertionError("the refused connection stayed open")
    except ConnectionError:
        pass  # closed by the server
    # the two others go on, and nobody saw anything
    bob.send("PRIVMSG #general :both of you?")
    for d in (one, two):
        await d.expect(privmsg("both of you?"))
    await bob.sync()
    assert not [line for line in bob.lines if " QUIT " in line]
    for c in (one, two, third):
        await c.close()
    await bob.close()


async def test_a_device_that_lands_after_the_other_left_is_no_join(srv: Server) -> None:
    """Modern IRC, JOIN (https://modern.ircdocs.horse/#join-message): a device that logged in
    while another was online is the same user, still online for everyone; if the other leaves
    before this one lands (its channels are shown on its first line after the welcome), the
    others are told neither a QUIT nor a JOIN: alice never left."""
    bob = await bob_joins(srv)
    first, _ = await device(srv)
    await bob.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("alice!"))
    second = await RawClient.connect(srv.port)
    await second.register("alice", password="pw")  # welcomed, not landed: it says nothing yet
    first.send("QUIT :switching devices")
    await first.expect("ERROR")
    await bob.sync()
    second.send("PONG :welcome")  # lands now, alone
    await second.expect("366")
    await second.sync()
    bob.send("PRIVMSG alice :still with us?")
    await second.expect(privmsg("still with us?"))
    await bob.sync()
    start = next(i for i, x in enumerate(bob.lines) if "JOIN" in x and x.startswith(":alice!"))
    later = [x for x in bob.lines[start + 1 :] if x.startswith(":alice!")]
    assert not [x for x in later if " JOIN " in x or " QUIT " in x], later
