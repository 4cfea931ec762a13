"""Every command module, imported once so that their handlers register in the table."""

from . import (
    channels,
    extensions,
    history,
    identity,
    messaging,
    moderation,
    queries,
    registration,
    server_info,
)

__all__ = [
    "channels",
    "extensions",
    "history",
    "identity",
    "messaging",
    "moderation",
    "queries",
    "registration",
    "server_info",
]
