"""The bridge driven through piped stdin against the real server (port 0), with a raw-socket
peer on the other side."""

from __future__ import annotations

import re
from pathlib import Path

from ircd.server import Server
from tests.conftest import RawClient

from .conftest import Bridge, bridge_env, run_script

TIME = r"\[\d\d:\d\d\]"


def privmsg(target: str, text: str, sender: str):  # type: ignore[no-untyped-def]
    return lambda m: (
        m.command == "PRIVMSG"
        and m.params == (target, text)
        and (m.source or "").startswith(sender + "!")
    )


async def test_printf_hello_and_priv_then_quit(server: Server, connect, tmp_path: Path) -> None:
    """The issue's example: printf 'hello\\n/priv bob hi\\nquit\\n' | python -m bridge ..."""
    bob: RawClient = await connect()
    await bob.registered_and_joined("bob", password="bob-secret")
    rc, out, err = await run_script(
        server.port,
        ["--nick", "carol", "--password", "x"],
        "hello\n/priv bob hi\nquit\n",
        bridge_env(tmp_path),
    )
    assert rc == 0, out + err
    await bob.expect(privmsg("#general", "hello", "carol"))
    await bob.expect(privmsg("bob", "hi", "carol"))
    assert re.search(rf"^{TIME} #general <carol> hello$", out, re.M), out
    assert re.search(rf"^{TIME} \*private\* <carol → bob> hi$", out, re.M), out
    assert "Traceback" not in err


async def test_end_of_input_flushes_everything_sent(
    server: Server, connect, tmp_path: Path
) -> None:
    bob: RawClient = await connect()
    await bob.registered_and_joined("bob")
    script = "".join(f"line {i}\n" for i in range(30))  # no quit: stdin just ends
    rc, out, err = await run_script(
        server.port,
        ["--nick", "carol", "--password", "x", "--backlog", "0"],
        script,
        bridge_env(tmp_path),
    )
    assert rc == 0, out + err
    for i in range(30):
        await bob.expect(privmsg("#general", f"line {i}", "carol"))


async def test_offline_recipient_gets_the_private_message_later(
    server: Server, connect, tmp_path: Path
) -> None:
    first: RawClient = await connect()
    await first.registered_and_joined("bob", password="bob-secret")  # bob has an account
    await first.sync()  # ...and has acknowledged his first delivery (answered PING :ack-N)
    first.send("QUIT :bye")
    rc, out, _ = await run_script(
        server.port,
        ["--nick", "carol", "--password", "x"],
        "/priv bob are you there?\n",
        bridge_env(tmp_path),
    )
    assert rc == 0
    assert "* bob is offline; your message will be delivered when they connect" in out
    again: RawClient = await connect()
    await again.registered_and_joined("bob", password="bob-secret")
    await again.expect(lambda m: m.command == "PRIVMSG" and m.params[-1].endswith("are you there?"))


async def test_first_line_may_choose_the_nick_and_hints_never_crash(
    server: Server, tmp_path: Path
) -> None:
    script = "/nickname dora\n/bogus\n/priv\n/delay soon hi\n/cancel x\n/help cancel\n/quit\n"
    rc, out, err = await run_script(server.port, ["--password", "pw"], script, bridge_env(tmp_path))
    assert rc == 0, out + err
    lines = out.splitlines()
    assert "*** Connected to irc.messenger.local as dora" in lines
    expected = [
        "! Unknown command /bogus. Try /help",
        "! Usage: /priv <nick> <message>",
        "! 'soon' is not a duration: use minutes (5) or 90s, 15m, 2h, 1h30m, 1d. "
        "Usage: /delay <minutes|90s|15m|2h|1h30m|1d> [<#channel|nick>] <message>",
        "! Usage: /cancel <id>",
        "/cancel <id>  — cancel a scheduled message",
    ]
    assert [x for x in lines if x in expected] == expected
    assert "Traceback" not in err


async def test_wrong_password_exits_1_without_retrying(
    server: Server, connect, tmp_path: Path
) -> None:
    alice: RawClient = await connect()
    await alice.registered_and_joined("alice", password="right")
    alice.send("QUIT")
    rc, out, err = await run_script(
        server.port, ["--nick", "alice", "--password", "wrong"], "hello\n", bridge_env(tmp_path)
    )
    assert rc == 1
    assert "! Login refused: Password incorrect" in out
    assert out.count("Connecting to") == 1
    assert "Traceback" not in err


