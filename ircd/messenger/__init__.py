"""The pure messenger engine (no IRC, no asyncio, no files)."""

from .engine import Messenger
from .model import Post, Room, Rules, Scheduled, User

__all__ = ["Messenger", "Post", "Room", "Rules", "Scheduled", "User"]
