"""Issue 3 end to end on the real server: backlog, unread replay, accounts, restarts."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from ircd.config import Config
from ircd.irc.acks import ACK_QUIET
from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient, make_config


async def start(config: Config) -> Server:
    srv = Server(config)
    await srv.start()
    return srv


async def client(srv: Server) -> RawClient:
    return await RawClient.connect(srv.port)


async def acked(c: RawClient) -> None:
    """Wait until the server asked for a delivery ack and got our PONG."""
    await c.expect(lambda m: m.command == "PING" and m.params[-1].startswith("ack-"))
    await c.sync()


def privmsgs(msgs: list) -> list[tuple[str, str]]:
    """(target, text) of PRIVMSGs, without the [YYYY-MM-DD HH:MM] prefix of replayed lines."""
    return [
        (m.params[0], re.sub(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] ", "", m.params[1]))
        for m in msgs
        if m.command == "PRIVMSG"
    ]


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path, limits={"messages_per_period": 1000})


async def test_new_client_sees_last_20_with_original_times(cfg: Config) -> None:
    srv = await start(cfg)
    try:
        bob = await client(srv)
        await bob.registered_and_joined("bob")
        for i in range(25):
            bob.send(f"PRIVMSG #general :message {i}")
        await bob.sync()
        stamps = [p.time for p in srv.messenger.rooms["#general"].history]
        # a client with batch + server-time: one chathistory batch, original times
        w = await client(srv)
        await w.registered_and_joined("weechat", caps="batch server-time message-tags")
        got = await w.collect_until(lambda m: m.command == "BATCH" and m.params[0].startswith("-"))
        lines = [m for m in got if m.command == "PRIVMSG"]
        assert [m.params[1] for m in lines] == [f"message {i}" for i in range(5, 25)]
        assert all(m.source.startswith("bob!") for m in lines)
        from ircd.irc.timefmt import iso_time

        assert [m.tags["time"] for m in lines] == [iso_time(t) for t in stamps[5:]]
        assert all(m.tags["batch"] == got[0].params[0][1:] for m in lines)
        # server-time only: framed by notices, time tags, no batch
        h = await client(srv)
        await h.registered_and_joined("hexchat", caps="server-time")
        got = await h.collect_until(
            lambda m: m.command == "NOTICE" and "End of replay" in m.params[1]
        )
        assert "Replaying 20 recent messages" in got[0].params[1]
        lines = [m for m in got if m.command == "PRIVMSG"]
        assert [m.params[1] for m in lines] == [f"message {i}" for i in range(5, 25)]
        assert all("time" in m.tags and "batch" not in m.tags for m in lines)
        # no caps: a [YYYY-MM-DD HH:MM] text prefix, no tags at all
        p = await client(srv)
        await p.registered_and_joined("plain")
        got = await p.collect_until(
            lambda m: m.command == "NOTICE" and "End of replay" in m.params[1]
        )
        lines = [m for m in got if m.command == "PRIVMSG"]
        assert len(lines) == 20
        assert all(m.tags is None for m in got)
        assert lines[0].params[1].endswith("] message 5")
        assert lines[0].params[1].startswith("[20")
        for c in (bob, w, h, p):
            await c.close()
    finally:
        await srv.stop()


async def _unread_scenario(srv: Server, cfg: Config, restart: bool) -> Server:
    alice = await client(srv)
    await alice.registered_and_joined("alice", password="secret")
    await acked(alice)
    alice.send("QUIT :bye")
    await alice.expect("ERROR")
    await alice.close()
    bob = await client(srv)
    await bob.registered_and_joined("bob")
    bob.send("PRIVMSG #general :while you were away", "PRIVMSG alice :a private word")
    got = await bob.expect(lambda m: m.command in ("NOTE", "NOTICE") and "offline" in m.params[-1])
    assert "alice" in got.params[-1]
    await bob.sync()
    if restart:
        await srv.stop()
        srv = await start(cfg)
        bob = await client(srv)
        await bob.registered_and_joined("bob")
    alice = await client(srv)
    await alice.registered_and_joined("alice", password="secret")
    got = await alice.collect_until(
        lambda m: m.command == "NOTICE" and m.params[1].startswith("You had")
    )
    assert privmsgs(got) == [
        ("#general", "while you were away"),
        ("alice", "a private word"),
    ]
    assert "2 unread messages" in got[-1].params[1]
    await acked(alice)
    alice.send("QUIT")
    await alice.close()
    # the next reconnect sees none of it again
    alice = await client(srv)
    await alice.registered_and_joined("alice", password="secret")
    got = await alice.collect_until(lambda m: m.command == "NOTICE" and "unread" in m.params[1])
    assert got[-1].params[1] == "No unread messages since your last visit."
    assert privmsgs(got) == []
    await alice.close()
    await bob.close()
    return srv


@pytest.mark.parametrize("restart", [False, True], ids=["live", "restart"])
async def test_unread_replayed_once(cfg: Config, restart: bool) -> None:
    srv = await start(cfg)
    try:
        srv = await _unread_scenario(srv, cfg, restart)
    finally:
        await srv.stop()


async def test_unacknowledged_messages_are_replayed_again(cfg: Config) -> None:
    srv = await start(cfg)
    try:
        alice = await client(srv)
        await alice.registered_and_joined("alice", password="pw")
        await acked(alice)
        alice.auto_pong = False  # type: ignore[attr-defined]  # a half-dead client
        bob = await client(srv)
        await bob.registered_and_joined("bob")
        bob.send("PRIVMSG #general :did you get this?")
        got = await alice.expect("PRIVMSG")
        assert got.params[1] == "did you get this?"
        # asked once she has been quiet for a while (she just synced)
        await alice.expect(
            lambda m: m.command == "PING" and m.params[-1].startswith("ack-"),
            timeout=ACK_QUIET + TIMEOUT,
        )
        await alice.close()  # dies without answering the ack
        await bob.sync()
        alice = await client(srv)
        await alice.registered_and_joined("alice", password="pw")
        got = await alice.collect_until(
            lambda m: m.command == "NOTICE" and m.params[1].startswith("You had")
        )
        # written but never confirmed: it comes again, marked as a possible repeat
        assert privmsgs(got) == [("#general", "[repeat?] did you get this?")]
        await alice.close()
        await bob.close()
    finally:
        await srv.stop()


async def test_nick_of_an_account_needs_its_password(cfg: Config) -> None:
    srv = await start(cfg)
    try:
        alice = await client(srv)
        await alice.registered_and_joined("alice", password="secret")
        await acked(alice)
        await alice.close()
        bob = await client(srv)
        await bob.registered_and_joined("bob")
        bob.send("PRIVMSG alice :for alice only")
        await bob.sync()
        # no password: refused like a nick in use, gets nothing
        mallory = await client(srv)
        mallory.send("NICK alice", "USER m 0 * :m")
        got = await mallory.expect("433")
        assert "registered" in got.params[-1]
        await mallory.sync()
        assert not any("for alice only" in line for line in mallory.lines)
        # wrong password: 464 and disconnected
        m2 = await client(srv)
        m2.send("PASS wrong", "NICK alice", "USER m 0 * :m")
        await m2.expect("464")
        await m2.expect("ERROR")
        assert not any("for alice only" in line for line in m2.lines)
        for c in (bob, mallory, m2):
            await c.close()
    finally:
        await srv.stop()


async def test_memberships_accounts_and_cursors_survive_restart(cfg: Config) -> None:
    srv = await start(cfg)
    try:
        alice = await client(srv)
        await alice.registered_and_joined("alice", password="pw")
        await acked(alice)
        alice.send("JOIN #rust")
        await alice.expect(lambda m: m.command == "366" and m.params[1] == "#rust")
        await alice.close()
        await srv.stop()
        srv = await start(cfg)
        alice = await client(srv)
        await alice.register("alice", password="pw")
        joins = await alice.collect_until(
            lambda m: m.command == "NOTICE" and "unread" in m.params[1]
        )
        assert [m.params[0] for m in joins if m.command == "JOIN"] == ["#general", "#rust"]
        assert joins[-1].params[1] == "No unread messages since your last visit."
        await alice.close()
        bad = await client(srv)
        bad.send("PASS nope", "NICK alice", "USER a 0 * :a")
        await bad.expect("464")
        await bad.close()
    finally:
        await srv.stop()


async def test_offline_private_message_and_unknown_nick(cfg: Config) -> None:
    srv = await start(cfg)
    try:
        bob = await client(srv)
        await bob.registered_and_joined("bob")
        bob.send("PRIVMSG nobody :hello?")
        got = await bob.expect("401")
        assert got.params[1] == "nobody"
        await bob.close()
    finally:
        await srv.stop()


async def test_kill_9_during_flood_loses_nothing_anyone_saw(tmp_path: Path) -> None:
    """A real server process is killed with SIGKILL in the middle of a flood; every message a
    receiver saw is in the restored history, in order."""
    import os
    import signal
    import socket
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = tmp_path / "state.json"
    conf = tmp_path / "m.toml"
    conf.write_text(
        "[server]\ncommands_per_second = 0\n"  # a load source: no flood control
        "[limits]\nmessages_per_period = 100000\nprivate_burst = 100000\n"
    )
    args = [sys.executable, "-m", "ircd", "--port", str(port), "--web-port", "0"]
    args += ["--state", str(state)]
    args += ["--config", str(conf), "--log-level", "WARNING"]

    async def spawn() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                return proc
            except OSError:
                if loop.time() > deadline:
                    proc.kill()
                    raise
                await asyncio.sleep(0.05)

    proc = await spawn()
    try:
        rx = await RawClient.connect(port)
        await rx.registered_and_joined("receiver")
        tx = await RawClient.connect(port)
        await tx.registered_and_joined("sender")
        for i in range(3000):
            tx.send(f"PRIVMSG #general :flood {i}")
        seen: list[str] = []
        while len(seen) < 300:
            m = await rx.expect("PRIVMSG")
            seen.append(m.params[1])
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        # drain what was already in the receiver's socket before the kill
        try:
            while True:
                m = await rx.expect("PRIVMSG", timeout=0.5)
                seen.append(m.params[1])
        except (AssertionError, ConnectionError):
            pass
        await rx.close()
        await tx.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert len(seen) >= 300
    cfg = make_config(tmp_path, limits={"messages_per_period": 100000})
    cfg = __import__("dataclasses").replace(
        cfg, storage=__import__("dataclasses").replace(cfg.storage, state_file=str(state))
    )
    srv = Server(cfg)
    try:
        history = [p.text for p in srv.messenger.rooms["#general"].history]
        # everything the receiver saw is there, in the same order, with nothing in between
        start_i = history.index(seen[0])
        assert history[start_i : start_i + len(seen)] == seen
        assert [int(t.split()[1]) for t in history] == list(range(len(history)))
    finally:
        srv.store.close()


async def test_msgids_keep_their_prefix_across_restarts_before_any_snapshot(
    tmp_path: Path,
) -> None:
    cfg = make_config(tmp_path)
    first = Server(cfg)
    sid = first.messenger.server_id
    first.store.close()  # "killed": no snapshot was ever written
    second = Server(cfg)
    assert second.messenger.server_id == sid
    second.store.close()


async def test_account_never_acknowledged_still_gets_its_private_messages(cfg: Config) -> None:
    srv = await start(cfg)
    try:
        alice = await client(srv)
        alice.auto_pong = False  # type: ignore[attr-defined]
        await alice.registered_and_joined("alice", password="pw")
        await alice.close()  # gone before acknowledging anything
        bob = await client(srv)
        await bob.registered_and_joined("bob")
        bob.send("PRIVMSG alice :are you there?")
        await bob.sync()
        alice = await client(srv)
        await alice.registered_and_joined("alice", password="pw")
        got = await alice.collect_until(
            lambda m: m.command == "NOTICE" and "End of replay" in m.params[1]
        )
        assert privmsgs(got) == [("alice", "are you there?")]
        await alice.close()
        await bob.close()
    finally:
        await srv.stop()


async def test_offline_notice_once_per_recipient(cfg: Config) -> None:
    srv = await start(cfg)
    try:
        alice = await client(srv)
        await alice.registered_and_joined("alice", password="pw")
        await alice.close()
        bob = await client(srv)
        await bob.registered_and_joined("bob")
        bob.send("PRIVMSG alice :one", "PRIVMSG alice :two", "PRIVMSG alice :three")
        await bob.sync()
        assert sum("is offline" in line for line in bob.lines) == 1
        await bob.close()
    finally:
        await srv.stop()
