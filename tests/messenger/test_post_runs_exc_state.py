"""A run of posts that the rate window refuses leaves no exception behind (engine.room_posts).

Compiled with mypyc (scripts/compile.sh), a generator suspended in an ``except`` block left that
exception as the thread's one being handled, so every later exception (a handler's crash, in
the log) carried it as its ``__context__``. The suite runs compiled and pure."""

from __future__ import annotations

import sys

from ircd.messenger.errors import RateLimited

from .helpers import account, make


def test_a_refused_run_leaves_no_exception_being_handled() -> None:
    m = make(messages_per_period=2)
    account(m, "alice")
    m.join("alice", "#general", "#general")
    run = m.room_posts("alice", "Alice", "alice!u@host", "#general")
    assert next(run) is None
    answers = [run.send(f"line {n}") for n in range(4)]
    assert [isinstance(a, RateLimited) for a in answers] == [False, False, True, True]
    assert sys.exc_info() == (None, None, None)
    try:
        raise ValueError("later")
    except ValueError as e:
        assert e.__context__ is None
