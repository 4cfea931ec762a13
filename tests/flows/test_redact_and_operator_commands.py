"""REDACT, KILL, WALLOPS, INFO, LINKS, HELP, extended-join, SETNAME and CHGHOST on the real
server (port 0, raw sockets), against the specs: ircv3.net/specs/extensions/message-redaction,
extended-join, setname, chghost; modern.ircdocs.horse "KILL message", "WALLOPS message",
"INFO message", "LINKS message", "HELP message"."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from ircd.config import Config, OperatorConfig
from ircd.messenger.passwords import hash_password
from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient, make_config

RED = "message-tags echo-message batch server-time draft/chathistory draft/message-redaction"


def with_root(tmp_path: Path) -> Config:
    return dataclasses.replace(
        make_config(tmp_path),
        operators=(OperatorConfig(name="root", password_hash=hash_password("opsecret")),),
    )


async def client(srv: Server, nick: str, **kw: str) -> RawClient:
    c = await RawClient.connect(srv.port)
    await c.registered_and_joined(nick, **kw)
    return c


async def test_redact_is_relayed_and_the_deletion_survives_a_restart(tmp_path: Path) -> None:
    """Spec "Command" (forwarded to members with the capability) and "Chat history"
    (excluded entirely), across a restart from the journal."""
    cfg = with_root(tmp_path)
    srv = Server(cfg)
    await srv.start()
    try:
        alice = await client(srv, "alice", password="alicepw", caps=RED)
        bob = await client(srv, "bob", password="bobpw", caps=RED)
        plain = await client(srv, "plain", caps="message-tags")
        alice.send("PRIVMSG #general :keep me", "PRIVMSG #general :delete me")
        echo = await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == "delete me")
        mid = echo.tags["msgid"]
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == "delete me")
        alice.send(f"REDACT #general {mid} :typo")
        for c in (alice, bob):
            got = await c.expect("REDACT")
            assert got.params == ("#general", mid, "typo")
            assert got.source is not None and got.source.startswith("alice!")
        await plain.sync()
        assert not any(" REDACT " in line for line in plain.lines)
        bob.send("REDACT #general nonexistent123")
        fail = await bob.expect("FAIL")
        assert fail.params[:4] == ("REDACT", "UNKNOWN_MSGID", "#general", "nonexistent123")
    finally:
        await asyncio.wait_for(srv.stop(), TIMEOUT)
    srv = Server(cfg)  # the journal and snapshot are read again
    await srv.start()
    try:
        bob = await client(srv, "bob", password="bobpw", caps=RED)
        await bob.sync()
        bob.send("CHATHISTORY LATEST #general * 10")
        batch = await bob.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
        texts = [m.params[1] for m in batch if m.command == "PRIVMSG"]
        assert "keep me" in texts and "delete me" not in texts
    finally:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


async def test_kill_wallops_info_links_help(tmp_path: Path) -> None:
    srv = Server(with_root(tmp_path))
    await srv.start()
    try:
        root = await client(srv, "root")
        alice = await client(srv, "alice")
        bob = await client(srv, "bob")
        bob.send("MODE bob +w")
        await bob.expect("MODE")
        alice.send("KILL bob :nope", "WALLOPS :nope")
        await alice.expect("481")  # KILL
        await alice.expect("481")  # WALLOPS
        root.send("OPER root opsecret")
        await root.expect("381")
        root.send("WALLOPS :hi everyone")
        got = await bob.expect("WALLOPS")
        assert got.params == ("hi everyone",) and got.source is not None
        assert got.source.startswith("root!")
        await alice.sync()
        assert not any("WALLOPS" in line for line in alice.lines)
        root.send("KILL alice :some arbitrary reason")
        why = "Killed (root (some arbitrary reason))"
        assert (await alice.expect("KILL")).params == ("alice", "some arbitrary reason")
        assert why in (await alice.expect("ERROR")).params[0]
        assert await asyncio.wait_for(alice.reader.read(), TIMEOUT) == b""  # closed
        assert (await bob.expect(lambda m: m.command == "QUIT")).params == (why,)
        root.send("INFO")
        info = await root.collect_until("374")
        assert {m.command for m in info if m.command in ("371", "374")} == {"371", "374"}
        root.send("LINKS")
        links = await root.collect_until("365")
        assert [m.command for m in links][-2:] == ["364", "365"]
        root.send("HELP REDACT", "HELPOP NOSUCHTOPIC")
        help_ = await root.collect_until("706")
        assert help_[-1].params[1] == "REDACT" and any(m.command == "705" for m in help_)
        assert (await root.expect("524")).params[1] == "NOSUCHTOPIC"
    finally:
        await asyncio.wait_for(srv.stop(), TIMEOUT)


async def test_extended_join_setname_chghost(tmp_path: Path) -> None:
    srv = Server(with_root(tmp_path))
    await srv.start()
    try:
        root = await client(srv, "root")
        root.send("OPER root opsecret")
        await root.expect("381")
        watcher = await client(srv, "watcher", caps="extended-join setname chghost")
        plain = await client(srv, "plain")
        joiner = await RawClient.connect(srv.port)
        joiner.send("PASS joinerpw", "NICK joiner", "USER j 0 * :Joe Joiner")
        await joiner.expect("366")
        join = await watcher.expect(
            lambda m: (
                m.command == "JOIN" and m.source is not None and m.source.startswith("joiner!")
            )
        )
        assert join.params == ("#general", "joiner", "Joe Joiner")
        got = await plain.expect(
            lambda m: (
                m.command == "JOIN" and m.source is not None and m.source.startswith("joiner!")
            )
        )
        assert got.params == ("#general",)
        joiner.send("SETNAME :Joseph")
        assert (await watcher.expect("SETNAME")).params == ("Joseph",)
        old_mask = join.source
        root.send("CHGHOST joiner cloak/joiner")
        chg = await watcher.expect("CHGHOST")
        assert chg.source == old_mask and chg.params == ("~j", "cloak/joiner")
        assert (await joiner.expect("396")).params[1] == "cloak/joiner"
        await plain.sync()
        assert not any("SETNAME" in line or "CHGHOST" in line for line in plain.lines)
    finally:
        await asyncio.wait_for(srv.stop(), TIMEOUT)
