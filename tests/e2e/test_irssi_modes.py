"""End-to-end with the real irssi: channel modes as a user meets them. A channel key
(Modern IRC, key channel mode: 475 ERR_BADCHANNELKEY, then JOIN with the key), an invitation
to an invite-only channel (Modern IRC, INVITE and +i: the INVITE message, then JOIN), and a
ban (474 ERR_BANNEDFROMCHAN); the peer ``bob`` is a raw socket that runs the channels."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import RawClient
from tests.e2e.terminal import (
    PANE_TIMEOUT,
    START_TIMEOUT,
    IrcdProcess,
    Irssi,
    Match,
    Tmux,
    bob_joins,
    compact,
    joined,
)

pytestmark = pytest.mark.skipif(
    shutil.which("irssi") is None or shutil.which("tmux") is None,
    reason="needs irssi and tmux (apt-get install irssi tmux)",
)


async def in_status(client: Irssi, pattern: str, timeout: float = PANE_TIMEOUT) -> None:
    """Switch irssi to its status window, where it shows join errors and invitations, and
    poll its screen until it shows ``pattern``."""
    client.type("/window 1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not re.search(pattern, client.screen()):
        if loop.time() > deadline:
            raise AssertionError(f"irssi never showed {pattern!r}:\n{compact(client.screen())}")
        await asyncio.sleep(0.1)


def is_join(nick: str, chan: str) -> Match:
    return lambda m: m.command == "JOIN" and m.source.startswith(f"{nick}!") and m.params[0] == chan


async def test_irssi_key_invite_and_ban(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(ircd.port, peers)
    bob.send("JOIN #vault", "MODE #vault +k sesame", "JOIN #club", "MODE #club +i")
    bob.send("JOIN #den", "MODE #den +b alice!*@*")
    await bob.expect(lambda m: m.command == "MODE" and m.params[:2] == ("#den", "+b"))
    alice = Irssi(tmux, tmp_path / "irssi", "alice")
    alice.start(ircd.port)
    await bob.expect(joined("alice"), timeout=START_TIMEOUT)
    await alice.show_window("#general", r"alice\b.*\bjoined #general")

    # a key: refused without it (irssi says why), joined with it
    alice.type("/join #vault")
    await in_status(alice, r"Cannot join to channel #vault \(Bad channel key\)")
    alice.type("/join #vault sesame")
    await bob.expect(is_join("alice", "#vault"))
    await alice.show_window("#vault", r"alice\b.*\bjoined #vault")

    # invite-only: refused, then bob invites alice and she joins
    alice.type("/join #club")
    await in_status(alice, r"Cannot join to channel #club \(You must be invited\)")
    bob.send("INVITE alice #club")
    assert (await bob.expect("341")).params == ("bob", "alice", "#club")
    await in_status(alice, r"bob .*invites you to #club")
    alice.type("/join #club")
    await bob.expect(is_join("alice", "#club"))
    await alice.show_window("#club", r"alice\b.*\bjoined #club")

    # a ban keeps her out
    alice.type("/join #den")
    await in_status(alice, r"Cannot join to channel #den \(You are banned\)")
