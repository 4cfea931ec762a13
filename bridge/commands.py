"""What the user typed -> a command value. Pure: no I/O, no IRC, no pydle.

``parse_input("/priv bob hi")`` returns ``Priv(nick="bob", text="hi")``; a mistyped command
returns ``Invalid`` with a one-line usage hint, never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .protocol import parse_uint

DEFAULT_CHANNEL = "#general"
DEFAULT_HISTORY = 20
MAX_HISTORY = 1000

_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*\Z")
_CHANNEL = re.compile(r"[#&][^\s,\x07]{1,49}\Z")
# "5" (minutes, as in the original client), or units: 90s, 15m, 2h, 1h30m, 1d, 1d12h
_DURATION = re.compile(  # ASCII digits only: re's \d would take "٣" too
    r"(?:\d+|(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?)\Z", re.IGNORECASE | re.ASCII
)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


# ---------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Say:
    """Plain text: to the current channel."""

    text: str


@dataclass(frozen=True, slots=True)
class Action:
    """/me waves"""

    text: str


@dataclass(frozen=True, slots=True)
class Msg:
    """/msg <nick|#channel> <text>"""

    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Priv:
    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class Nickname:
    nick: str


@dataclass(frozen=True, slots=True)
class Delay:
    """A message sent later by the server. ``target`` is None when the user gave no channel:
    then the first word of ``text`` is a recipient if it names a user, else it goes to
    #general (the server decides, as its ``Messenger`` service does)."""

    duration: str
    seconds: int
    target: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Delays:
    pass


@dataclass(frozen=True, slots=True)
class Cancel:
    id: str


@dataclass(frozen=True, slots=True)
class Complaint:
    nick: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Join:
    channel: str


@dataclass(frozen=True, slots=True)
class Part:
    channel: str | None = None  # None: the current channel
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Who:
    target: str | None = None  # None: the current channel


@dataclass(frozen=True, slots=True)
class History:
    target: str | None = None  # None: the current channel
    limit: int = DEFAULT_HISTORY


@dataclass(frozen=True, slots=True)
class Unread:
    pass


@dataclass(frozen=True, slots=True)
class Delete:
    """/delete [<#channel|nick>]: delete your last message there (REDACT)."""

    target: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Raw:
    """/quote <raw IRC line>"""

    line: str


