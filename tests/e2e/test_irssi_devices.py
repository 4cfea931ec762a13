"""Issue 13, section 4, with the real irssi: irssi and a raw client logged in as one account
(two devices). What the raw device sends shows in irssi as alice's own lines (irssi negotiates
znc.in/self-message: a private copy goes into the query with bob), bob sees one JOIN and no QUIT
when the raw device leaves, and irssi goes on. See ``terminal.py`` for the harness."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import RawClient
from tests.e2e.terminal import (
    START_TIMEOUT,
    IrcdProcess,
    Irssi,
    Tmux,
    bob_joins,
    joined,
    privmsg,
    token,
)

pytestmark = pytest.mark.skipif(
    shutil.which("irssi") is None or shutil.which("tmux") is None,
    reason="needs irssi and tmux (apt-get install irssi tmux)",
)


async def test_irssi_shows_what_another_device_of_its_account_sent_as_its_own(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(ircd.port, peers)
    alice = Irssi(tmux, tmp_path / "irssi", "alice")
    alice.start(ircd.port, password="secret")
    await bob.expect(joined("alice"), timeout=START_TIMEOUT)
    await alice.show_window("#general", r"alice\b.*\bjoined #general")

    raw = await RawClient.connect(ircd.port)
    peers.append(raw)
    await raw.register("alice", password="secret")
    await raw.expect("366")
    in_channel, in_private = token("from the other device "), token("dm from the other device ")
    raw.send(f"PRIVMSG #general :{in_channel}", f"PRIVMSG bob :{in_private}")
    await bob.expect(privmsg("alice", "#general", in_channel))
    await bob.expect(privmsg("alice", "bob", in_private))
    await alice.show_window("#general", alice.said("alice", in_channel))
    await alice.show_window("bob", alice.said("alice", in_private))  # the query with bob

    raw.send("QUIT :the other device leaves")
    await raw.expect("ERROR")
    reply = token("still there ")
    bob.send(f"PRIVMSG alice :{reply}")
    await alice.show_window("bob", alice.said("bob", reply))
    await bob.sync()
    joins = [line for line in bob.lines if line.startswith(":alice!") and " JOIN " in line]
    assert len(joins) == 1  # irssi's; the raw device's arrival was not shown
    assert not [line for line in bob.lines if " QUIT " in line]
