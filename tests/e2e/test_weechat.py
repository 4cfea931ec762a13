"""End-to-end with the real WeeChat (``apt-get install weechat-curses``) driven in tmux, the
same scenarios as irssi; skipped when WeeChat is not installed. See ``terminal.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import RawClient
from tests.e2e.terminal import (
    IrcdProcess,
    Tmux,
    WeeChat,
    bob_joins,
    chat_scenario,
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