@dataclass(frozen=True, slots=True)
class Nothing:
    """An empty line."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """A mistyped command: ``hint`` is one line saying how to type it."""

    hint: str


Command = (
    Say
    | Action
    | Msg
    | Priv
    | Nickname
    | Delay
    | Delays
    | Cancel
    | Complaint
    | Delete
    | Quit
    | Join
    | Part
    | Who
    | History
    | Unread
    | Help
    | Raw
    | Nothing
    | Invalid
)

# ---------------------------------------------------------------------- usage and help

USAGE: dict[str, str] = {
    "nickname": "/nickname <nick>",
    "priv": "/priv <nick> <message>",
    "msg": "/msg <nick|#channel> <message>",
    "me": "/me <action>",
    "delay": "/delay <minutes|90s|15m|2h|1h30m|1d> [<#channel|nick>] <message>",
    "delays": "/delays",
    "cancel": "/cancel <id>",
    "complaint": "/complaint <nick> [reason]",
    "delete": "/delete [<#channel|nick>]",
    "join": "/join <#channel>",
    "part": "/part [<#channel>] [reason]",
    "who": "/who [<#channel|nick>]",
    "history": "/history [<#channel|nick>] [<count>]",
    "unread": "/unread",
    "quote": "/quote <raw IRC line>",
    "help": "/help [command]",
    "quit": "/quit [reason]  (or just: quit)",
}

DESCRIPTIONS: dict[str, str] = {
    "nickname": "choose or change your nick",
    "priv": "send a private message",
    "msg": "send a message to a nick or a channel",
    "me": "send an action (* you waves)",
    "delay": "have the server send a message later (default target #general; "
    "a bare number is minutes)",
    "delays": "list your scheduled messages",
    "cancel": "cancel a scheduled message",
    "complaint": "complain about a user (3 complaints mute them for a while)",
    "delete": "delete your last message there (the current channel by default), for everyone",
    "join": "join a channel and make it the current one",
    "part": "leave a channel",
    "who": "who is in a channel",
    "history": "show the last messages of a channel or conversation",
    "unread": "show what arrived while you were away",
    "quote": "send a raw IRC line",
    "help": "this help, or one command's usage",
    "quit": "leave",
}

ALIASES: dict[str, str] = {
    "nick": "nickname",
    "query": "priv",
    "delayed": "delays",
    "complain": "complaint",
    "report": "complaint",
    "undo": "delete",
    "redact": "delete",
    "leave": "part",
    "names": "who",
    "raw": "quote",
    "exit": "quit",
    "bye": "quit",
    "?": "help",
}


def help_lines(topic: str | None = None) -> list[str]:
    """The help text, one entry per line (all commands, or one command)."""
    if topic:
        name = ALIASES.get(topic.lower().lstrip("/"), topic.lower().lstrip("/"))
        if name not in USAGE:
            return [f"No such command: /{topic.lstrip('/')}. Try /help"]
        return [f"{USAGE[name]}  — {DESCRIPTIONS[name]}"]
    width = max(len(u) for u in USAGE.values())
    lines = ["Commands (plain text goes to the current channel, #general at start):"]
    lines += [f"  {USAGE[n]:<{width}}  {DESCRIPTIONS[n]}" for n in USAGE]
    return lines


def usage(name: str) -> Invalid:
    return Invalid(f"Usage: {USAGE[name]}")


# ---------------------------------------------------------------------- parsing


def is_nick(word: str) -> bool:
    return bool(_NICK.match(word))


def is_channel(word: str) -> bool:
    return bool(_CHANNEL.match(word))


def duration_seconds(word: str) -> int | None:
    """``"5"`` -> 300 (minutes), ``"90s"`` -> 90, ``"1h30m"`` -> 5400; None if not a duration."""
    w = word.strip().lower()
    if not w or not _DURATION.match(w):
        return None
    if w.isdigit():  # ASCII digits (the pattern says so): minutes
        minutes = parse_uint(w, max_digits=12)
        return None if minutes is None else minutes * 60
    total = 0
    for amount, unit in re.findall(r"([0-9]+)([dhms])", w):
        total += int(amount) * _UNIT_SECONDS[unit]
    return total


def _split1(text: str) -> tuple[str, str]:
    """First word and the rest (rest keeps its inner spacing)."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


def parse_input(line: str) -> Command:
    """One line the user typed -> the command it means."""
    text = line.rstrip("\r\n")
    stripped = text.strip()
    if not stripped:
        return Nothing()
    if stripped.lower() in ("quit", "exit"):
        return Quit()
    if not stripped.startswith("/"):
        return Say(text)
    if stripped.startswith("//"):
        return Say(stripped[1:])  # "//etc" sends "/etc" as text
    word, rest = _split1(stripped[1:])
    if not word:
        return Invalid("Type a command after '/', e.g. /help")
    name = word.lower()
    name = ALIASES.get(name, name)
    parser = _PARSERS.get(name)
    if parser is None:
        return Invalid(f"Unknown command /{word}. Try /help")
    return parser(rest)


def _nickname(rest: str) -> Command:
    nick, extra = _split1(rest)
    if not nick or extra or not is_nick(nick):
        return usage("nickname")
    return Nickname(nick)


def _priv(rest: str) -> Command:
    nick, text = _split1(rest)
    if not nick or not text:
        return usage("priv")
    if is_channel(nick):
        return Invalid(f"{nick} is a channel: type plain text there, or /msg {nick} <message>")
    if not is_nick(nick):
        return usage("priv")
    return Priv(nick, text)


