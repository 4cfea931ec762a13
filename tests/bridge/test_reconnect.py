"""The server goes away and comes back: the bridge reconnects with backoff and shows what it
missed (UNREAD) on return."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from ircd.server import Server
from tests.conftest import RawClient

from .conftest import TIMEOUT, Bridge, bridge_config

TIME = r"\[\d\d:\d\d\]"


async def test_reconnects_and_catches_up(server: Server, connect, bridge, tmp_path: Path) -> None:
    port = server.port
    bob: RawClient = await connect()
    await bob.registered_and_joined("bob", password="bob-secret")
    alice: Bridge = await bridge(port, "--nick", "alice", "--password", "pw")
    await alice.expect(r"^\*\*\* Connected to irc\.messenger\.local as alice$")
    await alice.expect(r"^=== no stored messages for #general ===$")  # first visit: history
    bob.send("PRIVMSG #general :before the restart")
    await alice.expect(rf"^{TIME} #general <bob> before the restart$")

    await asyncio.wait_for(server.stop(), TIMEOUT)
    await alice.expect(r"^\*\*\* Disconnected: Closing link: Server shutting down$")
    await alice.expect(r"^\*\*\* Reconnecting in [\d.]+s\.\.\.$")
    # while it waits (twice, so the next attempt is at least ~1.6s away), the server returns
    # with the same state file and bob writes what alice will have missed
    await alice.expect(rf"^! Cannot connect to 127\.0\.0\.1:{port}: connection refused$")
    await alice.expect(rf"^! Cannot connect to 127\.0\.0\.1:{port}: connection refused$")
    again = Server(bridge_config(tmp_path, server={"port": port}))
    await again.start()
    try:
        bob2 = await RawClient.connect(port)
        await bob2.registered_and_joined("bob", password="bob-secret")
        bob2.send("PRIVMSG #general :while you were away", "PRIVMSG alice :missed you")
        await bob2.sync()

        await alice.expect(r"^\*\*\* Connected to irc\.messenger\.local as alice$", timeout=15)
        # (the server may count "before the restart" too, if alice's last acknowledgement
        # did not make it before the stop; the bridge never shows a message twice)
        block = await alice.collect_until(rf"^{TIME} -irc\.messenger\.local- You had \d unread")
        text = "\n".join(block)
        assert re.search(r"^\*\*\* [23] unread messages waiting for you$", text, re.M)
        start = block.index("=== unread in #general ===")
        assert re.fullmatch(rf"{TIME} #general <bob> while you were away", block[start + 1])
        assert block[start + 2] == "=== end of unread in #general (1 message) ==="
        start = block.index("=== unread with bob ===")
        assert re.fullmatch(rf"{TIME} \*private\* <bob → alice> missed you", block[start + 1])
        assert block[start + 2] == "=== end of unread with bob (1 message) ==="
        # what was already shown is not shown again
        assert "before the restart" not in text

        # and the conversation goes on
        await alice.send("back again")
        await bob2.expect(
            lambda m: m.command == "PRIVMSG" and m.params == ("#general", "back again")
        )
        assert await alice.finish() == 0
        await bob2.close()
    finally:
        await asyncio.wait_for(again.stop(), TIMEOUT)
