"""The IRC adapter: IRC lines in, messenger calls, IRC lines out. No sockets, no awaits."""

from . import commands
from .dispatch import feed, feed_lines, needs_turn, pump_waiting, tick
from .hub import Hub
from .registry import COMMANDS
from .scheduler import fire_due
from .session import Session

__all__ = [
    "COMMANDS",
    "Hub",
    "Session",
    "commands",
    "feed",
    "feed_lines",
    "fire_due",
    "needs_turn",
    "pump_waiting",
    "tick",
]
