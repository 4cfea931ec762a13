"""The server's identity and capabilities: its version, the Messenger service's nick, nicks
nobody may take, and the IRCv3 capabilities we implement (CAP LS order, values for 302)."""

from __future__ import annotations

from ..config import AccountsConfig
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
    "draft/extended-monitor",  # the name before ratification; same meaning
    REDACTION,
    "draft/read-marker",
    "echo-message",
    "extended-join",
    "extended-monitor",
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
CAP_VALUES = {"sasl": "PLAIN"}


def cap_values(accounts: AccountsConfig) -> dict[str, str]:
    """The values of CAP LS 302: the fixed ones, and draft/account-registration's keys from
    the settings (ircv3.net account-registration: ``before-connect``, ``email-required``,
    ``custom-account-name``, comma-separated; none: no value)."""
    keys = [
        key
        for key, on in (
            ("before-connect", accounts.register_before_connect),
            ("email-required", accounts.register_email_required),
            ("custom-account-name", accounts.register_custom_account_name),
        )
        if on
    ]
    values = dict(CAP_VALUES)
    if keys:
        values["draft/account-registration"] = ",".join(keys)
    return values
