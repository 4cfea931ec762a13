"""Typed outcomes the engine raises; the IRC adapter maps each one to a numeric or a FAIL."""

from __future__ import annotations


class MessengerError(Exception):
    """Base class: a request the engine refuses. ``str(e)`` is a human-readable reason."""


class NameTaken(MessengerError):
    """The name belongs to a registered account (or is reserved)."""


class AccountRequired(MessengerError):
    """Guests are not allowed, or the action needs an account."""


class BadPassword(MessengerError):
    pass


class NoSuchAccount(MessengerError):
    pass


class AccountExists(MessengerError):
    pass


class NoSuchUser(MessengerError):
    pass


class NoSuchRoom(MessengerError):
    pass


class NotMember(MessengerError):
    pass


class NotOperator(MessengerError):
    pass


class Banned(MessengerError):
    def __init__(self, until: float, reason: str = "") -> None:
        super().__init__(reason or "banned")
        self.until = until
        self.reason = reason


class RateLimited(MessengerError):
    def __init__(self, reset_at: float, limit: int, period: int) -> None:
        super().__init__("rate limited")
        self.reset_at = reset_at
        self.limit = limit
        self.period = period


class Flooding(MessengerError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("flooding")
        self.retry_after = retry_after


class InvalidDuration(MessengerError):
    pass


class InvalidTarget(MessengerError):
    pass


class TooManyScheduled(MessengerError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"you already have {limit} scheduled messages")
        self.limit = limit


class UnknownScheduled(MessengerError):
    pass


class UnknownMessage(MessengerError):
    """No stored message with that id in that conversation (never sent, or gone: redacted,
    or older than the history kept)."""


class RedactForbidden(MessengerError):
    """The message exists, but this user may not delete it (not its sender, nor an operator
    of its channel, nor a server operator)."""


class CannotComplain(MessengerError):
    """Complaining about yourself, the service, twice, or as a guest."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TooManyAccounts(MessengerError):
    """Too many accounts were created from this address recently."""

    def __init__(self, retry_at: float) -> None:
        super().__init__("too many new accounts from this address")
        self.retry_at = retry_at


class GeneralRoomRule(NotOperator):
    """Only server operators change the general room's modes."""


class CannotJoin(MessengerError):
    """A channel mode keeps the user out (the subclass says which)."""


class InviteOnly(CannotJoin):
    pass


class BadKey(CannotJoin):
    pass


class RoomFull(CannotJoin):
    pass


class BannedFromRoom(CannotJoin):
    pass


class CannotSend(MessengerError):
    """A channel mode keeps the user from speaking there: +m without voice, a ban or a mute
    (``str(e)`` says which)."""


class AlreadyMember(MessengerError):
    """The user invited is already in the channel."""


class InvalidMode(MessengerError):
    """A mode change the channel refuses: a parameter that is not valid, or a rule of the
    general room. ``mode`` and ``arg`` (``*`` for none) as given."""

    def __init__(self, mode: str, arg: str, text: str) -> None:
        super().__init__(text)
        self.mode = mode
        self.arg = arg or "*"
        self.text = text


class KeySet(MessengerError):
    """+k on a channel that has a different key (remove it with -k first)."""


class ListFull(MessengerError):
    def __init__(self, mode: str, limit: int) -> None:
        super().__init__(f"the +{mode} list is full ({limit} entries)")
        self.mode = mode
        self.limit = limit
