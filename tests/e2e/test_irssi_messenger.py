"""issue 4's "done when", from the real irssi through ``/msg Messenger ...``: the per-period
rate limit, delayed messages (schedule, list, cancel), complaints leading to a timed mute, and
the service's help. irssi runs in tmux against ``python -m ircd`` with short limits; raw-socket
peers are the other side. See ``terminal.py`` for the harness.

What irssi (default theme) shows, as checked here:

* a numeric about a channel (404) in that channel's window:
  ``-!- #general Message not sent. Rate limit: ...``;
* a NOTICE from the service in the ``Messenger`` query window once the user has written to
  ``Messenger`` (``-Messenger(service@irc.messenger.local)- ...``), and in the status window
  otherwise (the mute notices: the muted user never wrote to the service).

irssi's own flood control (after a burst of 5 lines, one line per 2.2 s, and every PONG counts)
would spread 4 lines over more than the 6 s window used here, so the test's irssi has
``cmd_queue_speed = 0``; with the real period (an hour) the client's pacing does not matter.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timezone
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
    privmsg,
    token,
)

pytestmark = pytest.mark.skipif(
    shutil.which("irssi") is None or shutil.which("tmux") is None,
    reason="needs irssi and tmux (apt-get install irssi tmux)",
)

PER_PERIOD, PERIOD, BAN = 3, 6, 4
CONFIG = f"""\
[limits]
messages_per_period = {PER_PERIOD}
period_seconds = {PERIOD}

[moderation]
ban_seconds = {BAN}
# the complainers are new accounts from 127.0.0.1: by default they would be one voice
complaint_min_account_age = 0
"""
IRSSI_CONFIG = 'settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n'

NOTICE = r"-Messenger\(service@[^)\s]+\)- "  # irssi's line for a NOTICE from the service
UTC = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC"  # the server's human times
STATUS = "(status)"


def epoch(utc: str) -> float:
    return datetime.strptime(utc, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def from_service(text: str) -> Match:
    """A predicate: a NOTICE from the Messenger service containing ``text``."""
    return lambda m: (
        m.command == "NOTICE" and (m.source or "").startswith("Messenger!") and text in m.params[-1]
    )


@pytest.fixture
def limited_ircd(tmp_path: Path) -> Iterator[IrcdProcess]:
    srv = IrcdProcess(tmp_path)
    srv.config.write_text(CONFIG)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def irssi_alice(tmux: Tmux, tmp_path: Path, ircd: IrcdProcess, peer: RawClient) -> Irssi:
    """alice (an account: she has a password) in irssi, landed in #general."""
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text(IRSSI_CONFIG)
    alice = Irssi(tmux, home, "alice")
    alice.start(ircd.port, password="pw")
    await peer.expect(joined("alice"), timeout=START_TIMEOUT)
    await alice.show_window("#general", r"alice\b.*\bjoined #general")
    return alice


