"""The complaint rule on the real server (fake clock, raw sockets, all from 127.0.0.1): three
accounts created in a burst from one address are one voice, the same accounts a day later are
three, and a server operator is not muted by complaints, even offline and after a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ircd.clock import FakeClock
from ircd.config import Config, OperatorConfig
from ircd.messenger.passwords import hash_password
from ircd.server import Server
from tests.conftest import RawClient, make_config

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
DAY = 86400


async def start(cfg: Config, clock: FakeClock) -> Server:
    srv = Server(cfg, clock=clock)
    await srv.start()
    return srv


async def account(srv: Server, nick: str) -> RawClient:
    c = await RawClient.connect(srv.port)
    await c.registered_and_joined(nick, password="pw")
    return c


async def complain(c: RawClient, nick: str) -> str:
    c.send(f"COMPLAIN {nick} :spam")
    got = await c.expect(lambda m: m.command == "NOTICE" and "complaint" in m.params[1])
    return got.params[1]


async def test_accounts_made_in_a_burst_are_one_voice_until_they_age(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)  # the defaults: a day's age, same address counts once
    clock = FakeClock(T0)
    srv = await start(cfg, clock)
    try:
        carol = await account(srv, "carol")
        socks = [await account(srv, n) for n in ("sock1", "sock2", "sock3")]
        assert await complain(socks[0], "carol") == (
            "Your complaint about carol was recorded (1 of 3 needed to mute)."
        )
        for i, c in enumerate(socks[1:], start=1):
            text = await complain(c, "carol")
            assert f"counts together with {i} other new account" in text
            assert text.endswith("from your address (1 of 3 needed to mute).")
        carol.send("PRIVMSG #general :still talking")
        got = await socks[0].expect("PRIVMSG")
        assert got.params[1] == "still talking"
        # a day later the same three (and others like them) are accounts like any other
        more = [await account(srv, n) for n in ("ann", "ben", "cid")]
        clock.advance(DAY)
        assert (await complain(more[0], "carol")).endswith("(2 of 3 needed to mute).")
        assert (await complain(more[1], "carol")).endswith("(3 of 3 needed to mute).")
        muted = await carol.expect(lambda m: m.command == "NOTICE" and "muted" in m.params[1])
        assert "You have been muted until 2027-01-16 12:00:00 UTC" in muted.params[1]
        carol.send("PRIVMSG #general :can I talk?")
        await carol.expect("404")
        for c in (carol, *socks, *more):
            await c.close()
    finally:
        await srv.stop()


async def test_an_operator_is_not_muted_by_complaints_across_a_restart(tmp_path: Path) -> None:
    cfg = dataclasses.replace(
        make_config(tmp_path),
        operators=(OperatorConfig(name="root", password_hash=hash_password("opsecret")),),
    )
    clock = FakeClock(T0)
    srv = await start(cfg, clock)
    try:
        boss = await account(srv, "boss")
        boss.send("OPER root opsecret")
        await boss.expect("381")
        await boss.close()
        users = [await account(srv, n) for n in ("ann", "ben", "cid")]
        for c in users:
            await c.close()
    finally:
        await srv.stop()
    clock.advance(2 * DAY)  # the complainers are old accounts by now
    srv = await start(cfg, clock)
    try:
        users = [await account(srv, n) for n in ("ann", "ben", "cid")]
        for c in users:
            text = await complain(c, "boss")
            assert text == (
                "Your complaint about boss was recorded for the operators to see; boss is a "
                "server operator and cannot be muted by complaints."
            )
        assert srv.messenger.ban_of("boss") is None
        boss = await account(srv, "boss")  # back, without OPER this time
        boss.send("PRIVMSG #general :I can still talk")
        got = await users[0].expect("PRIVMSG")
        assert got.params[1] == "I can still talk"
        for c in (boss, *users):
            await c.close()
    finally:
        await srv.stop()
