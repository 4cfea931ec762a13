"""End-to-end with real pydle bots (a full ``pydle.Client`` and a ``pydle.MinimalClient``)
against the real server on port 0, all in the test's event loop.

pydle's ``connect()`` is a coroutine that registers and then starts ``handle_forever`` as a task
in the running loop, so the bots and the server share one loop; no ``ClientPool``/``run()``.
Every wait is a future resolved from a pydle handler and bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pydle
import pytest

from ircd.server import Server
from tests.conftest import RawClient

TIMEOUT = 5.0
GENERAL = "#general"

Event = tuple[str, str, str, str]  # (kind, target, source, text)
Pred = Callable[[Event], bool]


class Recorder:
    """Mixin for a pydle client class: records connects and messages, and lets a test await
    a future that a handler resolves."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connected_future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.events: list[Event] = []
        self._waiters: list[tuple[Pred, asyncio.Future[Event]]] = []

    def _record(self, event: Event) -> None:
        self.events.append(event)
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(event):
                fut.set_result(event)
                self._waiters.remove((pred, fut))

    async def on_connect(self) -> None:
        await super().on_connect()  # type: ignore[misc]
        if not self.connected_future.done():
            self.connected_future.set_result(None)

    async def on_join(self, channel: str, user: str) -> None:
        await super().on_join(channel, user)  # type: ignore[misc]
        self._record(("join", channel, user, ""))

    async def on_channel_message(self, target: str, by: str, message: str) -> None:
        await super().on_channel_message(target, by, message)  # type: ignore[misc]
        self._record(("channel", target, by, message))

    async def on_private_message(self, target: str, by: str, message: str) -> None:
        await super().on_private_message(target, by, message)  # type: ignore[misc]
        self._record(("private", target, by, message))

    async def wait_event(self, pred: Pred, what: str) -> Event:
        for event in self.events:
            if pred(event):
                return event
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        try:
            return await asyncio.wait_for(fut, TIMEOUT)
        except asyncio.TimeoutError:
            me = getattr(self, "nickname", "?")
            raise AssertionError(f"{me}: timed out waiting for {what}; got {self.events}") from None
        finally:
            if (pred, fut) in self._waiters:
                self._waiters.remove((pred, fut))


class FullBot(Recorder, pydle.Client):
    RECONNECT_ON_ERROR = False


class MinimalBot(Recorder, pydle.MinimalClient):
    RECONNECT_ON_ERROR = False


Connect = Callable[..., Awaitable[Any]]


@pytest.fixture
async def bots(server: Server) -> AsyncIterator[Connect]:
    """``await bots(FullBot, "alice", password=None)`` -> a bot that has seen on_connect."""
    started: list[Any] = []

    async def _make(cls: type[Any], nick: str, **connect_kw: Any) -> Any:
        bot = cls(nick)
        started.append(bot)
        await asyncio.wait_for(bot.connect("127.0.0.1", server.port, **connect_kw), TIMEOUT)
        try:
            await asyncio.wait_for(bot.connected_future, TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"{nick}: on_connect never fired") from None
        return bot

    yield _make
    for bot in started:
        if bot.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bot.quit("bye"), TIMEOUT)
    # let the bots' reader tasks see EOF and end
    for _ in range(3):
        await asyncio.sleep(0)


_seq = itertools.count()


def token(label: str) -> str:
    return f"{label}-{next(_seq)}"


async def wait_joined(bot: Any, nick: str, *, peer: bool = False) -> None:
    """Wait for pydle's ``on_join`` of ``nick`` in #general (the bot's own forced JOIN, or a
    ``peer``'s relayed JOIN), then check pydle's channel table."""
    await bot.wait_event(lambda e: e[:3] == ("join", GENERAL, nick), f"{nick} joining {GENERAL}")
    assert GENERAL in bot.channels, list(bot.channels)
    if peer:
        assert nick in bot.channels[GENERAL]["users"], bot.channels[GENERAL]


async def test_full_and_minimal_bots_chat_in_general_and_privately(bots: Connect) -> None:
    full = await bots(FullBot, "fullbot")
    mini = await bots(MinimalBot, "minibot")
    # explicit nicks: a MinimalClient's .nickname may still read "<unregistered>" after
    # on_connect (its 001 handler awaits a WHOIS, and the 376 task runs meanwhile)
    await wait_joined(full, "fullbot")
    await wait_joined(mini, "minibot")
    await wait_joined(full, "minibot", peer=True)  # minibot's JOIN, relayed to fullbot

    # channel: each receives the other's message with the right source and target
    t1 = token("from-full")
    await full.message(GENERAL, t1)
    kind, target, source, _ = await mini.wait_event(lambda e: e[3] == t1, "full's channel msg")
    assert (kind, target, source) == ("channel", GENERAL, "fullbot")

    t2 = token("from-mini")
    await mini.message(GENERAL, t2)
    kind, target, source, _ = await full.wait_event(
        lambda e: e[3] == t2 and e[2] == "minibot", "mini's channel msg"
    )
    assert (kind, target, source) == ("channel", GENERAL, "minibot")

    # private, both directions
    t3 = token("dm-full")
    await full.message("minibot", t3)
    kind, target, source, _ = await mini.wait_event(lambda e: e[3] == t3, "full's DM")
    assert (kind, target, source) == ("private", "minibot", "fullbot")

    t4 = token("dm-mini")
    await mini.message("fullbot", t4)
    kind, target, source, _ = await full.wait_event(
        lambda e: e[3] == t4 and e[2] == "minibot", "mini's DM"
    )
    assert (kind, target, source) == ("private", "fullbot", "minibot")

    # each message arrived exactly once at the peer (no duplicate relay)
    assert [e[3] for e in mini.events].count(t1) == 1
    assert [e[3] for e in full.events if e[2] == "minibot"].count(t2) == 1


