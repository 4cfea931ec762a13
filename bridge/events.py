"""What the bridge shows: plain, immutable values produced by the protocol layer (and by the
app for local happenings), turned into terminal lines by :mod:`bridge.render`.

Nothing here knows about sockets, pydle or the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Context = Literal["live", "history", "unread"]
Kind = Literal["privmsg", "notice", "action"]
ReplyKind = Literal["FAIL", "WARN", "NOTE"]


@dataclass(frozen=True, slots=True)
class Chat:
    """A message from a person (or our own, echoed back)."""

    time: datetime  # aware; the server's time when it sent server-time
    sender: str
    target: str  # a channel, or the recipient's nick
    text: str
    kind: Kind = "privmsg"
    private: bool = False
    own: bool = False  # we sent it
    context: Context = "live"
    msgid: str | None = None


@dataclass(frozen=True, slots=True)
class Redacted:
    """A message was deleted (REDACT, draft/message-redaction). ``sender`` and ``text``: the
    deleted message's, when this connection saw it ("" otherwise)."""

    time: datetime
    by: str
    target: str  # a channel, or the nick the private message was sent to
    msgid: str
    reason: str = ""
    sender: str = ""
    text: str = ""
    own: bool = False  # we deleted it
    mine: bool = False  # the deleted message was ours


@dataclass(frozen=True, slots=True)
class ServerNotice:
    """A NOTICE from the server or a service (``Messenger``)."""

    time: datetime
    sender: str  # "Messenger", or the server name
    text: str
    target: str = ""  # set when it was sent to a channel (replay frames)


@dataclass(frozen=True, slots=True)
class BlockStart:
    """A block of stored messages begins (a ``chathistory`` batch with at least one message)."""

    kind: Literal["history", "unread"]
    target: str


@dataclass(frozen=True, slots=True)
class BlockEnd:
    kind: Literal["history", "unread"]
    target: str
    count: int  # messages shown in the block (0: nothing was stored)
    last: datetime | None = None  # time of the newest message, for MARKREAD


@dataclass(frozen=True, slots=True)
class Joined:
    nick: str
    channel: str
    own: bool = False


@dataclass(frozen=True, slots=True)
class Parted:
    nick: str
    channel: str
    reason: str = ""
    own: bool = False


@dataclass(frozen=True, slots=True)
class Kicked:
    nick: str
    channel: str
    by: str
    reason: str = ""
    own: bool = False


@dataclass(frozen=True, slots=True)
class Quit:
    nick: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NickChanged:
    old: str
    new: str
    own: bool = False


@dataclass(frozen=True, slots=True)
class Topic:
    channel: str
    text: str
    by: str = ""  # empty when it is the topic shown on join


@dataclass(frozen=True, slots=True)
class Names:
    channel: str
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WhoEntry:
    nick: str
    userhost: str
    away: bool = False
    op: bool = False


@dataclass(frozen=True, slots=True)
class WhoList:
    target: str
    entries: tuple[WhoEntry, ...]


@dataclass(frozen=True, slots=True)
class Away:
    """RPL_AWAY: the person we wrote to is away."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A standard reply (FAIL/WARN/NOTE) not covered by a more specific event."""

    kind: ReplyKind
    command: str
    code: str
    context: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class DelayScheduled:
    id: str
    target: str
    due: datetime | None
    text: str  # the server's description


@dataclass(frozen=True, slots=True)
class DelayEntry:
    id: str
    target: str
    due: datetime | None
    text: str  # the server's description of the item


@dataclass(frozen=True, slots=True)
class DelayListEnd:
    count: int


@dataclass(frozen=True, slots=True)
class DelayCancelled:
    id: str


@dataclass(frozen=True, slots=True)
class ComplaintRecorded:
    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class UnreadPending:
    """The server keeps ``count`` unread messages for us until we ask (UNREAD)."""

    count: int
    text: str


@dataclass(frozen=True, slots=True)
class ReadMarker:
    """The server's read marker for a target (None: nothing read yet). Not shown."""

    target: str
    time: datetime | None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error numeric (4xx/5xx) from the server."""

    numeric: str
    context: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class ServerError:
    """ERROR: the server is closing our connection."""

    text: str


@dataclass(frozen=True, slots=True)
class Motd:
    text: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account: str


@dataclass(frozen=True, slots=True)
class NickInUse:
    """Our nick was refused during registration (in use, reserved or invalid)."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """The server refused our password: reconnecting would not help."""

    text: str


@dataclass(frozen=True, slots=True)
class Connected:
    """Registration finished: we can talk."""

    nick: str
    server: str
    caps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


# ---------------------------------------------------------------------- from the app itself


@dataclass(frozen=True, slots=True)
class Connecting:
    host: str
    port: int
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Reconnecting:
    delay: float


@dataclass(frozen=True, slots=True)
class Info:
    """A line from the bridge itself (help, hints, state changes)."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """A one-line hint after a mistyped command."""

    text: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Something went wrong on our side (not sent, not connected, ...)."""

    text: str


Event = (
    Chat
    | Redacted
    | ServerNotice
    | BlockStart
    | BlockEnd
    | Joined
    | Parted
    | Kicked
    | Quit
    | NickChanged
    | Topic
    | Names
    | WhoList
    | Away
    | Reply
    | DelayScheduled
    | DelayEntry
    | DelayListEnd
    | DelayCancelled
    | ComplaintRecorded
    | UnreadPending
    | ReadMarker
    | ErrorReply
    | ServerError
    | Motd
    | LoggedIn
    | NickInUse
    | AuthFailed
    | Connected
    | Disconnected
    | Connecting
    | Reconnecting
    | Info
    | Usage
    | Problem
)

__all__ = [
    "AuthFailed",
    "Away",
    "BlockEnd",
    "BlockStart",
    "Chat",
    "ComplaintRecorded",
    "Connected",
    "Connecting",
    "Context",
    "DelayCancelled",
    "DelayEntry",
    "DelayListEnd",
    "DelayScheduled",
    "Disconnected",
    "ErrorReply",
    "Event",
    "Info",
    "Joined",
    "Kicked",
    "Kind",
    "LoggedIn",
    "Motd",
    "Names",
    "NickChanged",
    "NickInUse",
    "Parted",
    "Problem",
    "Quit",
    "ReadMarker",
    "Reconnecting",
    "Redacted",
    "Reply",
    "ServerError",
    "ServerNotice",
    "Topic",
    "UnreadPending",
    "Usage",
    "WhoEntry",
    "WhoList",
]
