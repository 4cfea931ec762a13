"""Nickname and channel-name rules (``CASEMAPPING=ascii``)."""

from __future__ import annotations

__all__ = ["casefold", "is_channel_name", "is_valid_nick"]

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SPECIAL = frozenset("[]\\`_^{|}")
_NICK_FIRST = _LETTERS | _SPECIAL
_NICK_REST = _NICK_FIRST | frozenset("0123456789-")

_CHANNEL_FORBIDDEN = frozenset(" ,\x07\0\r\n:")


def casefold(name: str) -> str:
    """Fold ``A``-``Z`` to ``a``-``z`` and nothing else (``CASEMAPPING=ascii``)."""
    if name.isascii():
        return name.lower()
    return name.translate(_ASCII_LOWER)


def is_valid_nick(nick: str, max_len: int = 30) -> bool:
    """Whether ``nick`` is an acceptable nickname.

    1..``max_len`` characters; the first is an ASCII letter or one of
    ``[]\\`_^{|}``, the others may also be digits or ``-``.
    """
    return (
        0 < len(nick) <= max_len
        and nick[0] in _NICK_FIRST
        and (len(nick) == 1 or _NICK_REST.issuperset(nick))
    )


def is_channel_name(name: str, max_len: int = 50) -> bool:
    """Whether ``name`` is an acceptable channel name.

    Starts with ``#``; 2..``max_len`` long, counted in UTF-8 bytes (so the name
    always fits the wire limits); no space, comma, BEL, NUL, CR, LF or ``:``.
    Any other Unicode is allowed (but not lone surrogates, which cannot be
    encoded).
    """
    if not name or name[0] != "#" or not _CHANNEL_FORBIDDEN.isdisjoint(name):
        return False
    if name.isascii():
        size = len(name)
    else:
        try:
            size = len(name.encode("utf-8"))
        except UnicodeEncodeError:
            return False
    return 2 <= size <= max_len
