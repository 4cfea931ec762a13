"""Channel list masks (+b, +e, +I): their normal form and whom they match.

A mask is a ``nick!user@host`` pattern with the wildcards ``*`` (any run of characters) and
``?`` (one character), compared case-insensitively (ASCII, the server's CASEMAPPING), or an
extended ban (EXTBAN): ``a:<account pattern>`` matches a user logged in to a matching account,
and ``m:<mask>`` in +b mutes the users ``<mask>`` matches instead of keeping them out (in +e it
exempts them from such a mute). Pure functions: the engine keeps the lists and applies them.
"""

from __future__ import annotations

EXTBANS = "am"  # ISUPPORT EXTBAN=,am
MAX_MASK = 150  # characters

_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """The ASCII casefold (CASEMAPPING=ascii) that masks are compared in."""
    return text.translate(_FOLD)


def normalise(mask: str, extban: bool = True) -> str | None:
    """The stored form of a mask a client gave (``bob`` -> ``bob!*@*``, ``*@host`` ->
    ``*!*@host``); None for one that cannot be a mask (empty, too long, spaces, an unknown
    extended ban, a mute inside a mute)."""
    if (
        not mask
        or len(mask) > MAX_MASK
        or mask[0] == ":"
        or any(c in " ," or not c.isprintable() for c in mask)
    ):
        return None
    if len(mask) > 1 and mask[1] == ":":  # an extended ban (a host may have colons: IPv6)
        kind, rest = mask[0], mask[2:]
        if kind not in EXTBANS or not extban or not rest:
            return None
        if kind == "a":
            return f"a:{rest}"
        inner = normalise(rest, extban=False) if not rest.startswith("a:") else rest
        if inner is None or (inner.startswith("a:") and len(inner) == 2):
            return None
        return f"m:{inner}"
    nick, bang, rest = mask.partition("!")
    if not bang:
        if "@" in nick:  # user@host
            user, _, host = nick.partition("@")
            return f"*!{user or '*'}@{host or '*'}"
        return f"{nick}!*@*"
    user, at, host = rest.partition("@")
    return f"{nick or '*'}!{user or '*'}@{host or '*'}" if at else f"{nick or '*'}!{user or '*'}@*"


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches the wildcard ``pattern`` as a whole (both folded by the
    caller). No regular expression: a channel operator's mask such as ``*a*a*a*...*b`` would
    make a backtracking regex take exponential time on every JOIN and message; here only the
    last ``*`` is ever retried, so a match costs at most len(pattern) x len(text) steps. (The
    same algorithm as ``ircd/wire/glob.py``, which the engine may not import.)"""
    np, nt = len(pattern), len(text)
    pi = ti = 0
    star = -1  # position in pattern of the last * seen
    resume = 0  # where in text that * is tried next
    while ti < nt:
        c = pattern[pi] if pi < np else ""
        if c == "?" or (c == text[ti] and c != "*"):
            pi += 1
            ti += 1
        elif c == "*":
            star, resume = pi, ti
            pi += 1
        elif star >= 0:  # let the last * take one more character
            resume += 1
            pi, ti = star + 1, resume
        else:
            return False
    while pi < np and pattern[pi] == "*":
        pi += 1
    return pi == np


def is_mute(mask: str) -> bool:
    return mask.startswith("m:")


def matches(mask: str, nickmask: str, account: str | None) -> bool:
    """Whether the folded ``mask`` (without its ``m:``) matches a user whose folded
    ``nick!user@host`` is ``nickmask`` and whose folded account name is ``account``."""
    if mask.startswith("m:"):
        mask = mask[2:]
    if mask.startswith("a:"):
        return account is not None and glob_match(mask[2:], account)
    return bool(nickmask) and glob_match(mask, nickmask)


def matches_everyone(mask: str) -> bool:
    """A ban that keeps everybody (or every account) out: ``*!*@*``, ``?*!*@*``, ``a:*``;
    a normalised mask whose parts are all wildcards."""
    if mask.startswith("a:"):
        mask = mask[2:]
    return set(mask) <= set("*?!@")