async def on_screen(client: Irssi, pattern: str, timeout: float = PANE_TIMEOUT) -> re.Match[str]:
    """Poll the current screen (no window switch) until ``pattern`` shows; the match."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        screen = client.screen()
        found = re.search(pattern, screen)
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"irssi never showed {pattern!r}:\n{compact(screen)}")
        await asyncio.sleep(0.1)


async def say(client: Irssi, text: str) -> None:
    """Type a line into #general, waiting for irssi's own echo of it (so quick lines are
    typed one by one, not taken for a paste)."""
    await client.show_window("#general", "")
    client.type(text)
    await on_screen(client, re.escape(text))


async def until(when: float, what: str) -> None:
    """Wait (polling the clock) until the wall-clock time ``when``, at most a period away."""
    left = when - time.time()
    assert left <= PERIOD + 1, f"{what} is {left:.1f}s away"
    deadline = time.monotonic() + max(left, 0) + 1
    while time.time() < when:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- 1. the rate limit


async def test_irssi_rate_limit_refuses_the_4th_and_the_next_window_accepts(
    limited_ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(limited_ircd.port, peers)
    alice = await irssi_alice(tmux, tmp_path, limited_ircd, bob)

    # windows are aligned to the period: start the burst with room left in this one
    now = time.time()
    if PERIOD - now % PERIOD < 3.0:
        await until(now - now % PERIOD + PERIOD, "the next window")
    burst = [token(f"burst {i} ") for i in range(PER_PERIOD + 1)]
    for text in burst:
        await say(alice, text)

    for text in burst[:PER_PERIOD]:
        await bob.expect(privmsg("alice", "#general", text))
    # the refusal, in the #general window, with the time the window resets
    refusal = (
        rf"-!- #general Message not sent. Rate limit: {PER_PERIOD} messages per {PERIOD} "
        rf"seconds in channels; resets at {UTC}"
    )
    screen = await alice.show_window("#general", refusal)
    found = re.search(refusal, screen)
    assert found is not None
    reset = epoch(found.group(1))
    assert reset % PERIOD == 0 and 0 < reset - time.time() <= PERIOD, found.group(0)

    # the service agrees: no quota left until that time (if the window is not over by now)
    if time.time() < reset - 0.5:
        alice.type("/msg Messenger quota")
        await alice.show_window(
            "Messenger",
            rf"{NOTICE}You can send 0 more channel messages until {re.escape(found.group(1))} UTC",
        )

    # the next window takes a message again
    await until(reset, "the window reset")
    after = token("new window ")
    await say(alice, after)
    await bob.expect(privmsg("alice", "#general", after))
    # the refused line never reached bob: it would have come before this one
    assert not any(burst[-1] in line for line in bob.lines), bob.lines[-10:]


# ---------------------------------------------------------------------- 2. delays, 4. help


async def test_irssi_help_delay_list_and_cancel_via_msg_messenger(
    limited_ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    bob = await bob_joins(limited_ircd.port, peers)
    alice = await irssi_alice(tmux, tmp_path, limited_ircd, bob)

    # help: the NOTICEs land in the Messenger query window irssi opened for the /msg
    alice.type("/msg Messenger help")
    screen = await alice.show_window("Messenger", rf"{NOTICE}Operators: complaints, bans")
    for line in (
        "Messenger service commands (send them with /msg Messenger <command>):",
        "delay <minutes|90s|2h|1h30m|1d> [#channel|nick] <text>",
        "delay at <ISO-time> [#channel|nick] <text>",
        "delays ",
        "cancel <id> ",
        "complain <nick> [reason] ",
    ):
        assert re.search(NOTICE + r"\s*" + re.escape(line), screen), (line, compact(screen))

    # a message in 2 s: confirmed on screen, then delivered to bob about 2 s later
    typed = time.monotonic()
    alice.type("/msg Messenger delay 2s #general hi later")
    found = await on_screen(
        alice,
        rf"{NOTICE}Message #(\d+) to #general scheduled for {UTC} \(in 2s\); "
        r"cancel with /msg Messenger cancel (\d+)",
    )
    first = found.group(1)
    assert found.group(3) == first
    await bob.expect(privmsg("alice", "#general", "hi later"), timeout=PANE_TIMEOUT)
    assert time.monotonic() - typed >= 1.8
    await on_screen(alice, rf"{NOTICE}Scheduled message #{first} to #general was sent\.")
    await alice.show_window("#general", alice.said("alice", "hi later"))  # echoed to alice

    # one for later: listed with its id, cancelled by that id, and the list is empty again
    alice.type("/msg Messenger delay 1m #general never")
    screen = await alice.show_window(
        "Messenger", rf"{NOTICE}Message #(\d+) to #general scheduled for {UTC} \(in 1m\)"
    )
    confirmed = re.findall(r"Message #(\d+) to #general scheduled for .* \(in 1m\)", screen)
    alice.type("/msg Messenger delays")
    found = await on_screen(alice, rf"{NOTICE}#(\d+) to #general at {UTC} \(in [^)]+\): never")
    later = found.group(1)
    assert confirmed == [later] and later != first
    await on_screen(alice, rf"{NOTICE}1 scheduled message\b")
    alice.type(f"/msg Messenger cancel {later}")
    await on_screen(alice, rf"{NOTICE}Scheduled message #{later} cancelled")
    alice.type("/msg Messenger delays")
    await on_screen(alice, rf"{NOTICE}0 scheduled messages")


# ---------------------------------------------------------------------- 3. complaints and a mute


async def test_irssi_user_muted_by_three_complaints_then_speaks_again(
    limited_ircd: IrcdProcess, tmux: Tmux, peers: list[RawClient], tmp_path: Path
) -> None:
    port = limited_ircd.port
    complainers: list[RawClient] = []
    for nick in ("bob", "carol", "dave"):  # accounts: complaints need one
        c = await RawClient.connect(port)
        peers.append(c)
        await c.registered_and_joined(nick, password=f"{nick}-pw")
        complainers.append(c)
    bob, carol, dave = complainers
    alice = await irssi_alice(tmux, tmp_path, limited_ircd, bob)

    # both ways a peer can complain: the verb, and a private message to the service
    bob.send("COMPLAIN alice :spam")
    await bob.expect(from_service("Your complaint about alice was recorded"))
    carol.send("COMPLAIN alice :spam")
    await carol.expect(from_service("Your complaint about alice was recorded"))
    dave.send("PRIVMSG Messenger :complain alice spam again")
    await dave.expect(from_service("Your complaint about alice was recorded"))
    ends = set()
    for c in complainers:
        got = await c.expect(from_service("alice has been muted until"))
        found = re.fullmatch(rf"alice has been muted until {UTC}\.", got.params[-1])
        assert found is not None, got
        ends.add(found.group(1))
    assert len(ends) == 1
    until_text = ends.pop()
    assert 0 < epoch(until_text) - time.time() <= BAN

    # alice never wrote to the service: irssi puts its notice in the status window
    await alice.show_window(
        STATUS,
        rf"{NOTICE}You have been muted until {re.escape(until_text)} UTC after 3 complaints: "
        r"you can read but not send messages until then\.",
    )

    # muted: her next channel line is refused, visibly, and reaches no one
    muted = token("while muted ")
    await say(alice, muted)
    await alice.show_window(
        "#general",
        rf"-!- #general Message not sent: You are muted until {re.escape(until_text)} UTC",
    )

    # on time, the mute ends with a notice, and she can speak again
    await alice.show_window(
        STATUS,
        rf"{NOTICE}Your mute has ended: you can send messages again\.",
        timeout=BAN + PANE_TIMEOUT,
    )
    assert time.time() >= epoch(until_text)
    back = token("back again ")
    await say(alice, back)
    for c in complainers:
        await c.expect(privmsg("alice", "#general", back))
        assert not any(muted in line for line in c.lines), c.lines[-10:]
