"""Issue 4 end to end on the real server with a fake clock: quota, delayed messages, complaints."""

from __future__ import annotations

from pathlib import Path

import pytest

from ircd.clock import FakeClock
from ircd.config import Config
from ircd.server import Server
from tests.conftest import RawClient, make_config

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, a period boundary for 60 s and 3600 s


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path, limits={"messages_per_period": 3, "period_seconds": 60})


async def start(cfg: Config, clock: FakeClock) -> Server:
    srv = Server(cfg, clock=clock)
    await srv.start()
    return srv


def due(srv: Server) -> None:
    """What the server's timer does when the clock reaches the next due time."""
    srv._run_due()


async def test_fourth_message_in_a_window_is_refused_until_reset(cfg: Config) -> None:
    clock = FakeClock(T0 + 10)
    srv = await start(cfg, clock)
    try:
        a = await RawClient.connect(srv.port)
        await a.registered_and_joined("alice", caps="echo-message")
        b = await RawClient.connect(srv.port)
        await b.registered_and_joined("bob")
        for i in range(4):
            a.send(f"PRIVMSG #general :m{i}")
        err = await a.expect("404")
        assert err.params[1] == "#general"
        assert "3 messages per minute" in err.params[2]
        assert "resets at 2027-01-15 08:01:00 UTC" in err.params[2]
        await a.sync()
        echoed = [line for line in a.lines if " PRIVMSG #general :m" in line]
        assert len(echoed) == 3  # the refused one is not echoed
        got = [(await b.expect("PRIVMSG")).params[1] for _ in range(3)]
        assert got == ["m0", "m1", "m2"]
        # private messages do not count
        a.send("PRIVMSG bob :still here")
        assert (await b.expect("PRIVMSG")).params[1] == "still here"
        # the next window accepts
        clock.advance(50)
        a.send("PRIVMSG #general :m3 again")
        assert (await b.expect("PRIVMSG")).params[1] == "m3 again"
        # standard-replies clients get FAIL PRIVMSG RATE_LIMITED instead
        c = await RawClient.connect(srv.port)
        await c.registered_and_joined("carol", caps="standard-replies")
        for i in range(4):
            c.send(f"PRIVMSG #general :c{i}")
        fail = await c.expect("FAIL")
        assert fail.params[:3] == ("PRIVMSG", "RATE_LIMITED", "#general")
        for x in (a, b, c):
            await x.close()
    finally:
        await srv.stop()


async def test_delay_reaches_everyone_later_and_cancel_stops_one(cfg: Config) -> None:
    clock = FakeClock(T0)
    srv = await start(cfg, clock)
    try:
        a = await RawClient.connect(srv.port)
        await a.registered_and_joined("alice", password="pw")
        b = await RawClient.connect(srv.port)
        await b.registered_and_joined("bob")
        a.send("DELAY 1 #general :hi from the past", "DELAY 2m bob :private later")
        ok = await a.expect(lambda m: m.command == "NOTICE" and "scheduled for" in m.params[1])
        assert "Message #1 to #general scheduled for 2027-01-15 08:01:00 UTC" in ok.params[1]
        a.send("PRIVMSG Messenger :delay 5m #general cancel me")
        await a.expect(lambda m: m.command == "NOTICE" and "#3" in m.params[1])
        a.send("PRIVMSG Messenger :delays")
        listing = await a.collect_until(
            lambda m: m.command == "NOTICE" and m.params[1].endswith("scheduled messages")
        )
        assert listing[-1].params[1] == "3 scheduled messages"
        a.send("DELAY CANCEL 3")
        await a.expect(lambda m: m.command == "NOTICE" and "#3 cancelled" in m.params[1])
        b.send("DELAY CANCEL 1")
        err = await b.expect(lambda m: m.command == "NOTICE" and "Error" in m.params[1])
        assert "No scheduled message #1 of yours" in err.params[1]
        await b.sync()
        clock.advance(59)
        due(srv)
        await b.sync()
        assert not any("hi from the past" in line for line in b.lines)
        clock.advance(1)
        due(srv)
        got = await b.expect("PRIVMSG")
        assert got.params == ("#general", "hi from the past")
        assert got.source.startswith("alice!")
        clock.advance(60)
        due(srv)
        got = await b.expect("PRIVMSG")
        assert got.params == ("bob", "private later")
        clock.advance(600)
        due(srv)
        await b.sync()
        assert not any("cancel me" in line for line in b.lines)
        for x in (a, b):
            await x.close()
    finally:
        await srv.stop()


