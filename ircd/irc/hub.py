"""The IRC adapter's state: sessions and their lookups (nicks, users and each user's devices,
rooms), the connection lifecycle (new_session, close_session, quit), the per-client log budget,
the reply helpers, take_output and deliver_logs for the output step, and ISUPPORT.

What acts on that state lives beside it: dispatch.py (input, labelled responses, the ticker),
fanout.py (room broadcasts, NAMES cache), replay.py (replay tiers, unread, delivery acks),
replies.py (domain errors as replies), rooms.py, welcome.py, scheduler.py, service.py, and the
handlers in commands/. Sans-I/O: nothing here awaits; the hub imports none of those modules.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..config import Config
from ..durable import Pending
from ..messenger import Messenger
from ..messenger.masks import EXTBANS
from ..messenger.model import MAX_LIST_ENTRIES, Room
from ..wire import (
    Numeric,
    casefold,
    format_line,
)
from . import acks
from .caps import NAMELEN, SERVICE_NICK, cap_values
from .lines import safe_line
from .logbudget import LOG, SUPPRESS_START, LogBudget
from .monitor import Monitors
from .session import Session
from .throttle import LoginThrottle
from .whowas import WhowasLog

if TYPE_CHECKING:
    from .fanout import Audience, NamesCache, RoomLog

log = logging.getLogger(__name__)

MODES_PER_COMMAND = 4  # mode changes with a parameter per MODE command (ISUPPORT MODES)

# runs slow, pure work (password hashing) somewhere else; the ``Pending`` it returns is settled
# with the work's result (or its error) on the event loop's thread. The server passes one backed
# by a thread pool. Without one (the adapter tests) the work runs at once.
Offload = Callable[[Callable[[], Any]], Pending[Any]]


def _queue_lines(s: Session, lines: list[str]) -> None:
    for line in lines:
        s.send(line)


def run_now(work: Callable[[], Any]) -> Pending[Any]:
    return Pending.of(work())


class Hub:
    def __init__(self, config: Config, messenger: Messenger, clock: Clock) -> None:
        self.config = config
        self.messenger = messenger
        self.clock = clock
        self.name = config.server.name
        self.sessions: set[Session] = set()
        self.nicks: dict[str, Session] = {}  # casefolded nick -> registered session
        self.by_user: dict[str, Session] = {}  # messenger user key -> session
        # messenger user key -> every registered connection of the user, oldest first: an
        # account may be connected from several devices (accounts.max_devices), which share
        # its nick and identity; the first is the one in ``nicks`` and ``by_user``
        self.devices: dict[str, list[Session]] = {}
        # counts every change of ``devices`` (a device added or dropped, a user rekeyed): with
        # ``Room.version`` it tells a room's cached list of devices is current (fanout.py)
        self.devices_version = 0
        self.audiences: dict[str, Audience] = {}  # room key -> its devices (fanout.audience)
        self.dirty: set[Session] = set()
        self.logs: dict[str, RoomLog] = {}  # room broadcasts batched in this pass (at most one)
        self.opers: set[Session] = set()  # sessions that are IRC operators
        self.burst_cache: dict[str, str] = {}  # static parts of the welcome burst
        # room key -> NAMES lists; a join appends to it (broadcast_join), and every other change
        # of who is in a room, of a nick or of an op status drops them all (fanout.py)
        self.names_cache: dict[str, NamesCache] = {}
        self.ip_counts: dict[str, int] = {}
        acc = config.accounts
        self.throttle = LoginThrottle(
            acc.login_failures_per_minute, acc.account_failures_per_minute
        )
        self.pruned_at = clock.now()
        # nick -> the connection whose login or account creation for it is being checked off
        # the loop: nobody else may take the nick meanwhile
        self.claims: dict[str, Session] = {}
        self.offload: Offload = run_now
        # the server's timer: call pump_waiting() at (about) this clock time
        self.wake_at: Callable[[float], None] = lambda _when: None
        self.waiting: set[Session] = set()  # sessions with lines waiting for their budget
        # (when, session): welcomed connections that have said nothing yet, in the order they
        # were welcomed; each is sent the landing PING once it has been quiet until ``when``
        self.landing: deque[tuple[float, Session]] = deque()
        # guest keys are never reused, not even after a restart
        self._guest_prefix = secrets.token_hex(2)
        self._guests = 0
        self.started = clock.now()
        # the engine's key of chat.general_channel, where everyone lands ("": none, auto_join off)
        rules = messenger.rules
        self.general_key = rules.general_room if rules.auto_join else ""
        self.operators = {casefold(o.name): o.password_hash for o in config.operators}
        self._batch_ids = 0
        self.isupport = self._isupport()
        self.cap_values = cap_values(config.accounts)  # CAP LS 302 values
        self.max_users_seen = 0  # most registered clients at once (LUSERS 265/266)
        # why writes are refused now (the shared store is unreachable), or None: commands that
        # would change state are answered with it (dispatch.py), nothing is acknowledged
        self.unavailable: str | None = None
        # lines that must not wait behind held output (a refusal while the store is down: it
        # shows no state); the server sends them at once, by default they are queued as usual
        self.urgent: Callable[[Session, list[str]], None] = _queue_lines
        self.refusals_log = LogBudget()  # "refused connection" lines: one budget for them all
        # account -> seq ranges written to a connection that ended before confirming them: a
        # later replay marks those lines as possible repeats (acks.py; in memory only)
        self.shown: dict[str, list[tuple[int, int]]] = {}
        self.monitor = Monitors(config.server.monitor_limit)  # MONITOR lists (monitor.py)
        self.whowas = WhowasLog(config.server.whowas_history)  # nicks given up (whowas.py)
        # several nodes (the redis backend; the server sets it): operators' actions on users of
        # other nodes wait in ``network`` as presence records for the next append (foreign.py)
        self.clustered = False
        self.network: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ connections

    def new_session(self, ip: str) -> Session | None:
        """A new connection from ``ip``; None when the per-IP limit is reached."""
        n = self.ip_counts.get(ip, 0)
        if n >= self.config.server.max_clients_per_ip:
            # no session to charge: a reconnecting loop shares one budget with all refusals
            self._log_within(
                self.refusals_log,
                "refused connections",
                log.warning,
                "refused connection from %s: %d connections already",
                ip,
                n,
            )
            return None
        self.ip_counts[ip] = n + 1
        now = self.clock.now()
        s = Session(
            ip=ip,
            dirty=self.dirty,
            pending=self.logs,
            sendq_limit=self.config.server.sendq_bytes,
            created=now,
            last_active=now,
            host=ip,
        )
        self.sessions.add(s)
        return s

    def batch_id(self) -> str:
        self._batch_ids += 1
        return f"{self._batch_ids:x}{secrets.token_hex(2)}"

    def close_session(self, s: Session, reason: str) -> None:
        """The connection is gone (or being closed): tell peers and forget it."""
        if s not in self.sessions:
            return
        s.inbox.clear()
        self.waiting.discard(s)
        for nick in [k for k, v in self.claims.items() if v is s]:
            del self.claims[nick]
        self.opers.discard(s)
        self.sessions.discard(s)
        n = self.ip_counts.get(s.ip, 1) - 1
        if n > 0:
            self.ip_counts[s.ip] = n
        else:
            self.ip_counts.pop(s.ip, None)
        self.monitor.forget(s)
        if s.registered and self._detach(s):
            line = safe_line("QUIT", (reason,), s.mask)
            for peer in self.peers_of(s):
                peer.send(line)
            self.whowas.record(s, self.clock.now())
            if self.nicks.get(s.nick_key) is s:
                del self.nicks[s.nick_key]
                self.monitor.offline(self.name, s.nick)
            if self.by_user.get(s.user_key) is s:
                del self.by_user[s.user_key]
                self.messenger.disconnected(s.user_key)
        s.registered = False
        # once per connection, so not from its log budget; it says what the budget dropped
        dropped = s.log_budget.dropped_total
        if dropped:
            log.info("closed %s (%s): %s (%d log lines suppressed)", s.nick, s.ip, reason, dropped)
        else:
            log.info("closed %s (%s): %s", s.nick, s.ip, reason)

    def add_device(self, s: Session) -> None:
        """``s`` completed registration as ``s.user_key``: one more device of the user (the
        first one speaks for it in ``nicks`` and ``by_user``)."""
        devices = self.devices.setdefault(s.user_key, [])
        devices.append(s)
        self.devices_version += 1
        if len(devices) == 1:
            self.nicks[s.nick_key] = s
            self.by_user[s.user_key] = s
            self.monitor.online(self.name, s)  # a further device: the nick was online already

    def _detach(self, s: Session) -> bool:
        """Forget the device ``s``; True when it was the user's last one (the user leaves),
        False when another device stays (it takes over ``nicks`` and ``by_user`` if ``s``
        held them, with the same nick and mask: nobody else sees a change)."""
        devices = self.devices.get(s.user_key)
        if devices is None or s not in devices:
            return True
        devices.remove(s)
        self.devices_version += 1
        if not devices:
            del self.devices[s.user_key]
            return True
        if self.nicks.get(s.nick_key) is s:
            self.nicks[s.nick_key] = devices[0]
        if self.by_user.get(s.user_key) is s:
            self.by_user[s.user_key] = devices[0]
        return False

    def rekey(self, s: Session, new_key: str) -> None:
        """A registered guest became the account ``new_key`` (REGISTER): its one connection
        moves to the new key."""
        old = s.user_key
        if self.by_user.get(old) is s:
            del self.by_user[old]
            self.by_user[new_key] = s
        devices = self.devices.pop(old, None)
        if devices is not None:
            self.devices[new_key] = devices
            self.devices_version += 1
        s.user_key = new_key

    def client_log(self, s: Session, emit: Callable[..., None], msg: str, *args: object) -> None:
        """Log a line on behalf of ``s`` (``emit`` is the logger method: ``log.info``,
        ``log.warning``, ``log.exception``...), within the connection's log budget (see
        logbudget.py): one client cannot fill the log, however fast it sends."""
        self._log_within(s.log_budget, f"{s.nick} ({s.ip})", emit, msg, *args)

    def _log_within(
        self, budget: LogBudget, who: str, emit: Callable[..., None], msg: str, *args: object
    ) -> None:
        verdict = budget.take(self.clock.now())
        if verdict == LOG:
            if budget.dropped:
                log.warning("log lines from %s resume; %d were suppressed", who, budget.resumed())
            emit(msg, *args)
        elif verdict == SUPPRESS_START:
            log.warning("further log lines from %s suppressed", who)

    def quit(self, s: Session, reason: str, error: str | None = None) -> None:
        """Close a connection from our side: an ERROR line to it, QUIT to its peers."""
        if s.closing is None:
            line = format_line("ERROR", (error or f"Closing link: {s.ip} ({reason})",))
            s.send_bytes((line + "\r\n").encode())  # not captured by a label: sent now
            s.closing = reason
        self.close_session(s, reason)

    # ------------------------------------------------------------------ reply helpers

    def reply(self, s: Session, numeric: Numeric, *params: str) -> None:
        """A numeric to ``s``; params may echo client input ("NICK :a b", 400 bytes): they are
        made sendable and cut to fit (see lines.safe_line)."""
        me = s.nick if s.registered else "*"
        s.send(safe_line(numeric.value, (me, *params), self.name))

    def notice(self, s: Session, text: str) -> None:
        """A notice from the server itself."""
        s.send(safe_line("NOTICE", (s.nick, text), self.name))

    def service_notice(self, s: Session, text: str) -> None:
        """A notice from the Messenger service (shown in every client)."""
        for part in text.split("\n"):
            s.send(safe_line("NOTICE", (s.nick, part or " "), self.service_mask))

    def service_notice_user(self, user_key: str, text: str) -> None:
        """A notice from the Messenger service to every device of a user (none if offline)."""
        for s in self.sessions_of(user_key):
            self.service_notice(s, text)

    @property
    def service_mask(self) -> str:
        return f"{SERVICE_NICK}!service@{self.name}"

    def standard_reply(
        self,
        s: Session,
        kind: str,
        command: str,
        code: str,
        context: Sequence[str],
        text: str,
        feature: str = "standard-replies",
    ) -> None:
        """FAIL/WARN/NOTE to clients that negotiated standard-replies (or the cap that defines
        these replies, e.g. draft/chathistory), a service NOTICE to everyone else."""
        if "standard-replies" in s.caps or feature in s.caps:
            # context often echoes what the client sent (a target, a reference, an id)
            s.send(safe_line(kind, (command, code, *context, text), self.name))
        else:
            prefix = "Error: " if kind == "FAIL" else ""
            self.service_notice(s, prefix + text)

    def fail(
        self,
        s: Session,
        command: str,
        code: str,
        *context: str,
        text: str,
        feature: str = "standard-replies",
    ) -> None:
        self.standard_reply(s, "FAIL", command, code, context, text, feature)

    def note(self, s: Session, command: str, code: str, *context: str, text: str) -> None:
        self.standard_reply(s, "NOTE", command, code, context, text)

    # ------------------------------------------------------------------ lookups

    def session_by_nick(self, nick: str) -> Session | None:
        return self.nicks.get(casefold(nick))

    def nick_holder(self, key: str, me: Session) -> Session | None:
        """Another connection that has (or is being given) the nick ``key``."""
        for holder in (self.nicks.get(key), self.claims.get(key)):
            if holder is not None and holder is not me:
                return holder
        return None

    def guest_key(self, nick_key: str) -> str:
        """A messenger key of its own for a guest connection ('!' is never in a nick, so it
        never names an account): what an earlier guest with the same nick had is not its."""
        self._guests += 1
        return f"{nick_key}!{self._guest_prefix}{self._guests:x}"

    def resolve_user(self, nick: str) -> tuple[str, str] | None:
        """A nick -> (messenger user key, display name): an online user, or an offline
        account with that name."""
        s = self.nicks.get(casefold(nick))
        if s is not None:
            return s.user_key, s.nick
        acct = self.messenger.account(casefold(nick))
        if acct is not None:
            return acct.key, acct.name
        return None

    def display_nick(self, user_key: str, fallback: str) -> str:
        s = self.by_user.get(user_key)
        return s.nick if s is not None else fallback

    def sessions_of(self, user_key: str) -> list[Session]:
        """Every registered connection (device) of a user, oldest first; [] when offline."""
        return self.devices.get(user_key, [])

    def room_sessions(self, room: Room) -> Iterable[Session]:
        """Every online connection in ``room``: each device of each member (for sending)."""
        devices = self.devices
        for key in room.members:
            got = devices.get(key)
            if got is not None:
                yield from got

    def room_users(self, room: Room) -> Iterable[Session]:
        """One connection per online member of ``room``, the one that speaks for it (for
        counts and lists: a user with several devices is one user)."""
        by_user = self.by_user
        for key in room.members:
            s = by_user.get(key)
            if s is not None:
                yield s

    def peers_of(self, s: Session) -> set[Session]:
        """Every online connection of other users sharing a room with ``s``."""
        out: set[Session] = set()
        for room in self.rooms_of(s):
            out.update(self.room_sessions(room))
        out.difference_update(self.sessions_of(s.user_key))
        out.discard(s)
        return out

    def rooms_of(self, s: Session) -> list[Room]:
        u = self.messenger.user(s.user_key)
        if u is None:
            return []
        return [r for k in u.rooms if (r := self.messenger.rooms.get(k)) is not None]

    # ------------------------------------------------------------------ room broadcasts

    def deliver_logs(self) -> None:
        """Hand every member its share of the batched room broadcasts (the server calls this
        when it flushes, after the journal write)."""
        while self.logs:
            logs = list(self.logs.values())
            self.logs.clear()
            for log_ in logs:
                log_.deliver()

    # ------------------------------------------------------------------ output

    def take_output(self, s: Session) -> bytes:
        """What the server writes to ``s`` now (the delivery state notes what it carries)."""
        return acks.take(self, s)

    # ------------------------------------------------------------------ ISUPPORT

    def _isupport(self) -> list[str]:
        cfg = self.config
        return [
            "ACCOUNTEXTBAN=a",
            "AWAYLEN=200",
            "BOT=B",
            "CASEMAPPING=ascii",
            f"CHANLIMIT=#:{cfg.server.max_channels_per_user}",
            # list modes, the key, the limit, flags (messenger/engine.py set_mode)
            "CHANMODES=beI,k,l,imnst",
            "CHANNELLEN=50",
            "CHANTYPES=#",
            f"CHATHISTORY={cfg.chat.chathistory_max}",
            "ELIST=CMNTU",
            "EXCEPTS=e",
            f"EXTBAN=,{EXTBANS}",
            "INVEX=I",
            "KICKLEN=300",
            f"MAXLIST=beI:{MAX_LIST_ENTRIES}",
            "MAXTARGETS=4",
            f"MONITOR={cfg.server.monitor_limit}",
            f"MODES={MODES_PER_COMMAND}",
            "MSGREFTYPES=timestamp,msgid",
            f"NAMELEN={NAMELEN}",
            f"NETWORK={cfg.server.network}",
            "NICKLEN=30",
            "PREFIX=(ov)@+",
            "STATUSMSG=@+",
            "TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:,PART:,WHOIS:1,NAMES:1,KICK:4",
            "TOPICLEN=390",
            "UTF8ONLY",
            # pydle with WHOX lands in #general because the landing waits for the client's
            # next line (welcome.py; tests/e2e/test_pydle.py)
            "WHOX",
        ]