async def test_full_client_with_echo_message_sees_own_line_once(bots: Connect) -> None:
    full = await bots(FullBot, "echoer")
    await wait_joined(full, "echoer")
    t = token("echo")
    await full.message(GENERAL, t)
    kind, target, source, _ = await full.wait_event(lambda e: e[3] == t, "own echo")
    assert (kind, target, source) == ("channel", GENERAL, "echoer")
    # a PING round trip through pydle: nothing else for this text is in flight
    info = await asyncio.wait_for(full.whois("echoer"), TIMEOUT)
    assert info is not None
    assert [e[3] for e in full.events].count(t) == 1


@pytest.mark.parametrize("cls", [FullBot, MinimalBot], ids=["client", "minimal"])
async def test_bot_with_password_becomes_an_account(bots: Connect, cls: type[Any]) -> None:
    carol = await bots(cls, "carol", password="s3cret-pass")
    watcher = await bots(MinimalBot, "watcher")
    await wait_joined(carol, "carol")
    info = await asyncio.wait_for(watcher.whois("carol"), TIMEOUT)
    assert info is not None
    assert info.get("account") == "carol", info  # set from 330
    assert info.get("identified") is True
    # a guest has no account
    guest = await asyncio.wait_for(carol.whois("watcher"), TIMEOUT)
    assert guest is not None and guest.get("account") is None, guest


@pytest.mark.parametrize("cls", [FullBot, MinimalBot], ids=["client", "minimal"])
async def test_pydle_names_list_includes_members_already_present(
    bots: Connect, cls: type[Any]
) -> None:
    """The landing waits for the client's next line (ircd/irc/welcome.py): pydle knows its own
    nick when its JOIN arrives, so the channel exists when the 353 is handled."""
    await bots(MinimalBot, "early")
    late = await bots(cls, "late")
    await wait_joined(late, "late")
    await asyncio.wait_for(late.whois("late"), TIMEOUT)  # the 353/366 handlers ran before
    assert "early" in late.channels[GENERAL]["users"], late.channels[GENERAL]


@pytest.mark.parametrize("cls", [FullBot, MinimalBot], ids=["client", "minimal"])
async def test_pydle_with_whox_lands_and_learns_accounts(bots: Connect, cls: type[Any]) -> None:
    """WHOX is advertised (IRCv3 whox); pydle then asks WHO #general %tnurha,542 on joining
    instead of a WHOIS per user, and still lands in #general with everyone's account."""
    await bots(MinimalBot, "acct", password="acct-password")
    late = await bots(cls, "late")
    await wait_joined(late, "late")
    assert late._isupport.get("WHOX") is not None
    # its WHO went out when it handled its JOIN, before this WHOIS (of a nick nobody has, so
    # that no WHOIS pydle sent itself answers it): the 354s are handled before its 318
    await asyncio.wait_for(late.whois("nobody-here"), TIMEOUT)
    assert "acct" in late.channels[GENERAL]["users"]
    assert late.users["acct"]["account"] == "acct", late.users["acct"]


async def test_a_pydle_bot_and_a_raw_client_are_two_devices_of_one_account(
    bots: Connect, server: Server
) -> None:
    """Issue 13, section 4: a pydle bot and a raw client logged in as one account. What one
    sent reaches the other as its own message (znc.in/self-message style: ``:dana PRIVMSG
    bob``), both get what is sent to the account, a NICK from one renames the other (one
    nick), and the raw one leaving is not a QUIT for anyone (the user is still there)."""
    bot = await bots(FullBot, "dana", password="pw-dana")
    await wait_joined(bot, "dana")
    bob = await RawClient.connect(server.port)
    await bob.registered_and_joined("bob")
    raw = await RawClient.connect(server.port)
    await raw.register("dana", password="pw-dana")
    await raw.expect("366")

    t1 = token("from-raw")
    raw.send(f"PRIVMSG {GENERAL} :{t1}")
    kind, target, source, _ = await bot.wait_event(lambda e: e[3] == t1, "the raw device's line")
    assert (kind, target, source) == ("channel", GENERAL, "dana")
    await bob.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == t1)

    t2 = token("dm-bot")
    await bot.message("bob", t2)
    copy = await raw.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == t2)
    assert copy.params[0] == "bob" and (copy.source or "").startswith("dana!")
    await bob.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == t2)

    t3 = token("dm-bob")
    bob.send(f"PRIVMSG dana :{t3}")
    await raw.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == t3)
    kind, target, source, _ = await bot.wait_event(lambda e: e[3] == t3, "bob's DM")
    assert (kind, source) == ("private", "bob")

    raw.send("NICK dana_")
    await raw.expect("NICK")
    t5 = token("renamed")
    bob.send(f"PRIVMSG dana_ :{t5}")  # pydle reads it after the NICK
    await bot.wait_event(lambda e: e[3] == t5, "bob's DM to the new nick")
    assert bot.nickname == "dana_"

    raw.send("QUIT :the raw one leaves")
    await raw.expect("ERROR")
    await raw.close()
    await bob.sync()
    assert not [line for line in bob.lines if " QUIT " in line]
    t4 = token("still-there")
    bob.send(f"PRIVMSG {GENERAL} :{t4}")
    kind, target, source, _ = await bot.wait_event(lambda e: e[3] == t4, "bob's line after")
    assert (kind, target, source) == ("channel", GENERAL, "bob")
    assert GENERAL in bot.channels
    await bob.close()
