"""The command table: ``@command("PRIVMSG", min_params=2)`` registers a plain ``def`` handler.

Generic checks (451 not registered, 461 not enough parameters, 421 unknown command) run once,
in ``dispatch.dispatch`` (dispatch.py), not in each handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..wire import Message
    from .hub import Hub
    from .session import Session

Handler = Callable[["Hub", "Session", "Message"], None]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    handler: Handler
    min_params: int
    before_registration: bool
    help: str


COMMANDS: dict[str, CommandSpec] = {}


def command(
    name: str, *, min_params: int = 0, before_registration: bool = False, help: str = ""
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in COMMANDS:
            raise RuntimeError(f"duplicate handler for {name}")
        COMMANDS[name] = CommandSpec(name, fn, min_params, before_registration, help)
        return fn

    return register
