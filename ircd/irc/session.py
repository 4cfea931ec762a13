"""One client connection as the IRC adapter sees it: registration state, caps, identity, and an
output buffer that the server flushes once per event-loop pass."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..wire import Message, TooLong
from .acks import Delivery
from .logbudget import LogBudget

if TYPE_CHECKING:
    from .link import Link

_ids = itertools.count(1)

# Capability bits used to choose a formatting variant when relaying
TAGS = 1  # message-tags
TIME = 2  # server-time
ACCOUNT = 4  # account-tag
EXTJOIN = 8  # extended-join: JOIN lines carry the account and the realname


@dataclass(eq=False, slots=True)
class Session:
    ip: str
    dirty: set[Session]
    sendq_limit: int = 1 << 20
    id: int = field(default_factory=lambda: next(_ids))
    nick: str = "*"
    nick_key: str = ""
    user: str = ""
    realname: str = ""
    host: str = ""
    password: str | None = None
    registered: bool = False
    cap_negotiating: bool = False
    cap_version: int = 0
    caps: set[str] = field(default_factory=set)
    tagbits: int = 0
    user_key: str = ""  # the messenger's key for this user (account or guest)
    account: str | None = None  # account name when logged in
    sasl_mech: str | None = None
    sasl_buffer: str = ""
    sasl_account: str | None = None
    away: str | None = None
    bot: bool = False
    oper: bool = False  # an IRC operator (OPER); the hub also keeps the set of them
    wallops: bool = False  # user mode +w: receives WALLOPS
    created: float = 0.0
    last_active: float = 0.0  # last line received (for ping timeouts)
    ping_sent: float = 0.0  # when we sent a keepalive PING with no answer yet (0: none)
    landed_seq: int = 0  # the messenger's seq when this connection was joined and replayed
    # registered and welcomed, not landed yet: the landing (#general, the user's channels, what
    # it missed) waits for its next line (welcome.py, "The landing waits")
    landing_due: bool = False
    # registered while another device of its account was online: others were never told it
    # left, so its landing shows its channels to it alone, even if that device is gone by then
    further_device: bool = False
    # told how many messages were waiting but not given them (a chathistory client, backlog
    # off) and has not pulled them yet: its acks leave them unread (see acks.py)
    catching_up: bool = False
    # ...and unless it pulls them by then (UNREAD, CHATHISTORY TARGETS, or CHATHISTORY on each
    # conversation), the ones it did not pull are pushed at this time (0: nothing to push;
    # replay.push_unpulled): Kiwi IRC pulls its channels but never private conversations
    pull_deadline: float = 0.0
    pulled: set[str] = field(default_factory=set)  # room and peer keys it pulled history of
    delivery: Delivery = field(default_factory=Delivery)  # what reached the client (acks.py)
    # the connection (TCP, TLS; see link.py), set by Outbox.attach; None in the adapter's tests
    link: Link | None = None
    # set with the link (Outbox.unacked): how many of the bytes written so far the peer has not
    # acknowledged yet (None: cannot tell); the adapter's tests fake it
    peer_unacked: Callable[[], int | None] | None = None
    told_offline: set[str] = field(default_factory=set)  # recipients we said were offline
    out: list[bytes] = field(default_factory=list)
    out_bytes: int = 0
    capture: list[str] | None = None  # lines to this session while a labeled command runs
    # lines to this session while a labeled command runs that are not its response but a side
    # effect of it (a message to oneself arriving as a delivery): sent after the response,
    # unlabeled (``send_side_effect``)
    side_effects: list[str] = field(default_factory=list)
    # the hub's room broadcasts batched in this event-loop pass (shared with the hub; see
    # fanout.room_log): this session takes its share before anything else is queued to it
    pending: dict[str, Any] = field(default_factory=dict)
    closing: str | None = None  # set when the connection is to be closed, with the reason
    log_budget: LogBudget = field(default_factory=LogBudget)  # see Hub.client_log
    # input flow: lines wait here, in order, while the connection is held (a password being
    # checked off the event loop) or has used up its command budget (flood control)
    inbox: deque[Message | TooLong] = field(default_factory=deque)
    held: int = 0  # off-loop work in flight for this connection; its lines wait meanwhile
    tokens: float = -1.0  # command budget left (-1: not started yet, a full burst)
    tokens_at: float = 0.0  # when ``tokens`` was last brought up to date
    label: str | None = None  # the label of the labeled command being dispatched
    # the node this user is connected to, for a user of another node of the network (then
    # this is a stand-in without a link: ircd/irc/foreign.py); "" for this node's connections
    node: str = ""

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user}@{self.host}"

    def send(self, line: str) -> None:
        """Queue one line (without CRLF) to this client."""
        if self.capture is not None:
            self.capture.append(line)
            return
        self.send_bytes((line + "\r\n").encode("utf-8", "replace"))

    def send_side_effect(self, line: str) -> None:
        """Queue a line that is a side effect of this client's own command, not a response to
        it: outside a labeled response (ircv3.net labeled-response: "When a client sends a
        message to itself, the server MUST NOT include the label tag, except for any
        echo-message acknowledgment ... the delivered message is not a response, but a side
        effect")."""
        if self.capture is not None:
            self.side_effects.append(line)
            return
        self.send(line)

    def send_bytes(self, data: bytes) -> None:
        if self.closing is not None:
            return
        if self.pending:
            self.catch_up()
        self.out.append(data)
        self.out_bytes += len(data)
        self.dirty.add(self)
        if self.out_bytes > self.sendq_limit:
            self.closing = "SendQ exceeded"

    def send_all(self, chunks: list[bytes]) -> None:
        """``send_bytes`` for each of ``chunks`` in turn, in one call (what does not fit in the
        SendQ, and everything after it, is dropped as it would be one at a time)."""
        if self.closing is not None:
            return
        if self.pending:
            self.catch_up()
        out = self.out
        limit = self.sendq_limit
        size = self.out_bytes
        for data in chunks:
            out.append(data)
            size += len(data)
            if size > limit:
                self.closing = "SendQ exceeded"
                break
        self.out_bytes = size
        self.dirty.add(self)

    def catch_up(self) -> None:
        """Queue this session's share of the room broadcasts batched so far in this pass, so
        that they come before whatever is sent to it next (the order is as if sent at once)."""
        for room_log in self.pending.values():  # catch_up never adds or removes logs
            room_log.catch_up(self)

    def push(self, data: bytes) -> None:
        """Queue bytes as they are (used by the batched room broadcasts)."""
        self.out.append(data)
        self.out_bytes += len(data)
        self.dirty.add(self)
        if self.out_bytes > self.sendq_limit:
            self.closing = "SendQ exceeded"

    def take_output(self) -> bytes:
        if self.pending and self.closing is None:
            self.catch_up()
        data = b"".join(self.out) if len(self.out) != 1 else self.out[0]
        self.out.clear()
        self.out_bytes = 0
        return data