async def test_no_server_exits_1(tmp_path: Path, unused_tcp_port: int) -> None:
    rc, out, _ = await run_script(
        unused_tcp_port, ["--nick", "carol"], "hello\n", bridge_env(tmp_path)
    )
    assert rc == 1
    assert f"! Cannot connect to 127.0.0.1:{unused_tcp_port}: connection refused" in out
    assert "! Giving up" in out


async def test_a_session(server: Server, connect, bridge) -> None:
    """Everything a user does, one command at a time, against a raw peer."""
    bob: RawClient = await connect()
    await bob.registered_and_joined("bob", password="bob-secret")
    bob.send("PRIVMSG #general :said before alice came")
    await bob.sync()

    alice: Bridge = await bridge(server.port, "--nick", "alice", "--password", "pw")
    await alice.expect(r"^\*\*\* Connected to irc\.messenger\.local as alice$")
    # first visit: recent history of #general, with times
    block = await alice.collect_until(r"^=== end of history of #general \(1 message\) ===$")
    assert "=== history of #general ===" in block
    assert any(re.fullmatch(rf"{TIME} #general <bob> said before alice came", x) for x in block)

    # incoming, live: channel and private
    bob.send("PRIVMSG #general :hi alice", "PRIVMSG alice :psst")
    await alice.expect(rf"^{TIME} #general <bob> hi alice$")
    await alice.expect(rf"^{TIME} \*private\* <bob → alice> psst$")

    # outgoing
    await alice.send("hello bob", "/priv bob hi yourself", "/me waves")
    await bob.expect(privmsg("#general", "hello bob", "alice"))
    await bob.expect(privmsg("bob", "hi yourself", "alice"))
    await bob.expect(privmsg("#general", "\x01ACTION waves\x01", "alice"))
    await alice.expect(rf"^{TIME} #general <alice> hello bob$")
    await alice.expect(rf"^{TIME} \*private\* <alice → bob> hi yourself$")
    await alice.expect(rf"^{TIME} #general \* alice waves$")

    # delayed messages: to the channel, to a nick, listed, cancelled
    await alice.send("/delay 1s #general soon")
    line = await alice.expect(r"^\* Scheduled message #\d+ to #general for \d\d:\d\d")
    first_id = re.search(r"#(\d+)", line).group(1)  # type: ignore[union-attr]
    assert line.endswith(f"(cancel with /cancel {first_id})")
    await bob.expect(privmsg("#general", "soon", "alice"), timeout=10)
    await alice.expect(rf"^{TIME} #general <alice> soon$")
    await alice.expect(rf"^{TIME} -Messenger- Scheduled message #{first_id} to #general was sent")

    await alice.send("/delay 1s bob a secret later")  # bob is a user: private
    await alice.expect(r"^\* Scheduled message #\d+ to bob for ")
    await bob.expect(privmsg("bob", "a secret later", "alice"), timeout=10)
    await alice.expect(rf"^{TIME} \*private\* <alice → bob> a secret later$")

    # a first word that could be a nick but names nobody: refused, not posted to #general
    await alice.send("/delay 2h see you tomorrow")
    await alice.expect(r"^! delay: No user named see, so nothing was scheduled\. ")
    await alice.send("/delay 10m #general much later", "/delay 2h #general see you tomorrow")
    l1 = await alice.expect(r"^\* Scheduled message #\d+ to #general")
    l2 = await alice.expect(r"^\* Scheduled message #\d+ to #general")
    id1 = re.search(r"#(\d+)", l1).group(1)  # type: ignore[union-attr]
    id2 = re.search(r"#(\d+)", l2).group(1)  # type: ignore[union-attr]
    await alice.send("/delays")
    listing = await alice.collect_until(r"^\* 2 scheduled messages$")
    assert any(re.fullmatch(rf"  #{id1} to #general at \d\d:\d\d: much later", x) for x in listing)
    assert any(
        re.fullmatch(rf"  #{id2} to #general at \d\d:\d\d: see you tomorrow", x) for x in listing
    )
    await alice.send(f"/cancel {id1}")
    await alice.expect(rf"^\* Scheduled message #{id1} cancelled$")
    await alice.send(f"/cancel {id1}")
    await alice.expect(rf"^! delay: No scheduled message #{id1} of yours$")
    await alice.send("/delays")
    listing = await alice.collect_until(r"^\* 1 scheduled message$")
    assert not any(f"#{id1} " in x for x in listing)

    # complaints
    await alice.send("/complaint bob spamming", "/complaint zed")
    await alice.expect(r"^\* Your complaint about bob was recorded \(1 of 3 needed to mute\)\.$")
    await alice.expect(r"^! complaint: No such user: zed$")

    # who, history, unread, join/part
    await alice.send("/who")
    line = await alice.expect(r"^\*\*\* /who #general: ")
    assert "alice" in line and "bob" in line
    await alice.send("/history 2")
    block = await alice.collect_until(r"^=== end of history of #general \(2 messages\) ===$")
    assert block[0] == "=== history of #general ==="
    await alice.send("/unread")
    await alice.expect(r"-irc\.messenger\.local- No unread messages since your last visit\.$")
    await alice.send("/join #side", "in the side room", "/part", "back in general")
    await alice.expect(r"^\*\*\* You joined #side$")
    await alice.expect(rf"^{TIME} #side <alice> in the side room$")
    await alice.expect(r"^\*\*\* You left #side$")
    await alice.expect(rf"^{TIME} #general <alice> back in general$")

    # server errors are readable lines
    await alice.send("/priv nobody hello?")
    await alice.expect(r"^! nobody: No such nick/channel$")

    assert await alice.finish() == 0
    assert "Traceback" not in alice.stderr


