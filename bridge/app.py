"""Wires the bridge together: console input -> commands -> the IRC client; client events ->
render -> console. Owns the connection: reconnects with backoff and catches up on return.

The app is the only place that decides *what to do* (which IRC command a user command
becomes, when to fetch unread messages); parsing, rendering, IRC and the terminal each live in
their own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import commands as c
from . import events as ev
from .client import VENDOR_CAP, BridgeClient, CannotSend, NotConnected
from .console import Console
from .protocol import fold, iso_time, parse_uint
from .render import render

log = logging.getLogger(__name__)

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds before reconnect attempt n
CONNECT_TIMEOUT = 15.0
REGISTRATION_TIMEOUT = 60.0
SYNC_TIMEOUT = 10.0
MY_MESSAGES = 50  # own message ids kept per target, for /delete
SCRIPTED_CONNECT_ATTEMPTS = 3  # a script gives up if the server is not there at all


@dataclass(frozen=True, slots=True)
class Options:
    nick: str
    host: str = "127.0.0.1"
    port: int = 8000
    password: str | None = None
    tls: bool = False
    verify: bool = True
    backlog: int = c.DEFAULT_HISTORY  # messages of #general shown on start (0: none)


def backoff(failures: int, rng: Callable[[], float] = random.random) -> float:
    """Delay before the next attempt after ``failures`` failed ones (with a little jitter)."""
    base = BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]
    return round(base * (0.8 + 0.2 * rng()), 2)


def _describe(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    return str(e) or type(e).__name__


class App:
    def __init__(
        self,
        options: Options,
        console: Console,
        client_factory: Callable[..., BridgeClient] = BridgeClient,
    ) -> None:
        self.options = options
        self.console = console
        self._make_client = client_factory
        self.login_nick = options.nick  # the nick we register with (the account)
        self.wanted_nick = options.nick  # the nick we want to have (after /nickname)
        self.current = c.DEFAULT_CHANNEL
        self.client: BridgeClient | None = None
        self.online = asyncio.Event()
        self.stopping = asyncio.Event()  # quit or give up: no more reconnecting
        self.left = asyncio.Event()  # ...and the connection is closed
        self.exit_code = 0
        self.connections = 0
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.joined: dict[str, str] = {}  # folded name -> name, on this connection
        self.wanted: dict[str, str] = {self._fold(c.DEFAULT_CHANNEL): c.DEFAULT_CHANNEL}
        self._last_seen: dict[str, tuple[str, datetime]] = {}  # folded channel -> (name, time)
        # folded target -> the ids of our own messages sent there on this run, oldest first
        self._mine: dict[str, list[str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outbox: asyncio.Queue[tuple[c.Command, asyncio.Future[None]]] = asyncio.Queue()
        self._sending = False
        self._quitting = False

    # ------------------------------------------------------------------ showing

    def show(self, event: ev.Event) -> None:
        """The sink for every event: show it, then update what the app tracks."""
        line = render(event, now=datetime.now(timezone.utc))
        if line is not None:
            self.console.show(line)
        try:
            self._observe(event)
        except Exception:  # pragma: no cover - never let bookkeeping break the display
            log.exception("while handling %r", event)

    def _fold(self, name: str) -> str:
        t = self.client.translator if self.client is not None else None
        return fold(name, t.casemapping if t is not None else "rfc1459")

    def _observe(self, e: ev.Event) -> None:
        if isinstance(e, ev.Joined) and e.own:
            self.joined[self._fold(e.channel)] = e.channel
            self.wanted[self._fold(e.channel)] = e.channel
        elif isinstance(e, ev.Parted) and e.own:
            self.joined.pop(self._fold(e.channel), None)
        elif isinstance(e, ev.Kicked) and e.own:
            self.joined.pop(self._fold(e.channel), None)
            self.wanted.pop(self._fold(e.channel), None)
            if self._fold(e.channel) == self._fold(self.current):
                self._set_current(self._another_channel(e.channel))
        elif isinstance(e, ev.NickChanged) and e.own:
            self.wanted_nick = e.new
            self._update_prompt()
        elif isinstance(e, ev.Connected):
            self.joined.clear()  # a new connection: its JOINs follow
            self._update_prompt()
        elif isinstance(e, ev.Chat) and e.context == "live":
            if not e.private:
                self._last_seen[self._fold(e.target)] = (e.target, e.time)
            if e.own and e.msgid:
                mine = self._mine.setdefault(self._fold(e.target), [])
                mine.append(e.msgid)
                del mine[:-MY_MESSAGES]
        elif isinstance(e, ev.Redacted):
            for mine in self._mine.values():
                if e.msgid in mine:
                    mine.remove(e.msgid)
        elif isinstance(e, ev.NickInUse) and not self.console.interactive:
            self._fail(f"the nick {e.nick} is not available")
        elif isinstance(e, ev.AuthFailed):
            self._fail("the server refused the password")

    def _another_channel(self, leaving: str) -> str:
        for key, name in self.joined.items():
            if key != self._fold(leaving):
                return name
        return c.DEFAULT_CHANNEL

    def _set_current(self, channel: str) -> None:
        self.current = channel
        self._update_prompt()
        self.show(ev.Info(f"*** Plain text now goes to {channel}"))

    def _update_prompt(self) -> None:
        self.console.set_prompt(f"[{self.current}] {self.wanted_nick}> ")

    def _fail(self, why: str) -> None:
        """Something reconnecting cannot fix: stop with exit status 1."""
        self.console.show(f"! Giving up: {why}")
        self.exit_code = 1
        self.stopping.set()
        if self.client is not None:
            self._spawn(self.client.close())
        self.left.set()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ running

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._interrupted)
        try:
            async with self.console:
                self._update_prompt()
                if self.console.interactive:
                    self.console.show("Type /help for the commands; plain text goes to #general.")
                conn = asyncio.create_task(self._connection_loop(), name="connection")
                inp = asyncio.create_task(self._input_loop(), name="input")
                sender = asyncio.create_task(self._sender(), name="sender")
                await asyncio.wait({conn, inp}, return_when=asyncio.FIRST_COMPLETED)
                if self._quitting or self.stopping.is_set():
                    # a quit in progress first flushes what we sent, then says goodbye
                    await self._first_of(self.left, 2 * SYNC_TIMEOUT + 5.0)
                self.stopping.set()
                tasks = (conn, inp, sender)
                for t in tasks:
                    t.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                for t, r in zip(tasks, results, strict=True):
                    if isinstance(r, Exception):
                        log.error("%s failed", t.get_name(), exc_info=r)
                        self.exit_code = 1
                if self.client is not None:
                    await self.client.close()
                for task in list(self._tasks):
                    task.cancel()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        return self.exit_code

    def _interrupted(self) -> None:
        if self._quitting or self.stopping.is_set():
            self.left.set()  # a second Ctrl-C: stop waiting for the goodbye
            return
        self._spawn(self.quit("Interrupted"))

    async def _input_loop(self) -> None:
        if not self.console.interactive:
            # a script's lines run in order once connected (an early end of input too)
            await self._first_of(self.online, self.stopping)
        while not self.stopping.is_set():
            line = await self.console.read_line()
            if line is None:  # end of input (EOF, Ctrl-D, Ctrl-C)
                await self.quit("")
                return
            try:
                keep_going = await self.execute(c.parse_input(line))
            except Exception:
                log.exception("command failed: %r", line)
                self.show(ev.Problem("That command failed unexpectedly (see the log)"))
                keep_going = True
            if not keep_going:
                return

    async def _connection_loop(self) -> None:
        failures = 0
        o = self.options
        while not self.stopping.is_set():
            client = self._make_client(
                self.login_nick, self.show, password=o.password, seen=self.seen
            )
            self.client = client
            self.show(ev.Connecting(o.host, o.port, failures + 1))
            try:
                await asyncio.wait_for(
                    client.start(o.host, o.port, tls=o.tls, verify=o.verify), CONNECT_TIMEOUT
                )
            except (OSError, asyncio.TimeoutError, NotConnected, ValueError) as e:
                await client.close()
                failures += 1
                self.show(ev.Problem(f"Cannot connect to {o.host}:{o.port}: {_describe(e)}"))
                if (
                    not self.console.interactive
                    and self.connections == 0
                    and failures >= SCRIPTED_CONNECT_ATTEMPTS
                ):
                    self._fail(f"no server at {o.host}:{o.port}")
                    return
                await self._pause(backoff(failures))
                continue
            await self._first_of(client.ready, client.closed, self.stopping, REGISTRATION_TIMEOUT)
            if client.is_ready and not self.stopping.is_set():
                failures = 0
                self.connections += 1
                try:
                    await self._catch_up(client, first=self.connections == 1)
                except (NotConnected, CannotSend, asyncio.TimeoutError) as e:
                    log.debug("catch-up failed: %r", e)
                self.online.set()  # after the catch-up requests: their replies come first
                await self._first_of(client.closed, self.stopping)
                self.online.clear()
            if self.stopping.is_set():
                return  # quit() or _fail() closes the connection
            await client.close()
            failures += 1
            if (
                not self.console.interactive
                and self.connections == 0
                and failures >= SCRIPTED_CONNECT_ATTEMPTS
            ):
                self._fail(f"could not log in to {o.host}:{o.port}")
                return
            delay = backoff(failures)
            self.show(ev.Reconnecting(delay))
            await self._pause(delay)

    async def _first_of(self, *events: asyncio.Event | float) -> None:
        """Wait until one of the events is set (a float among them is a timeout)."""
        timeout = next((x for x in events if isinstance(x, float)), None)
        waits = [asyncio.create_task(x.wait()) for x in events if isinstance(x, asyncio.Event)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _pause(self, seconds: float) -> None:
        await self._first_of(self.stopping, float(seconds))

    async def _catch_up(self, client: BridgeClient, first: bool) -> None:
        """Right after registering: show what we missed, or recent history the first time."""
        if self.wanted_nick != self.login_nick and not client.translator.same(
            self.wanted_nick, client.nickname
        ):
            await client.send("NICK", self.wanted_nick)
        await client.sync(SYNC_TIMEOUT)  # the registration burst (NOTE UNREAD PENDING) is in
        sent = False
        for key, name in list(self.wanted.items()):
            if key not in self.joined:  # a plain server does not put us back in our channels
                await client.send("JOIN", name)
                sent = True
        pending = client.translator.unread_pending
        chathistory = client.has_cap("draft/chathistory")
        if pending and client.has_cap(VENDOR_CAP):
            await client.send("UNREAD", purpose="unread")
        elif first and self.options.backlog > 0 and chathistory:
            n = self._history_limit(client, self.options.backlog)
            await client.send(
                "CHATHISTORY", "LATEST", c.DEFAULT_CHANNEL, "*", str(n), purpose="history"
            )
        elif not first and chathistory and not client.has_cap(VENDOR_CAP):
            # another server with history: what was said in our channels while we were away
            for name, when in list(self._last_seen.values()):
                ref = f"timestamp={iso_time(when)}"
                n = self._history_limit(client, 100)
                await client.send("CHATHISTORY", "AFTER", name, ref, str(n), purpose="unread")
        elif not sent:
            return
        await client.sync(SYNC_TIMEOUT)  # shown before anything typed meanwhile

    @staticmethod
    def _history_limit(client: BridgeClient, wanted: int) -> int:
        raw = client.translator.isupport.get("CHATHISTORY", "")
        cap = parse_uint(raw) or 0
        return min(wanted, cap) if cap > 0 else wanted

    # ------------------------------------------------------------------ commands

    async def quit(self, reason: str) -> None:
        """Leave cleanly: send what is still queued, make sure the server has it all (a
        PING/PONG round trip), QUIT, stop."""
        if self._quitting:
            return
        self._quitting = True
        client = self.client
        try:
            if not self._outbox.empty() or self._sending:
                if self.online.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._outbox.join(), SYNC_TIMEOUT)
                if not self._outbox.empty() or self._sending:
                    n = self._outbox.qsize() + int(self._sending)
                    self.console.show(f"! {n} line{'s' if n != 1 else ''} not sent: not connected")
            self.stopping.set()
            client = self.client
            if client is not None and client.is_ready:
                try:
                    await client.sync(SYNC_TIMEOUT)
                except (NotConnected, CannotSend, asyncio.TimeoutError):
                    self.console.show("! Could not confirm that the server got everything")
                await client.leave(reason or "Leaving")
            elif client is not None:
                await client.close()
        finally:
            self.stopping.set()
            self.left.set()

    async def execute(self, cmd: c.Command) -> bool:
        """Run one command; False when the app should stop reading input.

        Commands for the server go through an outbox, in order: a script waits for each
        line's replies before the next line; in a terminal you can keep typing (and quit)
        while the bridge reconnects."""
        if isinstance(cmd, c.Nothing):
            return True
        if isinstance(cmd, c.Invalid):
            self.show(ev.Usage(cmd.hint))
            return True
        if isinstance(cmd, c.Help):
            for text in c.help_lines(cmd.topic):
                self.show(ev.Info(text))
            return True
        if isinstance(cmd, c.Quit):
            await self.quit(cmd.reason)
            return False
        client = self.client
        if (
            isinstance(cmd, c.Nickname)
            and client is not None
            and client.connected
            and not client.is_ready
        ):
            # still registering (our nick was refused): try this one, and log in with it
            self.login_nick = self.wanted_nick = cmd.nick
            try:
                await client.send("NICK", cmd.nick)
            except (NotConnected, CannotSend) as e:
                self.show(ev.Problem(f"Not sent: {e}"))
            return True
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.online.is_set() and self.connections > 0:
            self.show(ev.Info("*** Not connected: it will be sent once reconnected"))
        self._outbox.put_nowait((cmd, done))
        if not self.console.interactive:
            await done
        return True

    async def _sender(self) -> None:
        """Sends the outbox, in order, whenever connected."""
        while True:
            cmd, done = await self._outbox.get()
            self._sending = True
            try:
                await self._deliver(cmd)
            except Exception:
                log.exception("sending %r failed", cmd)
                self.show(ev.Problem("That command failed unexpectedly"))
            finally:
                self._sending = False
                if not done.done():
                    done.set_result(None)
                self._outbox.task_done()

    async def _deliver(self, cmd: c.Command) -> None:
        for attempt in (1, 2):
            client = await self._online_client()
            if client is None:
                return
            try:
                await self._send_command(client, cmd)
                if not self.console.interactive:
                    # scripts: the replies to a line come before the next line's output
                    await client.sync(SYNC_TIMEOUT)
                return
            except (NotConnected, asyncio.TimeoutError) as e:
                if attempt == 2:
                    self.show(ev.Problem(f"Not sent: {e or 'no reply'}"))
            except CannotSend as e:
                self.show(ev.Problem(f"Cannot send that: {e}"))
                return

    async def _online_client(self) -> BridgeClient | None:
        """The connection once it is up (None if we are stopping)."""
        while not self.stopping.is_set():
            client = self.client
            if self.online.is_set() and client is not None and client.is_ready:
                return client
            await self._first_of(self.online, self.stopping)
            await asyncio.sleep(0)
        return None

    async def _send_command(self, client: BridgeClient, cmd: c.Command) -> None:
        ours = client.has_cap(VENDOR_CAP)
        if isinstance(cmd, c.Say):
            await client.say(self.current, cmd.text)
        elif isinstance(cmd, c.Action):
            await client.say(self.current, cmd.text, action=True)
        elif isinstance(cmd, c.Msg):
            await client.say(cmd.target, cmd.text)
        elif isinstance(cmd, c.Priv):
            await client.say(cmd.nick, cmd.text)
        elif isinstance(cmd, c.Nickname):
            await client.send("NICK", cmd.nick)
        elif isinstance(cmd, c.Join):
            # switch now: the server handles our lines in order, so what follows goes there
            if self._fold(cmd.channel) not in self.joined:
                await client.send("JOIN", cmd.channel)
            self._set_current(cmd.channel)
        elif isinstance(cmd, c.Part):
            channel = cmd.channel or self.current
            await client.send("PART", channel, *([cmd.reason] if cmd.reason else []))
            self.wanted.pop(self._fold(channel), None)
            if self._fold(channel) == self._fold(self.current):
                self._set_current(self._another_channel(channel))
        elif isinstance(cmd, c.Who):
            await client.send("WHO", cmd.target or self.current)
        elif isinstance(cmd, c.History):
            if not client.has_cap("draft/chathistory"):
                self.show(ev.Problem("This server keeps no history (no draft/chathistory)"))
                return
            n = self._history_limit(client, cmd.limit)
            target = cmd.target or self.current
            await client.send("CHATHISTORY", "LATEST", target, "*", str(n), purpose="history")
        elif isinstance(cmd, c.Unread):
            if not ours:
                self.show(ev.Problem("This server does not keep unread messages for you"))
                return
            await client.send("UNREAD", purpose="unread")
        elif isinstance(cmd, (c.Delay, c.Delays, c.Cancel, c.Complaint)):
            if not ours:
                self.show(ev.Problem("This server has no delayed messages or complaints"))
                return
            await self._send_messenger(client, cmd)
        elif isinstance(cmd, c.Delete):
            await self._delete(client, cmd.target or self.current)
        elif isinstance(cmd, c.Raw):
            await client.send_raw(cmd.line)

    async def _delete(self, client: BridgeClient, target: str) -> None:
        """REDACT our newest message to ``target`` of this run (its id came with the echo)."""
        if not client.has_cap("draft/message-redaction"):
            self.show(ev.Problem("This server cannot delete messages (no draft/message-redaction)"))
            return
        mine = self._mine.get(self._fold(target))
        if not mine:
            self.show(ev.Problem(f"No message of yours to {target} to delete (sent on this run)"))
            return
        await client.send("REDACT", target, mine.pop(), purpose="other")

    async def _send_messenger(
        self, client: BridgeClient, cmd: c.Delay | c.Delays | c.Cancel | c.Complaint
    ) -> None:
        if isinstance(cmd, c.Delay):
            if cmd.target is not None:
                await client.send("DELAY", cmd.duration, cmd.target, cmd.text, purpose="other")
            else:
                # "/delay 5 bob hi": bob is the recipient if such a user exists, else the
                # whole text goes to #general. Only the server knows its users.
                words = f"delay {cmd.duration} {cmd.text}"
                await client.send("MESSENGER", words, purpose="other")
        elif isinstance(cmd, c.Delays):
            await client.send("DELAY", "LIST", purpose="other")
        elif isinstance(cmd, c.Cancel):
            await client.send("DELAY", "CANCEL", cmd.id, purpose="other")
        else:
            reason = [cmd.reason] if cmd.reason else []
            await client.send("COMPLAIN", cmd.nick, *reason, purpose="other")
