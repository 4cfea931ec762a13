"""Numbers in IRC parameters (sans-I/O).

A number a client sends (``CAP LS 302``, ``CHATHISTORY LATEST * 50``, ``PONG :ack-17``,
``DELAY CANCEL 7``) is a run of ASCII digits. ``str.isdigit()`` is not the test for that: it is
true for ``"²"`` and ``"٣"``, and ``int()`` then raises (``"²"``) or accepts a digit no IRC
client would send (``"٣"`` is 3). ``int()`` also takes signs, spaces and underscores, and
refuses strings longer than 4300 digits. :func:`parse_uint` accepts exactly ``[0-9]+`` up to a
length, and says None to everything else, so a caller has one case to answer with an error.
"""

from __future__ import annotations

__all__ = ["MAX_UINT_DIGITS", "parse_uint"]

MAX_UINT_DIGITS = 18  # fits in a signed 64-bit integer, far beyond any count, id or version


def parse_uint(text: str, max_digits: int = MAX_UINT_DIGITS) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits, else None.

    >>> parse_uint("302"), parse_uint("007"), parse_uint("3²"), parse_uint("٣"), parse_uint("+1")
    (302, 7, None, None, None)
    """
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
