"""Event -> one terminal line. Pure: no I/O; the time zone and "now" are parameters.

``render(event)`` returns the line to show, or None for events that are not shown (read
markers, an empty unread block). Messages start with their time, ``[HH:MM]`` (with the date
when it is not today); stored messages are framed by ``=== ... ===`` lines.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from . import events as ev

# IRC formatting (bold, colours, ...) and terminal control characters never reach the screen
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")

_COMMAND_NAMES = {
    "DELAY": "delay",
    "COMPLAIN": "complaint",
    "CHATHISTORY": "history",
    "UNREAD": "unread",
    "MARKREAD": "read marker",
    "MESSENGER": "messenger",
    "REGISTER": "register",
    "REDACT": "delete",
}


def stamp(when: datetime, tz: tzinfo | None = None, now: datetime | None = None) -> str:
    """``[HH:MM]`` in ``tz`` (local time when None), ``[YYYY-MM-DD HH:MM]`` when ``when`` is
    not on the same day as ``now``."""
    local = when.astimezone(tz)
    if now is not None and local.date() != now.astimezone(tz).date():
        return local.strftime("[%Y-%m-%d %H:%M]")
    return local.strftime("[%H:%M]")


def _clock(when: datetime | None, tz: tzinfo | None, now: datetime | None) -> str:
    if when is None:
        return "(unknown time)"
    local = when.astimezone(tz)
    if now is not None and local.date() != now.astimezone(tz).date():
        return local.strftime("%Y-%m-%d %H:%M")
    return local.strftime("%H:%M")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _is_channel(name: str) -> bool:
    return name[:1] in ("#", "&")


def _chat(e: ev.Chat, tz: tzinfo | None, now: datetime | None) -> str:
    t = stamp(e.time, tz, now)
    if e.private:
        where = "*private*"
        if e.kind == "action":
            return f"{t} {where} * {e.sender} {e.text} (to {e.target})"
        if e.kind == "notice":
            # notices to us (e.g. from the Messenger service) read like the server's own
            if not e.own:
                return f"{t} -{e.sender}- {e.text}"
            return f"{t} {where} -{e.sender} → {e.target}- {e.text}"
        return f"{t} {where} <{e.sender} → {e.target}> {e.text}"
    if e.kind == "action":
        return f"{t} {e.target} * {e.sender} {e.text}"
    if e.kind == "notice":
        return f"{t} {e.target} -{e.sender}- {e.text}"
    return f"{t} {e.target} <{e.sender}> {e.text}"


def _block_name(kind: str, target: str) -> str:
    if kind == "unread":
        return f"unread in {target}" if _is_channel(target) else f"unread with {target}"
    return f"history of {target}" if _is_channel(target) else f"history with {target}"


def _reply(e: ev.Reply) -> str:
    if e.kind == "NOTE":
        return f"* {e.text}"
    prefix = "! Warning: " if e.kind == "WARN" else "! "
    if e.command in ("PRIVMSG", "NOTICE") and e.context:
        return f"{prefix}{e.context[0]}: {e.text}"
    name = _COMMAND_NAMES.get(e.command, e.command.lower())
    return f"{prefix}{name}: {e.text}"


def _who(e: ev.WhoList) -> str:
    if not e.entries:
        return f"*** /who {e.target}: nobody"
    names = [("@" if w.op else "") + w.nick + (" (away)" if w.away else "") for w in e.entries]
    if _is_channel(e.target):
        return f"*** /who {e.target}: {', '.join(names)} ({_plural(len(names), 'user')})"
    w = e.entries[0]
    return f"*** /who {e.target}: {w.nick} is online as {w.userhost}" + (
        " (away)" if w.away else ""
    )


def _delay_item(text: str) -> str:
    """The message part of the server's '#7 to #general at ... (in 5m): hello'."""
    _, sep, rest = text.partition("): ")
    return rest if sep else text


def clean(text: str) -> str:
    """Drop IRC formatting codes and control characters; tabs and newlines become spaces."""
    text = _FORMATTING.sub("", text)
    return _CONTROL.sub("", text.replace("\t", " ").replace("\n", " ").replace("\r", " "))


def render(event: ev.Event, *, tz: tzinfo | None = None, now: datetime | None = None) -> str | None:
    """The line to show for ``event`` (None: nothing to show)."""
    line = _render(event, tz, now)
    return clean(line) if line is not None else None


