"""IRC lines -> bridge events. Sans-I/O: no sockets, no asyncio, no pydle.

:class:`Translator` keeps the little state needed to make sense of a line (our nick, open
batches, the labels of our own requests, half-received NAMES/WHO lists) and turns each
incoming line into zero or more :mod:`bridge.events`. The pydle client feeds it, in the order
the lines arrived; tests feed it raw lines through :func:`parse_line`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from . import events as ev

log = logging.getLogger(__name__)

BlockKind = Literal["history", "unread"]
Purpose = Literal["history", "unread", "other"]

SEEN_MSGIDS = 5000  # remembered message ids, to drop repeats from unread replays
SHOWN_TEXTS = 500  # remembered (sender, text) of recent messages, to say what was deleted


# ---------------------------------------------------------------------- lines


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed IRC line."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape_tag(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append(_TAG_UNESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch != "\\":
            out.append(ch)
        i += 1
    return "".join(out)


def parse_line(raw: str) -> Line:
    """A raw IRC line (without CRLF) -> :class:`Line`. Lenient: never raises for text."""
    s = raw.rstrip("\r\n")
    tags: dict[str, str] = {}
    if s.startswith("@"):
        head, _, s = s.partition(" ")
        for item in head[1:].split(";"):
            if not item:
                continue
            key, _, value = item.partition("=")
            tags[key] = unescape_tag(value)
        s = s.lstrip(" ")
    source = None
    if s.startswith(":"):
        head, _, s = s.partition(" ")
        source = head[1:]
        s = s.lstrip(" ")
    trailing: str | None = None
    if " :" in s:
        s, _, trailing = s.partition(" :")
    elif s.startswith(":"):
        s, trailing = "", s[1:]
    words = s.split()
    command = words[0].upper() if words else ""
    params = words[1:]
    if trailing is not None:
        if not words:
            command, params = "", []
        params.append(trailing)
    return Line(command, tuple(params), source, tags)


def parse_uint(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a number if it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit()`` is true for "²" (``int()`` then raises) and "٣" (``int()`` reads 3): the
    bridge reads numbers from the server and from the user with this instead."""
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def nick_of(source: str | None) -> str:
    if not source:
        return ""
    return source.split("!", 1)[0].split("@", 1)[0]