async def test_password_from_env_or_remembered(server: Server, tmp_path: Path) -> None:
    env = bridge_env(tmp_path)
    rc, out, err = await run_script(
        server.port, ["--nick", "erin", "--password", "pw1", "--remember"], "", env
    )
    assert rc == 0, out + err
    stored = tmp_path / "config" / "messenger" / "credentials.json"
    assert f"Password remembered in {stored}" in err
    assert stored.stat().st_mode & 0o777 == 0o600
    # no --password: the remembered one logs erin in
    rc, out, _ = await run_script(server.port, ["--nick", "erin"], "", env)
    assert rc == 0
    assert "*** Logged in as erin" in out
    # $MESSENGER_PASSWORD comes before the remembered one
    rc, out, _ = await run_script(
        server.port, ["--nick", "erin"], "", {**env, "MESSENGER_PASSWORD": "wrong"}
    )
    assert rc == 1
    assert "! Login refused: Password incorrect" in out
    rc, out, err = await run_script(server.port, ["--nick", "erin", "--forget"], "", env)
    assert "Forgot the password of erin" in err
    assert "Logged in" not in out  # a guest now: and the nick is taken by the account
    assert rc == 1


async def test_delete_removes_my_last_message_for_everyone(
    server: Server, connect, tmp_path: Path
) -> None:
    """/delete sends REDACT for the newest message of this run (draft/message-redaction),
    and the peer with the capability is told; a second /delete finds nothing left."""
    bob: RawClient = await connect()
    await bob.registered_and_joined("bob", caps="message-tags draft/message-redaction")
    rc, out, err = await run_script(
        server.port,
        ["--nick", "carol", "--password", "x", "--backlog", "0"],
        "keep this\noops\n/delete\n/delete #general\n/delete\nquit\n",
        bridge_env(tmp_path),
    )
    assert rc == 0, out + err
    first = await bob.expect(privmsg("#general", "keep this", "carol"))
    oops = await bob.expect(privmsg("#general", "oops", "carol"))
    got = [await bob.expect("REDACT") for _ in range(2)]
    assert [m.params for m in got] == [
        ("#general", oops.tags["msgid"]),
        ("#general", first.tags["msgid"]),
    ]
    assert re.search(rf"^{TIME} #general \* You deleted your message: oops$", out, re.M), out
    assert "! No message of yours to #general to delete (sent on this run)" in out, out
