"""IRC wildcard masks (Modern IRC, "Wildcard expressions"): ``*`` matches any run of
characters, ``?`` exactly one, everything else itself, compared under the casemapping
(``CASEMAPPING=ascii``). Used by WHO, WHOWAS and LIST's filters.

A mask is compiled once to a regular expression and kept in a small cache: a client that sends
the same mask again (or many clients sending ``*``) pays for it once.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ircd.wire.names import casefold


def has_wildcards(mask: str) -> bool:
    return "*" in mask or "?" in mask


@lru_cache(maxsize=512)
def _compiled(mask: str) -> re.Pattern[str]:
    parts: list[str] = []
    for ch in casefold(mask):
        if ch == "*":
            if not parts or parts[-1] != ".*":  # runs of * are one *
                parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def glob_match(mask: str, text: str) -> bool:
    """Whether ``text`` matches the wildcard ``mask`` as a whole, without regard to case."""
    return _compiled(mask).fullmatch(casefold(text)) is not None
