"""A sans-socket harness for the IRC adapter: a FakeClock, a Messenger and a Hub, and clients
that feed lines with ``feed`` (ircd.irc.dispatch) and read what the hub queued with
``hub.take_output``.

Nothing here touches asyncio or sockets; time moves only with ``advance``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any

from ircd.clock import FakeClock
from ircd.config import Config, default_config
from ircd.irc import Hub, Session, feed, fire_due, tick
from ircd.messenger import Messenger
from ircd.server import rules_from
from ircd.wire import Message, TooLong, casefold, parse

SERVER = "irc.messenger.local"


def make_config(**sections: dict[str, Any]) -> Config:
    """The default config with per-section overrides: ``make_config(server={"motd": ""})``."""
    cfg = default_config()
    changes: dict[str, Any] = {}
    for name, values in sections.items():
        changes[name] = dataclasses.replace(getattr(cfg, name), **values)
    return dataclasses.replace(cfg, **changes)


class Client:
    """One connection to the hub. ``send`` feeds lines; ``take`` returns new output."""

    def __init__(self, harness: Harness, session: Session) -> None:
        self.h = harness
        self.session = session
        self.raw: list[str] = []  # every line received, in order

    # ---------------------------------------------------------------- input

    def send(self, *lines: str | TooLong) -> None:
        for line in lines:
            feed(self.h.hub, self.session, line)

    def send_take(self, *lines: str | TooLong) -> list[Message]:
        """Drop pending output, send, and return what came back."""
        self.take()
        self.send(*lines)
        return self.take()

    # ---------------------------------------------------------------- output

    def take_lines(self) -> list[str]:
        """New output lines (without CRLF); each line must end with CRLF."""
        self.h.hub.deliver_logs()  # as the server's flush does, before it takes any output
        data = self.h.hub.take_output(self.session)
        self.h.hub.dirty.discard(self.session)
        if not data:
            return []
        text = data.decode("utf-8")
        assert text.endswith("\r\n"), text
        lines = text[:-2].split("\r\n")
        for line in lines:
            assert "\r" not in line and "\n" not in line, line
        self.raw.extend(lines)
        return lines

    def take(self) -> list[Message]:
        return [parse(x) for x in self.take_lines()]

    # ---------------------------------------------------------------- convenience

    @property
    def nick(self) -> str:
        return self.session.nick

    def register(self, nick: str, caps: str = "", *, password: str | None = None) -> list[Message]:
        """Register the way HexChat does (CAP LS/REQ, PASS, NICK, USER, CAP END) and return the
        whole burst."""
        if caps:
            self.send("CAP LS 302", f"CAP REQ :{caps}")
        if password is not None:
            self.send(f"PASS {password}")
        self.send(f"NICK {nick}", f"USER {nick} 0 * :Real {nick}")
        if caps:
            self.send("CAP END")
        out = self.take()
        assert self.session.registered, [m.format() for m in out]
        return out + self.land()

    def land(self) -> list[Message]:
        """Send the line that lands a client after its welcome burst (#general, its channels,
        what it missed: welcome.py), as the PONG to the server's landing PING would, and
        return what it brings."""
        if not self.session.landing_due:
            return []
        self.send("PONG :welcome")
        return self.take()

    def quit(self, reason: str = "bye") -> list[Message]:
        self.send(f"QUIT :{reason}")
        return self.take()


class Harness:
    def __init__(self, config: Config | None = None, **sections: dict[str, Any]) -> None:
        self.config = config or make_config(**sections)
        self.clock = FakeClock()
        self.messenger = Messenger(self.clock, rules_from(self.config))
        general = self.config.chat.general_channel
        if self.config.chat.auto_join:  # as the server does at start
            self.messenger.ensure_room(casefold(general), general)
        self.hub = Hub(self.config, self.messenger, self.clock)
        self._ips = 0

    def connect(self, ip: str | None = None) -> Client:
        if ip is None:
            self._ips += 1
            ip = f"10.0.0.{self._ips}"
        s = self.hub.new_session(ip)
        assert s is not None, f"connection from {ip} refused"
        return Client(self, s)

    def user(self, nick: str, caps: str = "", **kw: Any) -> Client:
        """A registered client with its output drained."""
        c = self.connect()
        c.register(nick, caps, **kw)
        return c

    def advance(self, seconds: float) -> None:
        """Move time on and run what the server's ticker runs: timeouts, then due messages."""
        self.clock.advance(seconds)
        tick(self.hub)
        due = self.messenger.next_due()
        if due is not None and due <= self.clock.now():
            fire_due(self.hub)

    def drain(self, *clients: Client) -> None:
        for c in clients:
            c.take()


# -------------------------------------------------------------------- assertions on output


def cmds(msgs: Iterable[Message]) -> list[str]:
    return [m.command for m in msgs]


def only(msgs: Iterable[Message], command: str) -> list[Message]:
    return [m for m in msgs if m.command == command]


def one(msgs: Iterable[Message], command: str) -> Message:
    found = only(msgs, command)
    assert len(found) == 1, f"expected one {command}, got {[m.format() for m in msgs]}"
    return found[0]


def first(msgs: Iterable[Message], pred: Callable[[Message], bool]) -> Message:
    for m in msgs:
        if pred(m):
            return m
    raise AssertionError("no matching message")


def is_numeric(m: Message) -> bool:
    return bool(re.fullmatch(r"\d{3}", m.command))
