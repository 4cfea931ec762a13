"""Accounts (SASL, REGISTER, login throttling) and pulled history (CHATHISTORY, MARKREAD,
UNREAD) on the real server."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from ircd.config import Config
from ircd.irc.timefmt import iso_time
from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient, make_config


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path, limits={"messages_per_period": 1000})


@pytest.fixture
async def srv(cfg: Config):
    s = Server(cfg)
    await s.start()
    yield s
    await s.stop()


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"{user}\0{user}\0{password}".encode()).decode()


async def sasl_login(c: RawClient, nick: str, password: str) -> list:
    c.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    await c.expect(lambda m: m.command == "CAP" and m.params[1] == "ACK")
    c.send("AUTHENTICATE PLAIN")
    await c.expect(lambda m: m.command == "AUTHENTICATE" and m.params == ("+",))
    c.send(f"AUTHENTICATE {plain(nick, password)}")
    return await c.collect_until(lambda m: m.command in ("903", "904"))


async def test_sasl_plain_registers_then_logs_in_and_refuses_bad_password(srv: Server) -> None:
    a = await RawClient.connect(srv.port)
    got = await sasl_login(a, "alice", "s3cret")
    assert [m.command for m in got][-2:] == ["900", "903"]
    assert got[-2].params[2] == "alice"
    a.send("CAP END")
    await a.expect("001")
    await a.expect("366")
    a.send("QUIT")
    await a.close()
    b = await RawClient.connect(srv.port)
    got = await sasl_login(b, "alice", "wrong")
    assert got[-1].command == "904"
    b.send("CAP END")
    # the nick is not given without the password
    await b.expect("433")
    await b.close()
    c = await RawClient.connect(srv.port)
    got = await sasl_login(c, "alice", "s3cret")
    assert got[-1].command == "903"
    c.send("CAP END")
    await c.expect("001")
    c.send("WHOIS alice")
    acct = await c.expect("330")
    assert acct.params[1:3] == ("alice", "alice")
    await c.close()


async def test_register_turns_a_guest_into_an_account(srv: Server) -> None:
    g = await RawClient.connect(srv.port)
    await g.registered_and_joined("dora", caps="draft/account-registration")
    g.send("REGISTER * * hunter22")
    ok = await g.expect("REGISTER")
    assert ok.params[:2] == ("SUCCESS", "dora")
    g.send("REGISTER * * again!!")
    fail = await g.expect("FAIL")  # the cap's own standard reply (draft/account-registration)
    assert fail.params[:2] == ("REGISTER", "ALREADY_AUTHENTICATED")
    assert "logged in" in fail.params[-1]
    await g.close()
    h = await RawClient.connect(srv.port)
    h.send("NICK dora", "USER d 0 * :d")
    await h.expect("433")
    await h.close()
    i = await RawClient.connect(srv.port)
    await i.registered_and_joined("dora", password="hunter22")
    await i.close()


async def test_failed_logins_are_throttled_per_ip(srv: Server) -> None:
    a = await RawClient.connect(srv.port)
    await a.registered_and_joined("alice", password="right")
    await a.close()
    for _ in range(srv.config.accounts.login_failures_per_minute):
        c = await RawClient.connect(srv.port)
        c.send("PASS wrong", "NICK alice", "USER a 0 * :a")
        got = await c.expect("464")
        assert got.params[1] == "Password incorrect"
        await c.close()
    c = await RawClient.connect(srv.port)
    c.send("PASS right", "NICK alice", "USER a 0 * :a")
    got = await c.expect("464")
    assert "Too many failed logins" in got.params[1]
    await c.close()


async def test_chathistory_and_markread(srv: Server) -> None:
    bob = await RawClient.connect(srv.port)
    await bob.registered_and_joined("bob")
    for i in range(10):
        bob.send(f"PRIVMSG #general :h{i}")
    await bob.sync()
    posts = list(srv.messenger.rooms["#general"].history)
    caps = "batch server-time message-tags draft/chathistory draft/read-marker"
    c = await RawClient.connect(srv.port)
    await c.registered_and_joined("cli", caps=caps)
    # no automatic replay for a client that pulls history
    await c.sync()
    assert not any(" PRIVMSG #general :h" in line for line in c.lines)
    assert any("MARKREAD #general *" in line for line in c.lines)

    async def history(*args: str) -> list[str]:
        c.send("CHATHISTORY " + " ".join(args))
        got = await c.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
        assert got[0].params[1] == "chathistory"
        return [m.params[1] for m in got if m.command == "PRIVMSG"]

    assert await history("LATEST", "#general", "*", "3") == ["h7", "h8", "h9"]
    assert await history("BEFORE", "#general", f"msgid={posts[5].msgid}", "2") == ["h3", "h4"]
    assert await history("AFTER", "#general", f"msgid={posts[5].msgid}", "2") == ["h6", "h7"]
    assert await history("AROUND", "#general", f"msgid={posts[5].msgid}", "3") == [
        "h4",
        "h5",
        "h6",
    ]
    ts = f"timestamp={iso_time(posts[2].time)}"
    assert (
        await history(
            "BETWEEN", "#general", f"msgid={posts[1].msgid}", f"msgid={posts[4].msgid}", "10"
        )
    ) == ["h2", "h3"]
    later = [p.text for p in posts if round(p.time * 1000) > round(posts[2].time * 1000)]
    assert await history("AFTER", "#general", ts, "100") == later
    c.send("CHATHISTORY LATEST #secret * 10")
    fail = await c.expect("FAIL")
    assert fail.params[:2] == ("CHATHISTORY", "INVALID_TARGET")
    c.send("CHATHISTORY BEFORE #general nonsense 10")
    fail = await c.expect("FAIL")
    assert fail.params[:2] == ("CHATHISTORY", "INVALID_MSGREFTYPE")
    wide = "timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z"
    c.send(f"CHATHISTORY TARGETS {wide} 10")
    got = await c.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
    assert got[0].params[1] == "draft/chathistory-targets"
    assert [m.params[1] for m in got if m.command == "CHATHISTORY"] == ["#general"]
    # read markers move forward only
    c.send(f"MARKREAD #general timestamp={iso_time(posts[5].time)}")
    got = await c.expect("MARKREAD")
    assert got.params == ("#general", f"timestamp={iso_time(posts[5].time)}")
    c.send(f"MARKREAD #general timestamp={iso_time(posts[1].time)}")
    got = await c.expect("MARKREAD")
    assert got.params == ("#general", f"timestamp={iso_time(posts[5].time)}")
    c.send("MARKREAD #general")
    got = await c.expect("MARKREAD")
    assert got.params == ("#general", f"timestamp={iso_time(posts[5].time)}")
    await c.close()
    await bob.close()


async def test_chathistory_client_pulls_unread(srv: Server) -> None:
    a = await RawClient.connect(srv.port)
    await a.registered_and_joined("alice", password="pw")
    await a.expect(lambda m: m.command == "PING" and m.params[-1].startswith("ack-"))
    await a.sync()
    await a.close()
    bob = await RawClient.connect(srv.port)
    await bob.registered_and_joined("bob")
    bob.send("PRIVMSG #general :one", "PRIVMSG alice :two")
    await bob.sync()
    caps = "batch server-time message-tags draft/chathistory standard-replies"
    a = await RawClient.connect(srv.port)
    await a.registered_and_joined("alice", password="pw", caps=caps)
    note = await a.expect("NOTE")
    assert note.params[:3] == ("UNREAD", "PENDING", "2")
    a.send("UNREAD")
    got = await a.collect_until(lambda m: m.command == "NOTICE" and "You had" in m.params[1])
    assert [(m.params[0], m.params[1]) for m in got if m.command == "PRIVMSG"] == [
        ("#general", "one"),
        ("alice", "two"),
    ]
    batches = [m.params[2] for m in got if m.command == "BATCH" and m.params[0][0] == "+"]
    assert batches == ["#general", "bob"]
    await a.expect(lambda m: m.command == "PING" and m.params[-1].startswith("ack-"))
    await a.sync()
    await a.close()
    # acknowledged: nothing pending next time
    a = await RawClient.connect(srv.port)
    await a.registered_and_joined("alice", password="pw", caps=caps)
    note = await a.expect("NOTE")
    assert note.params[:3] == ("UNREAD", "PENDING", "0")
    await a.close()
    await bob.close()


async def test_labeled_response(srv: Server) -> None:
    c = await RawClient.connect(srv.port)
    await c.registered_and_joined("lab", caps="batch labeled-response message-tags")
    c.send("@label=a1 PING :x")
    got = await c.expect("PONG")
    assert got.tags == {"label": "a1"}
    c.send("@label=a2 AWAY :gone")
    got = await c.expect("306")
    assert got.tags == {"label": "a2"}
    c.send("@label=a3 WHOIS lab")
    got = await c.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
    assert got[0].tags == {"label": "a3"} and got[0].params[1] == "labeled-response"
    assert [m.command for m in got[1:-1]][-1] == "318"
    assert all(m.tags and m.tags.get("batch") == got[0].params[0][1:] for m in got[1:-1])
    c.send("@label=a4 MODE lab +B")
    got = await c.expect("MODE")
    assert got.tags == {"label": "a4"}
    c.send("@label=a5 PONG :x")
    got = await c.expect(lambda m: m.tags is not None and m.tags.get("label") == "a5")
    assert got.command == "ACK"
    await c.close()


async def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = tmp_path / "state.json"
    conf = tmp_path / "empty.toml"
    conf.write_text("")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ircd",
        "--web-port",
        "0",
        "--port",
        str(port),
        "--state",
        str(state),
        "--config",
        str(conf),
        "--log-level",
        "WARNING",
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                c = await RawClient.connect(port)
                break
            except (OSError, asyncio.TimeoutError):
                assert loop.time() < deadline, "server did not start"
                await asyncio.sleep(0.05)
        await c.registered_and_joined("alice", password="pw")
        c.send("PRIVMSG #general :persist me")
        await c.sync()
        os.kill(proc.pid, signal.SIGTERM)
        err = await c.expect("ERROR")
        assert "shutting down" in err.params[0]
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
        await c.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert state.exists()
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    # the message is in the snapshot's segment files (written once), each also 0600
    segments = sorted(state.parent.glob(state.name + ".seg-*"))
    assert segments and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in segments)
    assert any("persist me" in p.read_text() for p in segments)
    assert all(p.name in state.read_text() for p in segments)
