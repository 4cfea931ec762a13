"""Per-pass output: what the hub queued in one event-loop pass, held until that pass's journal
append is durable, then handed to each connection's ``Link`` in one piece.

The server's flush, once per pass (``ircd/server.py``, ``Server._flush``)::

    durable = store.append(events)   # the engine's events of the pass (``ircd/durable.py``)
    outbox.end_pass(durable)         # every session's bytes of the pass, held
    outbox.release()                 # passes whose events are durable go to the links
    ... again until outbox.idle      # (a SendQ drop queued QUIT lines and events)

Rules:

* **Nothing before its events are durable.** A pass's output (every session's bytes of it, in
  the order queued) leaves only once the store has settled that pass's append. With
  ``FileStore`` that is at once; with a networked log, when its append returns.
* **Passes leave in order, all of them.** A pass waits behind every earlier pass that is still
  held, even a pass with no events of its own (a PONG, a NAMES reply, a CHATHISTORY page): its
  replies may show what the earlier passes' events did (a member who joined, a message
  posted), and nobody may see those before they are durable. So the order of each connection's
  output is the order it was queued in, and no connection is shown anything that could be lost.
* **One write per connection per release**: passes released together are joined per link.
* **The direct path**: when a pass's append is durable at once and nothing is held, the room
  broadcasts go to each member's link straight from ``RoomLog.deliver`` for every device with
  nothing else queued in the pass (``collect(direct=True)``): no piece, no second write, the
  same bytes and delivery notes; the rest of the pass is collected as usual.
* A **failed** append stops the show: every held pass is dropped (``release`` raises the store's
  error) and the server shuts down; nobody was sent anything of the failed pass or after it.
* Bytes held count towards a connection's SendQ and as not yet acknowledged by its peer (the
  delivery acks' QUIT credit, ``acks.peer_done``).

Sans-I/O like the rest of the adapter: links are whatever the transport gives (``link.py``).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

from ..durable import Durable
from . import acks

if TYPE_CHECKING:
    from .hub import Hub
    from .link import Link
    from .session import Session

log = logging.getLogger(__name__)

SENDQ_EXCEEDED = "SendQ exceeded"

# one session's output of a pass: (session, bytes, the session was closing after them)
Piece = tuple["Session", bytes, bool]


class Outbox:
    """The passes whose output is held, oldest first, and the bytes held per session."""

    __slots__ = ("held", "hub", "passes", "sendq", "written")

    def __init__(self, hub: Hub, sendq: int) -> None:
        self.hub = hub
        self.sendq = sendq  # bytes a connection may have unwritten before it is dropped
        # (the append, its output, whether its bytes are counted in ``held``)
        self.passes: deque[tuple[Durable, list[Piece], bool]] = deque()
        self.held: dict[Session, int] = {}  # bytes taken from a session and not yet sent
        self.written = 0  # bytes written directly (collect) since release last counted them

    # ------------------------------------------------------------------ links

    def attach(self, s: Session, link: Link) -> None:
        """``s``'s output goes to ``link`` from now on."""
        s.link = link
        s.peer_unacked = lambda: self.unacked(s)

    def unacked(self, s: Session) -> int | None:
        """Bytes counted as written to ``s`` that its peer has not acknowledged: the ones held
        here plus the link's own (None when the link cannot tell)."""
        link = s.link
        n = None if link is None else link.unacked()
        return None if n is None else n + self.held.get(s, 0)

    @property
    def pending(self) -> bool:
        """Some output is held, waiting for its pass's events to be durable."""
        return bool(self.passes)

    @property
    def oldest(self) -> Durable | None:
        """The append the oldest held pass waits for (None: nothing is held)."""
        return self.passes[0][0] if self.passes else None

    @property
    def idle(self) -> bool:
        """Nothing queued in the hub and no events waiting for the journal."""
        hub = self.hub
        return not hub.dirty and not hub.logs and not hub.messenger.has_events

    # ------------------------------------------------------------------ one pass

    def collect(self, direct: bool = False) -> list[Piece]:
        """Every session's output of this pass (room broadcasts included), in one piece each;
        the delivery state notes what each piece carries (``acks.take``). A session that
        went over its SendQ is quit after its piece: its peers' QUIT lines and the engine's
        events of it are the next pass's (``idle`` is False then).

        ``direct``: the pass's events are durable and nothing is held, so its output may leave
        now: a member with nothing else queued this pass is written its share of the room
        broadcasts at once (``RoomLog.deliver``: its one write of the pass, with no piece of
        its own); the rest is collected as above."""
        hub = self.hub
        over: list[Session] = []
        if direct:
            while hub.logs:  # (as Hub.deliver_logs)
                logs = list(hub.logs.values())
                hub.logs.clear()
                for log_ in logs:
                    self.written += log_.deliver(over, self.sendq)
        else:
            hub.deliver_logs()  # each member's share of this pass's room broadcasts, in one piece
        pieces: list[Piece] = []
        gone: list[Session] = []
        while hub.dirty:
            dirty = list(hub.dirty)
            hub.dirty.clear()
            for s in dirty:
                closing = s.closing is not None
                pieces.append((s, acks.take(hub, s), closing))
                if closing and s in hub.sessions:
                    gone.append(s)
        for s in gone:
            hub.client_log(s, log.info, "closing %s (%s): %s", s.nick, s.ip, s.closing)
            hub.quit(s, s.closing or "")
        for s in over:  # written directly, and over the SendQ: as _write drops them
            if s.closing is None:
                self._sendq_drop(s)
        return pieces

    def end_pass(self, durable: Durable) -> None:
        """Hold this pass's output until ``durable`` is done."""
        if not self.passes and durable.done and durable.error is None:
            # durable already and nothing before it: out at once (the synchronous store)
            pieces = self.collect(direct=True)
            if pieces:
                self.passes.append((durable, pieces, False))
            return
        pieces = self.collect()
        held = self.held
        over: list[Session] = []
        for s, data, _ in pieces:
            n = held[s] = held.get(s, 0) + len(data)
            # waiting output counts towards the SendQ (a stalled store, a slow reader)
            link = s.link
            if s.closing is None and link is not None and n + link.buffered() > self.sendq:
                over.append(s)
        self.passes.append((durable, pieces, True))
        for s in over:
            self.hub.client_log(s, log.warning, "SendQ exceeded for %s (%s)", s.nick, s.ip)
            s.closing = SENDQ_EXCEEDED
            s.dirty.add(s)  # quit and aborted with the next pass

    def release(self) -> int:
        """Send the passes whose events are durable, oldest first, one write per link; the
        bytes written. Raises the store's error if an append failed (everything held is
        dropped then: see ``drop``)."""
        passes = self.passes
        ready: list[tuple[list[Piece], bool]] = []
        while passes and passes[0][0].done:
            durable, pieces, counted = passes.popleft()
            if durable.error is not None:
                self.drop()
                raise durable.error
            ready.append((pieces, counted))
        if not ready:
            written, self.written = self.written, 0
            return written
        if len(ready) == 1 and not ready[0][1]:
            return self._write(ready[0][0])  # the common case: nothing was held
        held = self.held
        out: dict[Session, list[bytes]] = {}
        closing: set[Session] = set()
        for pieces, counted in ready:
            for s, data, closed in pieces:
                if counted:
                    left = held.get(s, 0) - len(data)
                    if left > 0:
                        held[s] = left
                    else:
                        held.pop(s, None)
                chunks = out.get(s)
                if chunks is None:
                    chunks = out[s] = []
                if data:
                    chunks.append(data)
                if closed:
                    closing.add(s)
        return self._write([(s, b"".join(c), s in closing) for s, c in out.items()])

    def _write(self, pieces: list[Piece]) -> int:
        sendq = self.sendq
        written, self.written = self.written, 0  # (and what went out directly meanwhile)
        for s, data, closed in pieces:
            link = s.link
            if link is None:
                continue
            buffered = 0
            if data:
                buffered = link.send(data)
                written += len(data)
            if closed:
                if s.closing == SENDQ_EXCEEDED:
                    link.abort()
                else:
                    link.close()
            elif buffered > sendq and s.closing is None:
                self._sendq_drop(s)
        return written

    def _sendq_drop(self, s: Session) -> None:
        """``s``'s link buffers more than the SendQ: quit (its peers are told with the next
        pass) and aborted."""
        hub = self.hub
        hub.client_log(s, log.warning, "SendQ exceeded for %s (%s)", s.nick, s.ip)
        s.closing = SENDQ_EXCEEDED
        hub.quit(s, SENDQ_EXCEEDED)
        if s.link is not None:
            s.link.abort()

    def drop(self) -> None:
        """The journal failed: forget every held pass and whatever is queued in the hub, so
        that nothing which might show a lost event is ever sent."""
        self.passes.clear()
        self.held.clear()
        hub = self.hub
        hub.logs.clear()
        for s in hub.dirty:
            s.out.clear()
            s.out_bytes = 0
        hub.dirty.clear()
