"""End-to-end with the real irssi (Debian package) driven in tmux against ``python -m ircd``
as a subprocess; a raw-socket peer (``bob``) on the other side. See ``terminal.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import RawClient
from tests.e2e.terminal import (
    STAMP,
    START_TIMEOUT,
    IrcdProcess,
    Irssi,
    Tmux,
    bob_joins,
    chat_scenario,
    joined,
    quit_,
    replay_scenario,
    token,
)

pytestmark = pytest.mark.skipif(
    shutil.which("irssi") is None or shutil.which("tmux") is None,
    reason="needs irssi and tmux (apt-get install irssi tmux)",
)


async def test_irssi_lands_in_general_and_chats(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(ircd.port, peers)
    await chat_scenario(Irssi(tmux, tmp_path / "irssi", "alice"), ircd, bob)


async def test_irssi_account_gets_unread_replay_once(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(ircd.port, peers)
    await replay_scenario(Irssi(tmux, tmp_path / "irssi", "alice"), ircd, bob)


async def test_irssi_unread_survives_server_restart(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(ircd.port, peers)
    alice = Irssi(tmux, tmp_path / "irssi", "alice")
    alice.start(ircd.port, password="secret")
    await bob.expect(joined("alice"), timeout=START_TIMEOUT)
    # the per-account setting that makes replayed lines carry their original time as text
    alice.type("/msg Messenger set timestamps always")
    await alice.show_window("Messenger", r"timestamps is now always")
    alice.type(alice.disconnect_command())
    await bob.expect(quit_("alice"))
    in_channel, in_private = token("before restart "), token("dm before restart ")
    bob.send(f"PRIVMSG #general :{in_channel}", f"PRIVMSG alice :{in_private}")
    await bob.sync()
    await bob.close()

    assert ircd.stop() == 0, ircd.log_tail()  # SIGTERM: a clean exit, state saved
    ircd.start()

    alice.type(alice.connect_command(ircd.port, "secret"))
    # the account, its setting and its unread cursor came back from the state file
    await alice.show_window("#general", alice.said("bob", in_channel, STAMP))
    await alice.show_window("bob", alice.said("bob", in_private, STAMP))
