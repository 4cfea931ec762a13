"""The command table: ``@command("PRIVMSG", min_params=2)`` registers a plain ``def`` handler.

Generic checks (451 not registered, 461 not enough parameters, 421 unknown command) run once,
in ``dispatch.dispatch`` (dispatch.py), not in each handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..wire import Message
    from .hub import Hub
    from .session import Session

Handler = Callable[["Hub", "Session", "Message"], None]
# a command's fast path for its plainest form, ``COMMAND middle :trailing`` with no tags, no
# source and one middle param: (hub, session, middle, trailing); see dispatch.feed
FastHandler = Callable[["Hub", "Session", str, str], None]
# a fast path for a run of such lines (consecutive lines of one read, the same command and
# middle param): (hub, session, middle, trailings); True if it handled them, False (having
# taken none from the iterator) to leave them to the fast path one at a time. It takes each
# text from the iterator as it handles it, so after an error the ones not taken are still
# there (dispatch handles them one at a time); see dispatch.feed_lines
RunHandler = Callable[["Hub", "Session", str, Iterator[str]], bool]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    handler: Handler
    min_params: int
    before_registration: bool
    help: str


COMMANDS: dict[str, CommandSpec] = {}
# command name + " " -> its fast path (a command that has one also has a general handler, and
# the fast one must answer exactly as that one does for the same line)
FAST: dict[str, FastHandler] = {}
# command name + " " -> its run handler (a command with one also has a fast path; the run
# handler must answer exactly as that one does for each line in turn)
FAST_RUN: dict[str, RunHandler] = {}


def command(
    name: str, *, min_params: int = 0, before_registration: bool = False, help: str = ""
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in COMMANDS:
            raise RuntimeError(f"duplicate handler for {name}")
        COMMANDS[name] = CommandSpec(name, fn, min_params, before_registration, help)
        return fn

    return register


def fast_path(name: str) -> Callable[[FastHandler], FastHandler]:
    """Register the fast path of ``name`` (already in the table): the handler of a line
    ``NAME middle :trailing`` (one middle param without ``,``; no tags, no source; a
    non-empty trailing param), which dispatch.feed takes without building a ``Message``
    after the same checks as ``dispatch``'s (registered, landed, budget, valid UTF-8, the
    store available)."""

    def register(fn: FastHandler) -> FastHandler:
        if name not in COMMANDS or name + " " in FAST:
            raise RuntimeError(f"fast path for {name}: no such command, or a second one")
        FAST[name + " "] = fn
        return fn

    return register


def fast_run(name: str) -> Callable[[RunHandler], RunHandler]:
    """Register the run handler of ``name`` (which has a fast path): ``dispatch.feed_lines``
    gives it the trailing params of consecutive plain lines of one read with the same command
    and middle param (each one as the fast path takes it, each one's budget spent), where it
    would call the fast path once per line."""

    def register(fn: RunHandler) -> RunHandler:
        if name + " " not in FAST or name + " " in FAST_RUN:
            raise RuntimeError(f"run handler for {name}: no fast path, or a second one")
        FAST_RUN[name + " "] = fn
        return fn

    return register
