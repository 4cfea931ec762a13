"""IRC wildcard masks (Modern IRC, "Wildcard expressions"): ``*`` matches any run of
characters, ``?`` exactly one, everything else itself, compared under the casemapping
(``CASEMAPPING=ascii``). Used by WHO, WHOWAS and LIST's filters.

Matched without regular expressions: a client's mask such as ``*a*a*a*...*b`` would make a
backtracking regex take exponential time; here the last ``*`` is the only backtracking point,
so a match costs at most len(mask) x len(text) steps.
"""

from __future__ import annotations

from ircd.wire.names import casefold


def has_wildcards(mask: str) -> bool:
    return "*" in mask or "?" in mask


def glob_match(mask: str, text: str) -> bool:
    """Whether ``text`` matches the wildcard ``mask`` as a whole, without regard to case."""
    p, t = casefold(mask), casefold(text)
    np, nt = len(p), len(t)
    pi = ti = 0
    star = -1  # position in p of the last * seen
    resume = 0  # where in t that * is tried next
    while ti < nt:
        if pi < np and (p[pi] == "?" or (p[pi] == t[ti] and p[pi] != "*")):
            pi += 1
            ti += 1
        elif pi < np and p[pi] == "*":
            star, resume = pi, ti
            pi += 1
        elif star >= 0:  # let the last * take one more character
            resume += 1
            pi, ti = star + 1, resume
        else:
            return False
    while pi < np and p[pi] == "*":
        pi += 1
    return pi == np