def _msg(rest: str) -> Command:
    target, text = _split1(rest)
    if not target or not text or not (is_nick(target) or is_channel(target)):
        return usage("msg")
    return Msg(target, text)


def _me(rest: str) -> Command:
    return Action(rest) if rest else usage("me")


def _delay(rest: str) -> Command:
    duration, after = _split1(rest)
    if not duration or not after:
        return usage("delay")
    seconds = duration_seconds(duration)
    if seconds is None:
        return Invalid(
            f"{duration!r} is not a duration: use minutes (5) or 90s, 15m, 2h, 1h30m, 1d. "
            f"Usage: {USAGE['delay']}"
        )
    if seconds <= 0:
        return Invalid("The delay must be longer than zero")
    first, text = _split1(after)
    if is_channel(first):
        if not text:
            return usage("delay")
        return Delay(duration, seconds, first, text)
    if first.startswith(("#", "&")):
        return Invalid(f"{first} is not a valid channel name")
    if not text:  # one word: it is the message, to #general
        return Delay(duration, seconds, DEFAULT_CHANNEL, after)
    return Delay(duration, seconds, None, after)


def _delays(rest: str) -> Command:
    return Delays() if not rest else usage("delays")


def _cancel(rest: str) -> Command:
    ident, extra = _split1(rest)
    ident = ident.lstrip("#")
    if extra or parse_uint(ident) is None:
        return usage("cancel")
    return Cancel(ident)


def _complaint(rest: str) -> Command:
    nick, reason = _split1(rest)
    if not nick or not is_nick(nick):
        return usage("complaint")
    return Complaint(nick, reason)


def _delete(rest: str) -> Command:
    target, extra = _split1(rest)
    if extra or (target and not (is_channel(target) or is_nick(target))):
        return usage("delete")
    return Delete(target or None)


def _quit(rest: str) -> Command:
    return Quit(rest)


def _join(rest: str) -> Command:
    chan, extra = _split1(rest)
    if chan and not chan.startswith(("#", "&")):
        chan = "#" + chan
    if not chan or extra or not is_channel(chan):
        return usage("join")
    return Join(chan)


def _part(rest: str) -> Command:
    first, reason = _split1(rest)
    if not first:
        return Part()
    if first.startswith(("#", "&")):
        if not is_channel(first):
            return usage("part")
        return Part(first, reason)
    return Part(None, rest)


def _who(rest: str) -> Command:
    target, extra = _split1(rest)
    if extra or (target and not (is_channel(target) or is_nick(target))):
        return usage("who")
    return Who(target or None)


def _history(rest: str) -> Command:
    words = rest.split()
    target: str | None = None
    limit = DEFAULT_HISTORY
    if len(words) > 2:
        return usage("history")
    for i, w in enumerate(words):
        count = parse_uint(w, max_digits=12)
        if count is not None and i == len(words) - 1:
            limit = count
            if not 1 <= limit <= MAX_HISTORY:
                return Invalid(f"The count must be between 1 and {MAX_HISTORY}")
        elif i == 0 and (is_channel(w) or is_nick(w)):
            target = w
        else:
            return usage("history")
    return History(target, limit)


def _unread(rest: str) -> Command:
    return Unread() if not rest else usage("unread")


def _help(rest: str) -> Command:
    topic, _ = _split1(rest)
    return Help(topic or None)


def _quote(rest: str) -> Command:
    return Raw(rest) if rest else usage("quote")


_PARSERS = {
    "nickname": _nickname,
    "priv": _priv,
    "msg": _msg,
    "me": _me,
    "delay": _delay,
    "delays": _delays,
    "cancel": _cancel,
    "delete": _delete,
    "complaint": _complaint,
    "quit": _quit,
    "join": _join,
    "part": _part,
    "who": _who,
    "history": _history,
    "unread": _unread,
    "help": _help,
    "quote": _quote,
}
