"""A server operator in the real irssi: OPER, REDACT of a spam message (irssi has no
draft/message-redaction, so it sends it with /quote and is answered with a notice), and KILL of
the spammer, whose QUIT irssi shows in #general (modern.ircdocs.horse "KILL message": "Killed
(<killer> (<reason>))"). The raw peers on the other side check what went on the wire."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ircd.messenger.passwords import hash_password
from tests.conftest import RawClient
from tests.e2e.terminal import START_TIMEOUT, IrcdProcess, Irssi, Tmux, joined, privmsg

pytestmark = pytest.mark.skipif(
    shutil.which("irssi") is None or shutil.which("tmux") is None,
    reason="needs irssi and tmux (apt-get install irssi tmux)",
)


@pytest.fixture
def oper_ircd(tmp_path: Path) -> Iterator[IrcdProcess]:
    srv = IrcdProcess(tmp_path)
    srv.config.write_text(
        f'[[operators]]\nname = "root"\npassword_hash = "{hash_password("opsecret")}"\n'
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_irssi_operator_deletes_spam_and_kills_the_spammer(
    oper_ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    watcher = await RawClient.connect(oper_ircd.port)
    peers.append(watcher)
    await watcher.registered_and_joined("watcher", caps="message-tags draft/message-redaction")
    alice = Irssi(tmux, tmp_path / "irssi", "alice")
    alice.start(oper_ircd.port, password="pw")
    await watcher.expect(joined("alice"), timeout=START_TIMEOUT)
    await alice.show_window("#general", r"alice\b.*\bjoined #general")
    alice.type("/oper root opsecret")
    await alice.show_window("(status)", r"You are now an IRC operator")

    spammer = await RawClient.connect(oper_ircd.port)
    peers.append(spammer)
    await spammer.registered_and_joined("spammer", caps="message-tags echo-message")
    spammer.send("PRIVMSG #general :buy cheap stuff")
    echo = await spammer.expect(privmsg("spammer", "#general", "buy cheap stuff"))
    msgid = echo.tags["msgid"]
    await alice.show_window("#general", alice.said("spammer", "buy cheap stuff"))

    alice.type(f"/quote REDACT #general {msgid} :spam")
    got = await watcher.expect("REDACT")
    assert got.params == ("#general", msgid, "spam") and (got.source or "").startswith("alice!")
    await alice.show_window("(status)", re.escape(f"Message {msgid} in #general deleted."))

    alice.type("/kill spammer no spam here")
    why = "Killed (alice (no spam here))"
    assert (await spammer.expect("KILL")).params == ("spammer", "no spam here")
    assert why in (await spammer.expect("ERROR")).params[0]
    await alice.show_window("#general", r"spammer\b.*has quit.*" + re.escape(why))