def parse_time(value: str | None) -> datetime | None:
    """An IRCv3 ``time`` tag (``2026-05-01T12:05:00.000Z``) -> an aware datetime."""
    if not value:
        return None
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def iso_time(dt: datetime) -> str:
    """An aware datetime -> the ``timestamp=`` form the server expects (UTC, milliseconds)."""
    u = dt.astimezone(timezone.utc)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes, at spaces when
    possible, never inside a character."""
    max_bytes = max(max_bytes, 16)
    out: list[str] = []
    rest = text
    while len(rest.encode()) > max_bytes:
        cut = 0
        size = 0
        for i, ch in enumerate(rest):
            size += len(ch.encode())
            if size > max_bytes:
                break
            cut = i + 1
        space = rest.rfind(" ", 0, cut)
        if space > cut // 2:
            out.append(rest[:space])
            rest = rest[space + 1 :]
        else:
            out.append(rest[:cut])
            rest = rest[cut:]
    if rest or not out:
        out.append(rest)
    return out


# ---------------------------------------------------------------------- casemapping


_ASCII_LOWER = {i: i + 32 for i in range(ord("A"), ord("Z") + 1)}
_RFC1459_LOWER = {**_ASCII_LOWER, ord("["): ord("{"), ord("]"): ord("}"), ord("\\"): ord("|")}
_RFC1459_LOWER_FULL = {**_RFC1459_LOWER, ord("~"): ord("^")}


def fold(name: str, casemapping: str = "rfc1459") -> str:
    if casemapping == "ascii":
        return name.translate(_ASCII_LOWER)
    if casemapping in ("strict-rfc1459", "rfc1459-strict"):
        return name.translate(_RFC1459_LOWER)
    return name.translate(_RFC1459_LOWER_FULL)


# ---------------------------------------------------------------------- translator


@dataclass(slots=True)
class _Batch:
    type: str
    params: tuple[str, ...]
    parent: str | None
    purpose: Purpose | None = None
    count: int = 0
    started: bool = False
    last: datetime | None = None


# Numerics that only carry state we do not show (or that pydle's own queries trigger).
_QUIET_NUMERICS = frozenset(
    {
        "002",
        "003",
        "004",
        "008",
        "042",
        "221",
        "250",
        "251",
        "252",
        "253",
        "254",
        "255",
        "265",
        "266",
        "324",
        "329",
        "331",
        "333",
        "367",
        "368",
        "396",
        "903",
        "906",
        "907",
        "908",
    }
)
_NICK_ERRORS = frozenset({"431", "432", "433", "436", "437"})


class Translator:
    """Turns one connection's incoming lines into events. Create one per connection."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.server = ""
        self.registered = False
        self.caps: set[str] = set()
        self.isupport: dict[str, str] = {}
        self.casemapping = "rfc1459"
        self.chantypes = "#&"
        self.unread_pending: int | None = None  # from NOTE UNREAD PENDING, this connection
        self._batches: dict[str, _Batch] = {}
        self._labels: dict[str, Purpose] = {}
        self._fallback: Purpose = "history"  # for replies when labeled-response is off
        self._names: dict[str, list[str]] = {}
        self._who: dict[str, list[ev.WhoEntry]] = {}
        self._motd: list[str] = []
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.shown: OrderedDict[str, tuple[str, str]] = OrderedDict()  # msgid -> sender, text

    # -------------------------------------------------------------- requests

    def expect(self, label: str | None, purpose: Purpose) -> None:
        """We are about to send a request whose reply is ``purpose`` (tagged ``label`` when
        labeled-response is on)."""
        if label is not None:
            self._labels[label] = purpose
        else:
            self._fallback = purpose

    def remember(self, seen: Iterable[str]) -> None:
        """Carry message ids over from an earlier connection (to drop repeats)."""
        for m in seen:
            self._note_seen(m)

    # -------------------------------------------------------------- helpers

    def is_channel(self, name: str) -> bool:
        return bool(name) and name[0] in self.chantypes

    def same(self, a: str, b: str) -> bool:
        return fold(a, self.casemapping) == fold(b, self.casemapping)

    def _note_seen(self, msgid: str) -> None:
        self.seen[msgid] = None
        self.seen.move_to_end(msgid)
        while len(self.seen) > SEEN_MSGIDS:
            self.seen.popitem(last=False)

    def _block_of(self, line: Line) -> _Batch | None:
        ref = line.tags.get("batch")
        while ref is not None:
            b = self._batches.get(ref)
            if b is None:
                return None
            if b.type == "chathistory":
                return b
            ref = b.parent
        return None

    def _purpose_of_batch(self, line: Line, parent: str | None) -> Purpose | None:
        label = line.tags.get("label")
        if label is not None:
            return self._labels.pop(label, None)
        ref = parent
        while ref is not None:
            b = self._batches.get(ref)
            if b is None:
                break
            if b.purpose is not None:
                return b.purpose
            ref = b.parent
        return None

    def _from_server(self, source: str | None) -> bool:
        if not source:
            return True
        if "!" in source or "@" in source:
            return False
        return "." in source or source == self.server

    # -------------------------------------------------------------- feeding

    def feed(self, line: Line, now: datetime) -> list[ev.Event]:
        """One incoming line -> the events to show (possibly none)."""
        label = line.tags.get("label")
        if label is not None and line.command != "BATCH":
            self._labels.pop(label, None)  # a one-line reply (or ACK): the request is done
        cmd = line.command
        if len(cmd) == 3 and parse_uint(cmd) is not None:
            return self._numeric(line, now)
        handler = _HANDLERS.get(cmd)
        if handler is None:
            return []
        return handler(self, line, now)

    # -------------------------------------------------------------- messages

    def _message(self, line: Line, now: datetime) -> list[ev.Event]:
        if len(line.params) < 1:
            return []
        target = line.params[0]
        text = line.params[1] if len(line.params) > 1 else ""
        when = parse_time(line.tags.get("time")) or now
        notice = line.command == "NOTICE"
        if self._from_server(line.source):
            sender = line.source or self.server
            channel_frame = target if self.is_channel(target) else ""
            return [ev.ServerNotice(when, sender, text, channel_frame)]
        sender = nick_of(line.source)
        kind: ev.Kind = "notice" if notice else "privmsg"
        if text.startswith("\x01"):
            body = text.strip("\x01")
            word, _, rest = body.partition(" ")
            if word.upper() != "ACTION" or notice:
                return []  # other CTCP (VERSION, PING...): pydle answers the queries itself
            kind, text = "action", rest
        if target[:1] in ("@", "+") and self.is_channel(target[1:]):
            target = target[1:]  # STATUSMSG: "@#chan" reaches the channel's operators
        private = not self.is_channel(target)
        own = self.same(sender, self.nick)
        msgid = line.tags.get("msgid")
        context: ev.Context = "live"
        block = self._block_of(line)
        out: list[ev.Event] = []
        if block is not None:
            b = block
            context = "unread" if b.purpose == "unread" else "history"
            if context == "unread" and msgid is not None and msgid in self.seen:
                return []  # already shown live on this run
            if not b.started:
                b.started = True
                out.append(ev.BlockStart(context, b.params[0] if b.params else ""))
            b.count += 1
            b.last = when
        if msgid is not None:
            self._note_seen(msgid)
            self.shown[msgid] = (sender, text)
            while len(self.shown) > SHOWN_TEXTS:
                self.shown.popitem(last=False)
        out.append(ev.Chat(when, sender, target, text, kind, private, own, context, msgid))
        return out

    def _redact(self, line: Line, now: datetime) -> list[ev.Event]:
        """``:by REDACT <target> <msgid> [:reason]`` (ircv3.net message-redaction)."""
        if len(line.params) < 2:
            return []
        target, msgid = line.params[0], line.params[1]
        reason = line.params[2] if len(line.params) > 2 else ""
        by = nick_of(line.source)
        sender, text = self.shown.pop(msgid, ("", ""))
        when = parse_time(line.tags.get("time")) or now
        own = self.same(by, self.nick)
        mine = bool(sender) and self.same(sender, self.nick)
        return [ev.Redacted(when, by, target, msgid, reason, sender, text, own, mine)]

    # -------------------------------------------------------------- batches

    def _batch(self, line: Line, now: datetime) -> list[ev.Event]:
        if not line.params:
            return []
        ref = line.params[0]
        if ref.startswith("+"):
            name = ref[1:]
            btype = line.params[1] if len(line.params) > 1 else ""
            parent = line.tags.get("batch")
            b = _Batch(btype, tuple(line.params[2:]), parent)
            b.purpose = self._purpose_of_batch(line, parent)
            if btype == "chathistory" and b.purpose is None:
                b.purpose = self._fallback
            self._batches[name] = b
            return []
        if ref.startswith("-"):
            b_or_none = self._batches.pop(ref[1:], None)
            if b_or_none is None or b_or_none.type != "chathistory":
                return []
            b = b_or_none
            kind: BlockKind = "unread" if b.purpose == "unread" else "history"
            target = b.params[0] if b.params else ""
            return [ev.BlockEnd(kind, target, b.count, b.last)]
        return []

    # -------------------------------------------------------------- standard replies

    def _standard(self, line: Line, now: datetime) -> list[ev.Event]:
        if len(line.params) < 3:
            return []
        kind: ev.ReplyKind = (
            "FAIL" if line.command == "FAIL" else "WARN" if line.command == "WARN" else "NOTE"
        )
        command, code = line.params[0].upper(), line.params[1].upper()
        context = tuple(line.params[2:-1])
        text = line.params[-1]
        if kind == "NOTE" and command == "DELAY":
            if code == "SCHEDULED" and len(context) >= 3:
                return [ev.DelayScheduled(context[0], context[1], parse_time(context[2]), text)]
            if code == "ENTRY" and len(context) >= 3:
                return [ev.DelayEntry(context[0], context[1], parse_time(context[2]), text)]
            if code == "END":
                n = (parse_uint(context[0]) if context else None) or 0
                return [ev.DelayListEnd(n)]
            if code == "CANCELLED" and context:
                return [ev.DelayCancelled(context[0])]
        if kind == "NOTE" and command == "COMPLAIN" and code == "RECORDED" and context:
            return [ev.ComplaintRecorded(context[0], text)]
        if kind == "NOTE" and command == "UNREAD" and code == "PENDING" and context:
            n = parse_uint(context[0]) or 0
            self.unread_pending = n
            return [ev.UnreadPending(n, text)]
        return [ev.Reply(kind, command, code, context, text)]

    # -------------------------------------------------------------- channel events

    def _join(self, line: Line, now: datetime) -> list[ev.Event]:
        if not line.params:
            return []
        nick = nick_of(line.source)
        own = self.same(nick, self.nick)
        return [ev.Joined(nick, ch, own) for ch in line.params[0].split(",") if ch]

    def _part(self, line: Line, now: datetime) -> list[ev.Event]:
        if not line.params:
            return []
        nick = nick_of(line.source)
        reason = line.params[1] if len(line.params) > 1 else ""
        own = self.same(nick, self.nick)
        return [ev.Parted(nick, ch, reason, own) for ch in line.params[0].split(",") if ch]

    def _kick(self, line: Line, now: datetime) -> list[ev.Event]:
        if len(line.params) < 2:
            return []
        target = line.params[1]
        reason = line.params[2] if len(line.params) > 2 else ""
        by = nick_of(line.source)
        return [ev.Kicked(target, line.params[0], by, reason, self.same(target, self.nick))]

    def _quit(self, line: Line, now: datetime) -> list[ev.Event]:
        reason = line.params[0] if line.params else ""
        return [ev.Quit(nick_of(line.source), reason)]

    def _nick(self, line: Line, now: datetime) -> list[ev.Event]:
        if not line.params:
            return []
        old, new = nick_of(line.source), line.params[0]
        own = self.same(old, self.nick)
        if own:
            self.nick = new
        return [ev.NickChanged(old, new, own)]

    def _topic(self, line: Line, now: datetime) -> list[ev.Event]:
        if len(line.params) < 2:
            return []
        return [ev.Topic(line.params[0], line.params[1], nick_of(line.source))]

    def _markread(self, line: Line, now: datetime) -> list[ev.Event]:
        if len(line.params) < 2:
            return []
        value = line.params[1]
        ts = parse_time(value[10:]) if value.startswith("timestamp=") else None
        return [ev.ReadMarker(line.params[0], ts)]

    def _error(self, line: Line, now: datetime) -> list[ev.Event]:
        text = line.params[-1] if line.params else ""
        out: list[ev.Event] = [ev.ServerError(text)]
        if not self.registered and "password" in text.lower():
            out.append(ev.AuthFailed(text))  # e.g. ngircd, which sends no 464 first
        return out

    # -------------------------------------------------------------- numerics

    def _numeric(self, line: Line, now: datetime) -> list[ev.Event]:
        num = line.command.zfill(3)
        p = line.params
        text = p[-1] if p else ""
        if num == "001":
            if p:
                self.nick = p[0]
            self.server = line.source or self.server
            return []
        if num == "005":
            for tok in p[1:-1]:
                key, _, value = tok.partition("=")
                self.isupport[key.upper()] = value
                if key.upper() == "CASEMAPPING" and value:
                    self.casemapping = value.lower()
                elif key.upper() == "CHANTYPES" and value:
                    self.chantypes = value
            return []
        if num in ("375", "372"):
            if num == "372":
                self._motd.append(text[2:] if text.startswith("- ") else text)
            return []
        if num in ("376", "422"):
            out: list[ev.Event] = []
            out.extend(ev.Motd(text) for text in self._motd)
            self._motd = []
            if not self.registered:
                self.registered = True
                out.append(ev.Connected(self.nick, self.server, tuple(sorted(self.caps))))
            return out
        if num == "332" and len(p) >= 3:
            return [ev.Topic(p[1], p[2])]
        if num == "353" and len(p) >= 4:
            names = self._names.setdefault(p[2], [])
            for word in p[3].split():
                names.append(word.lstrip("~&@%+").split("!", 1)[0])
            return []
        if num == "366" and len(p) >= 2:
            got = self._names.pop(p[1], None)
            return [ev.Names(p[1], tuple(got))] if got is not None else []
        if num == "352" and len(p) >= 7:
            flags = p[6]
            entry = ev.WhoEntry(p[5], f"{p[2]}@{p[3]}", "G" in flags, "@" in flags)
            self._who.setdefault(fold(p[1], self.casemapping), []).append(entry)
            return []
        if num == "315" and len(p) >= 2:
            key = fold(p[1], self.casemapping)
            entries = self._who.pop(key, None)
            if entries is None:
                # WHO <nick>: the 352 lines name the channel "*"
                entries = self._who.pop("*", [])
            return [ev.WhoList(p[1], tuple(entries))]
        if num == "301" and len(p) >= 3:
            return [ev.Away(p[1], p[2])]
        if num == "900" and len(p) >= 3:
            return [ev.LoggedIn(p[2])]
        if num == "464":
            return [ev.AuthFailed(text)]
        if num in _NICK_ERRORS and not self.registered:
            nick = p[1] if len(p) > 2 else self.nick
            return [ev.NickInUse(nick, text)]
        if num in _QUIET_NUMERICS:
            return []
        if num == "421" and len(p) >= 2 and p[1].upper() == "CAP":
            return []  # a server without capability negotiation
        if num[0] in "45" or num in ("902", "904", "905"):
            return [ev.ErrorReply(num, tuple(p[1:-1]), text)]
        return []


_HANDLERS = {
    "PRIVMSG": Translator._message,
    "NOTICE": Translator._message,
    "BATCH": Translator._batch,
    "FAIL": Translator._standard,
    "WARN": Translator._standard,
    "NOTE": Translator._standard,
    "JOIN": Translator._join,
    "PART": Translator._part,
    "KICK": Translator._kick,
    "QUIT": Translator._quit,
    "NICK": Translator._nick,
    "TOPIC": Translator._topic,
    "MARKREAD": Translator._markread,
    "ERROR": Translator._error,
    "REDACT": Translator._redact,
}