async def test_delay_survives_a_restart_and_is_sent_at_start(cfg: Config) -> None:
    clock = FakeClock(T0)
    srv = await start(cfg, clock)
    try:
        a = await RawClient.connect(srv.port)
        await a.registered_and_joined("alice", password="pw")
        a.send("DELAY 1 #general :across a restart")
        await a.expect(lambda m: m.command == "NOTICE" and "scheduled" in m.params[1])
        await a.close()
    finally:
        await srv.stop()
    clock.advance(120)  # the server was down when it fell due
    srv = await start(cfg, clock)
    try:
        texts = [p.text for p in srv.messenger.rooms["#general"].history]
        assert texts == ["across a restart"]
        assert srv.messenger.scheduled == {}
        b = await RawClient.connect(srv.port)
        await b.registered_and_joined("bob")
        got = await b.expect("PRIVMSG")
        assert got.params[1].endswith("across a restart")
        await b.close()
    finally:
        await srv.stop()


async def test_three_complaints_mute_carol_until_ban_ends(tmp_path: Path) -> None:
    # the three complainers are new accounts from one address: with the default age they
    # would be one voice (tests/flows/test_complaint_voices.py)
    cfg = make_config(tmp_path, moderation={"ban_seconds": 600, "complaint_min_account_age": 0})
    clock = FakeClock(T0)
    srv = await start(cfg, clock)
    try:
        carol = await RawClient.connect(srv.port)
        await carol.registered_and_joined("carol", password="pw")
        users = []
        for name in ("ann", "ben", "cid"):
            c = await RawClient.connect(srv.port)
            await c.registered_and_joined(name, password="pw")
            users.append(c)
        ann, ben, cid = users
        ann.send("COMPLAIN carol :spam")
        ok = await ann.expect("NOTICE")
        assert ok.params[1] == "Your complaint about carol was recorded (1 of 3 needed to mute)."
        ann.send("COMPLAIN carol :again")
        err = await ann.expect("NOTICE")
        assert "already complained" in err.params[1]
        ann.send("COMPLAIN ann")
        assert "yourself" in (await ann.expect("NOTICE")).params[1]
        ann.send("COMPLAIN nobody")
        assert "No such user: nobody" in (await ann.expect("NOTICE")).params[1]
        ben.send("PRIVMSG Messenger :complain carol flooding")
        assert "recorded" in (await ben.expect("NOTICE")).params[1]
        carol.send("PRIVMSG #general :not muted yet")
        assert (await cid.expect("PRIVMSG")).params[1] == "not muted yet"
        cid.send("COMPLAIN carol")
        assert "recorded" in (await cid.expect("NOTICE")).params[1]
        muted = await carol.expect(lambda m: m.command == "NOTICE" and "muted" in m.params[1])
        assert "You have been muted until 2027-01-15 08:10:00 UTC" in muted.params[1]
        for c in users:
            got = await c.expect(
                lambda m: m.command == "NOTICE" and "has been muted" in m.params[1]
            )
            assert got.params[1] == "carol has been muted until 2027-01-15 08:10:00 UTC."
        carol.send("PRIVMSG #general :can I talk?", "PRIVMSG ann :psst")
        e1 = await carol.expect("404")
        assert "muted until 2027-01-15 08:10:00 UTC" in e1.params[2]
        e2 = await carol.expect("531")
        assert e2.params[1] == "ann"
        # she can still read
        ann.send("PRIVMSG #general :we can talk")
        assert (await carol.expect("PRIVMSG")).params[1] == "we can talk"
        clock.advance(600)
        due(srv)
        await carol.expect(lambda m: m.command == "NOTICE" and "mute has ended" in m.params[1])
        carol.send("PRIVMSG #general :I am back")
        assert await ann.expect(lambda m: m.command == "PRIVMSG" and "back" in m.params[1])
        for c in (carol, *users):
            await c.close()
    finally:
        await srv.stop()


async def test_ban_survives_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, moderation={"complaints_to_ban": 1, "ban_seconds": 3600})
    clock = FakeClock(T0)
    srv = await start(cfg, clock)
    try:
        carol = await RawClient.connect(srv.port)
        await carol.registered_and_joined("carol", password="pw")
        ann = await RawClient.connect(srv.port)
        await ann.registered_and_joined("ann", password="pw")
        ann.send("COMPLAIN carol")
        await carol.expect(lambda m: m.command == "NOTICE" and "muted" in m.params[1])
        await carol.close()
        await ann.close()
    finally:
        await srv.stop()
    srv = await start(cfg, clock)
    try:
        carol = await RawClient.connect(srv.port)
        await carol.registered_and_joined("carol", password="pw")
        carol.send("PRIVMSG #general :hello?")
        await carol.expect("404")
        await carol.close()
    finally:
        await srv.stop()


