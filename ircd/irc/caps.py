"""The server's identity and capabilities: its version, the Messenger service's nick, nicks
nobody may take, and the IRCv3 capabilities we implement (CAP LS order, values for 302)."""

from __future__ import annotations

from ..wire import casefold

VERSION = "messenger-ircd-0.1"
SERVICE_NICK = "Messenger"
SERVICE_KEY = casefold(SERVICE_NICK)
RESERVED_NICKS = frozenset({SERVICE_KEY, "nickserv", "chanserv", "histserv"})
VENDOR_CAP = "messenger.chat/commands"
REDACTION = "draft/message-redaction"
NAMELEN = 100  # bytes of a real name (ISUPPORT NAMELEN): USER cuts to it, SETNAME refuses more

# Caps we implement, in the order they are listed. sasl gets a value with CAP LS 302.
CAPS = (
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "cap-notify",
    "chghost",
    "draft/account-registration",
    "draft/chathistory",
    REDACTION,
    "draft/read-marker",
    "echo-message",
    "extended-join",
    "invite-notify",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
    "setname",
    "standard-replies",
    "userhost-in-names",
    "znc.in/self-message",
    VENDOR_CAP,
)
CAP_VALUES = {"sasl": "PLAIN", "draft/account-registration": "before-connect"}
