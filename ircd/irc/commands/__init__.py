"""Every command module, imported once so that their handlers register in the table."""

from . import channels, extensions, history, messaging, queries, registration

__all__ = ["channels", "extensions", "history", "messaging", "queries", "registration"]