async def test_operators_list_complaints_and_bans_and_lift_a_ban(tmp_path: Path) -> None:
    from ircd.config import OperatorConfig
    from ircd.messenger.passwords import hash_password

    base = make_config(tmp_path)
    import dataclasses

    cfg = dataclasses.replace(
        base, operators=(OperatorConfig(name="root", password_hash=hash_password("opsecret")),)
    )
    clock = FakeClock(T0)
    srv = await start(cfg, clock)
    try:
        op = await RawClient.connect(srv.port)
        await op.registered_and_joined("boss", password="pw")
        op.send("PRIVMSG Messenger :bans")
        denied = await op.expect("NOTICE")
        assert "not an operator" in denied.params[1]
        op.send("OPER root wrong")
        await op.expect("464")
        op.send("OPER root opsecret")
        await op.expect("381")
        eve = await RawClient.connect(srv.port)
        await eve.registered_and_joined("eve", password="pw")
        op.send("COMPLAIN eve :rude")
        await op.expect(lambda m: m.command == "NOTICE" and "recorded" in m.params[1])
        op.send("MESSENGER complaints")
        got = await op.expect(lambda m: m.command == "NOTICE" and m.params[1].startswith("eve"))
        assert got.params[1] == "eve: 1 complaint(s) (boss: rude)"
        op.send("PRIVMSG Messenger :mute eve 2h spamming")
        got = await op.expect(lambda m: m.command == "NOTICE" and "muted until" in m.params[1])
        assert got.params[1] == "eve is muted until 2027-01-15 10:00:00 UTC."
        await eve.expect(lambda m: m.command == "NOTICE" and "muted by an operator" in m.params[1])
        op.send("PRIVMSG Messenger :bans")
        got = await op.expect(lambda m: m.command == "NOTICE" and m.params[1].startswith("eve"))
        # the address eve was connected from when muted: guests from there are muted too
        assert got.params[1] == (
            "eve muted until 2027-01-15 10:00:00 UTC (spamming), and guests from 127.0.0.1"
        )
        eve.send("PRIVMSG #general :x")
        await eve.expect("404")
        op.send("PRIVMSG Messenger :unban eve")
        await op.expect(lambda m: m.command == "NOTICE" and "was lifted" in m.params[1])
        await eve.expect(lambda m: m.command == "NOTICE" and "lifted" in m.params[1])
        eve.send("PRIVMSG #general :free")
        assert (await op.expect("PRIVMSG")).params[1] == "free"
        for c in (op, eve):
            await c.close()
    finally:
        await srv.stop()


async def test_help_and_service_help(cfg: Config) -> None:
    srv = await start(cfg, FakeClock(T0))
    try:
        c = await RawClient.connect(srv.port)
        await c.registered_and_joined("newbie")
        c.send("HELP DELAY")
        got = await c.collect_until("706")
        assert got[0].command == "704" and got[0].params[1] == "DELAY"
        assert any("DELAY CANCEL" in m.params[-1] for m in got if m.command == "705")
        c.send("HELP NOSUCHTHING")
        assert (await c.expect("524")).params[1] == "NOSUCHTHING"
        c.send("PRIVMSG Messenger :help")
        got = await c.expect("NOTICE")
        assert got.source.startswith("Messenger!")
        assert "service commands" in got.params[1]
        c.send("PRIVMSG Messenger :frobnicate")
        got = await c.expect(lambda m: m.command == "NOTICE" and "Unknown command" in m.params[1])
        c.send("NOTICE Messenger :help")  # the service never answers notices
        c.send("WHOIS Messenger")
        got = await c.collect_until("318")
        assert [m.command for m in got] == ["311", "312", "335", "318"]
        c.send("PRIVMSG Messenger :quota")
        got = await c.expect("NOTICE")
        assert (
            got.params[1] == "You can send 3 more channel messages until 2027-01-15 08:01:00 UTC."
        )
        await c.close()
    finally:
        await srv.stop()


async def test_guest_nick_change_keeps_quota(cfg: Config) -> None:
    srv = await start(cfg, FakeClock(T0))
    try:
        c = await RawClient.connect(srv.port)
        await c.registered_and_joined("quick")
        for i in range(3):
            c.send(f"PRIVMSG #general :{i}")
        c.send("NICK quick2", "PRIVMSG #general :after rename")
        await c.expect("NICK")
        err = await c.expect("404")
        assert "Rate limit" in err.params[2]
        await c.close()
    finally:
        await srv.stop()
