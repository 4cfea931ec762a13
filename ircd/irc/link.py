"""The transport seam: what the adapter needs from one client connection.

A transport (TCP and TLS: ``ircd/server.py``'s ``Connection``; a WebSocket one later) implements
``Link`` and drives the server with three calls: ``Server.attach(link)`` when it connects (a
``Session``, or None when refused), ``Server.received(session, lines)`` with the lines it framed
(``str`` or ``TooLong``), and ``Server.detached(session, reason)`` when it is gone. Output comes
back through ``Link.send``: once per connection per event-loop pass, everything that pass queued
to it, in order (``ircd/irc/output.py``). No command handler knows which transport it talks to.
"""

from __future__ import annotations

from typing import Protocol


class Link(Protocol):
    """One client connection, as the hub's output side and the server core see it."""

    @property
    def peer(self) -> str:
        """The peer's address (an IP address, or "unknown")."""
        ...

    @property
    def secure(self) -> bool:
        """True when the connection is encrypted (TLS, or WebSocket over TLS)."""
        ...

    def send(self, data: bytes) -> int:
        """Write ``data`` (whole IRC lines, each ending in CRLF); ignored once closing. Returns
        ``buffered()`` after it (one call per connection per pass on the hot path)."""
        ...

    def close(self) -> None:
        """Close after what was sent has been written."""
        ...

    def abort(self) -> None:
        """Close at once, dropping what is not written yet (SendQ exceeded)."""
        ...

    def buffered(self) -> int:
        """Bytes sent but not yet handed to the operating system (checked against SendQ)."""
        ...

    def unacked(self) -> int | None:
        """Bytes sent that the peer has not acknowledged yet (the transport's buffer plus the
        kernel's send queue); None when that cannot be told. Used for the delivery acks."""
        ...