def _render(event: ev.Event, tz: tzinfo | None, now: datetime | None) -> str | None:
    e = event
    if isinstance(e, ev.Chat):
        return _chat(e, tz, now)
    if isinstance(e, ev.ServerNotice):
        where = f"{e.target} " if e.target else ""
        return f"{stamp(e.time, tz, now)} {where}-{e.sender}- {e.text}"
    if isinstance(e, ev.BlockStart):
        return f"=== {_block_name(e.kind, e.target)} ==="
    if isinstance(e, ev.BlockEnd):
        if e.count == 0:
            if e.kind == "unread":
                return None
            return f"=== no stored messages for {e.target} ==="
        return f"=== end of {_block_name(e.kind, e.target)} ({_plural(e.count, 'message')}) ==="
    if isinstance(e, ev.Redacted):
        who = "You" if e.own else e.by
        what = "a message"
        if e.sender:
            owner = "your" if e.mine else "their" if e.sender == e.by else f"{e.sender}'s"
            what = f"{owner} message: {e.text}"
        why = f" ({e.reason})" if e.reason else ""
        return f"{stamp(e.time, tz, now)} {e.target} * {who} deleted {what}{why}"
    if isinstance(e, ev.Joined):
        return f"*** {'You' if e.own else e.nick} joined {e.channel}"
    if isinstance(e, ev.Parted):
        why = f" ({e.reason})" if e.reason else ""
        return f"*** {'You' if e.own else e.nick} left {e.channel}{why}"
    if isinstance(e, ev.Kicked):
        why = f" ({e.reason})" if e.reason else ""
        who = "You were" if e.own else f"{e.nick} was"
        return f"*** {who} kicked from {e.channel} by {e.by}{why}"
    if isinstance(e, ev.Quit):
        why = f" ({e.reason})" if e.reason else ""
        return f"*** {e.nick} quit{why}"
    if isinstance(e, ev.NickChanged):
        if e.own:
            return f"*** You are now known as {e.new}"
        return f"*** {e.old} is now known as {e.new}"
    if isinstance(e, ev.Topic):
        if e.by:
            return f"*** {e.by} set the topic of {e.channel}: {e.text}"
        return f"*** Topic of {e.channel}: {e.text}"
    if isinstance(e, ev.Names):
        return f"*** In {e.channel}: {', '.join(e.nicks)} ({_plural(len(e.nicks), 'user')})"
    if isinstance(e, ev.WhoList):
        return _who(e)
    if isinstance(e, ev.Away):
        return f"*** {e.nick} is away: {e.text}"
    if isinstance(e, ev.Reply):
        return _reply(e)
    if isinstance(e, ev.DelayScheduled):
        return (
            f"* Scheduled message #{e.id} to {e.target} for {_clock(e.due, tz, now)} "
            f"(cancel with /cancel {e.id})"
        )
    if isinstance(e, ev.DelayEntry):
        return f"  #{e.id} to {e.target} at {_clock(e.due, tz, now)}: {_delay_item(e.text)}"
    if isinstance(e, ev.DelayListEnd):
        if e.count == 0:
            return "* No scheduled messages"
        return f"* {_plural(e.count, 'scheduled message')}"
    if isinstance(e, ev.DelayCancelled):
        return f"* Scheduled message #{e.id} cancelled"
    if isinstance(e, ev.ComplaintRecorded):
        return f"* {e.text}"
    if isinstance(e, ev.UnreadPending):
        if e.count == 0:
            return None
        return f"*** {_plural(e.count, 'unread message')} waiting for you"
    if isinstance(e, ev.ReadMarker):
        return None
    if isinstance(e, ev.ErrorReply):
        where = f"{' '.join(e.context)}: " if e.context else ""
        return f"! {where}{e.text}"
    if isinstance(e, ev.ServerError):
        return None  # its text is the reason the Disconnected (or AuthFailed) line shows
    if isinstance(e, ev.Motd):
        return f"*** {e.text}"
    if isinstance(e, ev.LoggedIn):
        return f"*** Logged in as {e.account}"
    if isinstance(e, ev.NickInUse):
        return (
            f"! The nick {e.nick} is not available ({e.text}); choose another with /nickname <nick>"
        )
    if isinstance(e, ev.AuthFailed):
        return f"! Login refused: {e.text}"
    if isinstance(e, ev.Connected):
        return f"*** Connected to {e.server or 'the server'} as {e.nick}"
    if isinstance(e, ev.Disconnected):
        return f"*** Disconnected: {e.reason}"
    if isinstance(e, ev.Connecting):
        again = f" (attempt {e.attempt})" if e.attempt > 1 else ""
        return f"*** Connecting to {e.host}:{e.port}{again}..."
    if isinstance(e, ev.Reconnecting):
        return f"*** Reconnecting in {e.delay:g}s..."
    if isinstance(e, ev.Info):
        return e.text
    if isinstance(e, (ev.Usage, ev.Problem)):
        return f"! {e.text}"
    return None
