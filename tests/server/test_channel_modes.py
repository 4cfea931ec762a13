"""Channel modes on the real server (raw sockets, port 0): a key, invite-only with INVITE and
invite-notify, bans and mutes, STATUSMSG and multi-target KICK, and channel modes that survive a
restart. Each test cites the Modern IRC (modern.ircdocs.horse) or IRCv3 section it checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ircd.server import Server
from tests.conftest import RawClient, make_config


async def joined(connect: Callable[[], Any], nick: str, chan: str, **kw: Any) -> RawClient:
    c: RawClient = await connect()
    await c.registered_and_joined(nick, **kw)
    c.send(f"JOIN {chan}")
    await c.expect(lambda m: m.command == "366" and m.params[1] == chan)
    return c


async def test_key_and_isupport(connect) -> None:
    """Modern IRC, key channel mode (+k) and RPL_ISUPPORT CHANMODES: JOIN without the key is
    ERR_BADCHANNELKEY (475), with it the user joins."""
    op = await joined(connect, "chanop", "#chan")
    isupport = " ".join(line for line in op.lines if " 005 " in line)
    assert "CHANMODES=beI,k,l,imnst" in isupport and "STATUSMSG=@+" in isupport
    op.send("MODE #chan +k beer")
    assert (await op.expect("MODE")).params == ("#chan", "+k", "beer")
    q: RawClient = await connect()
    await q.registered_and_joined("qux")
    q.send("JOIN #chan")
    assert (await q.expect("475")).params[1] == "#chan"
    q.send("JOIN #chan beer")
    assert (await q.expect("JOIN")).params == ("#chan",)


async def test_invite_only_invite_and_invite_notify(connect) -> None:
    """Modern IRC, invite-only (+i) and INVITE (341, INVITE to the invitee); IRCv3
    invite-notify: the channel's operators with the capability are told."""
    op = await joined(connect, "foo", "#chan")
    watcher = await joined(connect, "watch", "#chan", caps="invite-notify")
    op.send("MODE #chan +i", "MODE #chan +o watch")
    await watcher.expect(lambda m: m.command == "MODE" and m.params[1] == "+o")
    bar: RawClient = await connect()
    await bar.registered_and_joined("bar")
    bar.send("JOIN #chan")
    assert (await bar.expect("473")).params[1] == "#chan"
    op.send("INVITE bar #chan")
    assert (await op.expect("341")).params == ("foo", "bar", "#chan")
    got = await bar.expect("INVITE")
    assert got.params == ("bar", "#chan") and got.source.startswith("foo!")
    got = await watcher.expect("INVITE")
    assert got.params == ("bar", "#chan") and got.source.startswith("foo!")
    bar.send("JOIN #chan")
    assert (await bar.expect("JOIN")).params == ("#chan",)


async def test_ban_mute_and_statusmsg(connect) -> None:
    """Modern IRC, ban channel mode (474, 367/368); EXTBAN m: mutes (404) until +v; STATUSMSG
    `PRIVMSG @#chan` reaches only operators."""
    op = await joined(connect, "chanop", "#chan")
    op.send("MODE #chan +b bad!*@*")
    await op.expect("MODE")
    bad: RawClient = await connect()
    await bad.registered_and_joined("bad")
    bad.send("JOIN #chan")
    assert (await bad.expect("474")).params[1] == "#chan"
    bad.send("MODE #chan +b")
    entry = await bad.expect("367")
    assert entry.params[2:4] == ("bad!*@*", "chanop")
    await bad.expect("368")
    joe = await joined(connect, "joe", "#chan")
    op.send("MODE #chan +b m:joe!*@*")
    await joe.expect(lambda m: m.command == "MODE" and m.params[2] == "m:joe!*@*")
    joe.send("PRIVMSG #chan :hello?")
    assert (await joe.expect("404")).params[1] == "#chan"
    op.send("MODE #chan +v joe")
    await joe.expect(lambda m: m.command == "MODE" and m.params[1] == "+v")
    joe.send("PRIVMSG #chan :voiced now", "PRIVMSG @#chan :ops only")
    got = await op.expect("PRIVMSG")
    assert got.params == ("#chan", "voiced now")
    got = await op.expect("PRIVMSG")
    assert got.params == ("@#chan", "ops only")
    other = await joined(connect, "other", "#chan")
    joe.send("PRIVMSG @#chan :still ops only", "PRIVMSG #chan :everyone")
    await other.expect(lambda m: m.command == "PRIVMSG" and m.params == ("#chan", "everyone"))
    assert not [line for line in other.lines if "still ops only" in line]  # (sent before)


async def test_multi_target_kick(connect) -> None:
    """Modern IRC, KICK: `KICK #chan bar,baz :bye` sends one KICK per user to the channel."""
    foo = await joined(connect, "foo", "#chan")
    await joined(connect, "bar", "#chan")
    await joined(connect, "baz", "#chan")
    qux = await joined(connect, "qux", "#chan")
    foo.send("KICK #chan bar,baz :bye")
    first = await qux.expect("KICK")
    second = await qux.expect("KICK")
    assert {first.params, second.params} == {("#chan", "bar", "bye"), ("#chan", "baz", "bye")}


async def test_channel_modes_survive_a_restart(tmp_path: Path) -> None:
    """Modes, lists and the key are durable (journal and snapshot): after a restart MODE shows
    them (324) and the key still keeps strangers out (475)."""
    cfg = make_config(tmp_path)
    srv = Server(cfg)
    await srv.start()
    try:
        alice = await RawClient.connect(srv.port)
        await alice.registered_and_joined("alice", password="secret12")
        alice.send("JOIN #keep", "MODE #keep +mk-t sesame", "MODE #keep +b spam")
        await alice.expect(lambda m: m.command == "MODE" and m.params[1] == "+b")
        await alice.close()
    finally:
        await srv.stop()
    srv = Server(cfg)
    await srv.start()
    try:
        alice = await RawClient.connect(srv.port)
        await alice.registered_and_joined("alice", password="secret12")
        alice.send("MODE #keep", "MODE #keep b")
        got = await alice.expect("324")
        assert got.params[1:] == ("#keep", "+kmn", "sesame")
        assert (await alice.expect("367")).params[2] == "spam!*@*"
        bob = await RawClient.connect(srv.port)
        await bob.registered_and_joined("bob")
        bob.send("JOIN #keep")
        assert (await bob.expect("475")).params[1] == "#keep"
        await bob.close()
        await alice.close()
    finally:
        await srv.stop()
