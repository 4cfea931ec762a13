"""Domain errors as IRC replies: one table from the engine's error classes
(ircd/messenger/errors.py) to the numeric and text a client gets, and one to the FAIL code of
the standard replies the Messenger service sends (service.py). A handler catches the errors its
messenger call can raise and answers ``reply_error(hub, s, e, *context)``; where a command
words an error its own way (PRIVMSG's rate limit, KICK's "They aren't on that channel") it
keeps its own ``except`` clause.
"""

from __future__ import annotations

from ..messenger.errors import (
    AlreadyMember,
    BadKey,
    Banned,
    BannedFromRoom,
    CannotComplain,
    CannotSend,
    GeneralRoomRule,
    InvalidDuration,
    InvalidTarget,
    InviteOnly,
    KeySet,
    MessengerError,
    NoSuchRoom,
    NotMember,
    NotOperator,
    RoomFull,
    TooManyScheduled,
    UnknownScheduled,
)
from ..wire import Numeric
from .hub import Hub
from .session import Session

# error class -> (numeric, text); the context (a channel name) goes before the text
ERRORS: dict[type[MessengerError], tuple[Numeric, str]] = {
    NoSuchRoom: (Numeric.ERR_NOSUCHCHANNEL, "No such channel"),
    NotMember: (Numeric.ERR_NOTONCHANNEL, "You're not on that channel"),
    NotOperator: (Numeric.ERR_CHANOPRIVSNEEDED, "You're not channel operator"),
    Banned: (Numeric.ERR_CANNOTSENDTOCHAN, "You are muted"),
    GeneralRoomRule: (Numeric.ERR_CHANOPRIVSNEEDED, "Only server operators change this channel"),
    InviteOnly: (Numeric.ERR_INVITEONLYCHAN, "Cannot join channel (+i): you need an invitation"),
    BadKey: (Numeric.ERR_BADCHANNELKEY, "Cannot join channel (+k): wrong or missing key"),
    RoomFull: (Numeric.ERR_CHANNELISFULL, "Cannot join channel (+l): the channel is full"),
    BannedFromRoom: (Numeric.ERR_BANNEDFROMCHAN, "Cannot join channel (+b): you are banned"),
    CannotSend: (Numeric.ERR_CANNOTSENDTOCHAN, "Cannot send to channel"),
    AlreadyMember: (Numeric.ERR_USERONCHANNEL, "is already on channel"),
    KeySet: (Numeric.ERR_KEYSET, "Channel key already set (remove it with -k first)"),
}

# error class -> FAIL code of the service's standard replies (CannotComplain carries its own)
FAIL_CODES: dict[type[MessengerError], str] = {
    InvalidDuration: "INVALID_DURATION",
    InvalidTarget: "INVALID_TARGET",
    TooManyScheduled: "TOO_MANY",
    UnknownScheduled: "UNKNOWN_ID",
}


def reply_error(hub: Hub, s: Session, e: MessengerError, *context: str) -> None:
    """The numeric ERRORS gives for ``e``, with ``context`` (e.g. the channel) before the text."""
    numeric, text = ERRORS[type(e)]
    hub.reply(s, numeric, *context, text)


def fail_code(e: MessengerError) -> str:
    """The FAIL code for ``e``."""
    if isinstance(e, CannotComplain):
        return e.code
    return FAIL_CODES[type(e)]
