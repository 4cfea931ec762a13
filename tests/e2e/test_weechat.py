"""End-to-end with the real WeeChat (``apt-get install weechat-curses``) driven in tmux, the
same scenarios as irssi; skipped when WeeChat is not installed. See ``terminal.py``."""

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
    Tmux,
    WeeChat,
    bob_joins,
    chat_scenario,
    compact,
    joined,
    replay_scenario,
)

pytestmark = pytest.mark.skipif(
    shutil.which("weechat") is None or shutil.which("tmux") is None,
    reason="needs weechat and tmux (apt-get install weechat-curses tmux)",
)


async def test_weechat_lands_in_general_and_chats(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(ircd.port, peers)
    await chat_scenario(WeeChat(tmux, tmp_path / "weechat", "carol"), ircd, bob)


async def test_weechat_account_gets_unread_replay_once(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(ircd.port, peers)
    await replay_scenario(WeeChat(tmux, tmp_path / "weechat", "carol"), ircd, bob)


async def test_weechat_notify_uses_monitor(
    ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    """WeeChat's /notify uses MONITOR when the server offers it (IRCv3 monitor,
    https://ircv3.net/specs/extensions/monitor): it says when the nick connects and quits,
    without polling ISON."""
    bob = await bob_joins(ircd.port, peers)
    carol = WeeChat(tmux, tmp_path / "weechat", "carol")
    # notify lines go to the server buffer: a buffer of its own, not merged with WeeChat's
    carol.start(ircd.port, None, "/set irc.look.server_buffer independent")
    await bob.expect(joined("carol"), timeout=START_TIMEOUT)
    await carol.show_window("#general", r"carol\b.*\bjoined #general")
    carol.type("/notify add dave e2e")
    # 731 for MONITOR + dave (WeeChat sends it on its notify timer, a few seconds after /notify)
    await _server_buffer_shows(carol, r"notify: dave is offline", timeout=2 * PANE_TIMEOUT)
    dave = await RawClient.connect(ircd.port)
    peers.append(dave)
    await dave.registered_and_joined("dave")
    # at once, from 730 (WeeChat polls ISON only once a minute)
    await _server_buffer_shows(carol, r"notify: dave \(~dave@127\.0\.0\.1\) has connected")
    dave.send("QUIT :bye")
    await _server_buffer_shows(carol, r"notify: dave has quit")


async def _server_buffer_shows(
    client: WeeChat, pattern: str, timeout: float = PANE_TIMEOUT
) -> None:
    """Go to the server buffer (its status bar reads "server[e2e]") and poll the screen every
    0.1 s until it shows ``pattern`` (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    client.type(f"/buffer server.{client.server}")
    while True:
        screen = client.screen()
        if re.search(pattern, screen) and "server[e2e]" in screen:
            return
        if loop.time() > deadline:
            raise AssertionError(
                f"weechat's server buffer never showed {pattern!r}:\n{compact(screen)}"
            )
        await asyncio.sleep(0.1)
