"""``FullId``: a msgid that a ``Post`` keeps whole (one not of the form ``<prefix>-<seq>``).

A module of its own so that it stays an interpreted class when ``model.py`` is compiled with
mypyc (the optional compiled hot path, scripts/compile.sh): mypyc cannot compile a subclass of
``str``, and ``model.py`` tells a kept-whole msgid from a shared prefix by this type.
"""

from __future__ import annotations


class FullId(str):
    """A msgid kept whole (one not of the form ``<prefix>-<seq>``)."""

    __slots__ = ()
