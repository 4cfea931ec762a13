"""The only asyncio I/O: listening sockets, connections, per-pass output flushing, timers,
persistence scheduling and shutdown.

One line's life: ``data_received`` -> ``LineFramer.feed`` -> ``Server.received`` ->
``feed_lines`` -> ``feed`` (or a run of plain lines to one target in one call; sync: handlers
call the messenger and queue output on sessions) -> at the end of the event-loop pass
``_flush`` hands the pass's events to the store and the pass's output to the outbox
(``ircd/irc/output.py``), which gives each connection (its ``Link``) its bytes in one piece once
the store says the events are durable. A transport implements ``Link`` (``ircd/irc/link.py``)
and calls ``attach``, ``received`` and ``detached``; TCP and TLS are ``Connection``, WebSocket
is ``ircd/web``'s ``WebConnection`` (on the web listener, which also serves the web messenger).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import ssl
import struct
import sys
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast

from .clock import Clock, SystemClock
from .config import Config
from .config import rules_from as rules_from  # the schema derives the engine's rules
from .durable import Durable, Pending
from .irc import Hub, Session, acks, feed_lines, fire_due, needs_turn, pump_waiting, tick
from .irc.foreign import Presence, apply_entry, is_presence, presence_changes
from .irc.link import Link
from .irc.output import Outbox
from .messenger import Messenger, Rules
from .messenger.snapshot import live_posts
from .messenger.validate import StateError
from .storage import FileStore, LoadedState, StorageError, Store, read_segments
from .storage.redis_store import RedisStore, StreamEntry, stream_id_key
from .web import WebConnection, WebSettings
from .wire import LineFramer, TooLong

log = logging.getLogger(__name__)

try:  # unacknowledged bytes of a TCP socket (SIOCOUTQ is TIOCOUTQ on Linux)
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ if sys.platform.startswith("linux") else None
except ImportError:  # not on this OS
    _SIOCOUTQ = None


def _describe(e: Exception) -> str:
    """One line: the message of a ``StateError``, else the exception's type and message."""
    text = str(e) if isinstance(e, StateError) else f"{type(e).__name__}: {e}"
    return " ".join(text.splitlines())


def restore(loaded: LoadedState, clock: Clock, rules: Rules, state_file: str) -> Messenger:
    """The engine rebuilt from a snapshot and the journal after it.

    ``StorageError`` with one line naming the file (and the journal line) and what is wrong,
    whatever failed: the engine's checks (``StateError``) or anything they did not foresee.
    """
    path = state_file if "://" in state_file else os.path.abspath(state_file)
    if loaded.snapshot is None:
        m = Messenger(clock, rules)
    else:
        try:
            m = Messenger.from_dict(loaded.snapshot, clock, rules, read_segments(loaded.segments))
        except StorageError:
            raise  # a segment file that cannot be read says which
        except Exception as e:
            log.debug("snapshot not loaded", exc_info=True)
            raise StorageError(f"{path}: corrupt snapshot: {_describe(e)}") from e
    for i, ev in enumerate(loaded.events):
        try:
            m.replay((ev,))
        except Exception as e:
            log.debug("journal event not applied", exc_info=True)
            raise StorageError(f"{loaded.origin(i)}: {_describe(e)}") from e
    return m


def unacked_bytes(transport: asyncio.Transport) -> int | None:
    """Bytes handed to ``transport`` that the peer's TCP stack has not acknowledged yet: the
    transport's own buffer plus the kernel's send queue (SIOCOUTQ, Linux). None when that
    cannot be told (another OS, a closed socket, TLS with data in flight)."""
    if _SIOCOUTQ is None or transport.is_closing():
        return None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0"))[0]
    except (OSError, ValueError, AttributeError):
        return None
    pending = transport.get_write_buffer_size()
    if transport.get_extra_info("sslcontext") is not None:
        # TLS: the bytes on the wire are not the ones written; only "all of it" is known
        return 0 if queued == 0 and pending == 0 else None
    return pending + int(queued)


class Connection(asyncio.Protocol):
    """A TCP or TLS connection: the ``Link`` (``ircd/irc/link.py``) of one client."""

    __slots__ = ("framer", "peer", "secure", "server", "session", "transport")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.framer = LineFramer()
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.peer = "unknown"
        self.secure = False

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # uvloop's is not a subclass
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "unknown"
        self.secure = transport.get_extra_info("sslcontext") is not None
        session = self.server.attach(self)
        if session is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.session = session

    def data_received(self, data: bytes) -> None:
        s = self.session
        if s is not None:
            self.server.received(s, self.framer.feed(data))

    def connection_lost(self, exc: Exception | None) -> None:
        s = self.session
        if s is not None:
            why = "Connection closed" if exc is None else f"Connection reset: {exc}"
            self.server.detached(s, why)

    # ------------------------------------------------------------------ the Link

    def send(self, data: bytes) -> int:
        t = self.transport
        if t is None or t.is_closing():
            return 0
        t.write(data)
        return t.get_write_buffer_size()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def buffered(self) -> int:
        t = self.transport
        return 0 if t is None else t.get_write_buffer_size()

    def unacked(self) -> int | None:
        """Bytes written to this connection that the peer's TCP stack has not acknowledged."""
        t = self.transport
        return None if t is None else unacked_bytes(t)


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None where there is no glibc)."""
    try:
        import ctypes

        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return cast(Callable[[int], int], fn)


_malloc_trim = _load_malloc_trim()
_TRIM_AFTER_BYTES = 16 << 20  # trim (at the next tick) once this much output has been written


def _bind(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets for every address of ``host`` (as ``loop.create_server`` binds)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, type_, proto, _name, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            sock = socket.socket(family, type_, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


class _Listener(asyncio.AbstractServer):
    """Plain-TCP listening sockets with our own accept loop, which takes every pending
    connection in one event-loop pass. (uvloop's server accepts one connection per pass: with
    a connect burst each pass then completes a single registration, and each of those passes
    writes the JOIN broadcast to every member separately.)"""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        factory: Callable[[], asyncio.Protocol],
    ) -> None:
        self._loop = loop
        self.sockets = sockets
        self._factory = factory
        self._adopting: set[asyncio.Task[None]] = set()
        for sock in sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, lsock: socket.socket) -> None:
        for _ in range(4096):
            try:
                conn, _addr = lsock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:  # out of fds or buffers: pause accepting for a second
                log.warning("accept failed: %s; pausing accepts for 1 s", e)
                self._loop.remove_reader(lsock.fileno())
                self._loop.call_later(1.0, self._resume, lsock)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._adopt(conn))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    def _resume(self, lsock: socket.socket) -> None:
        if lsock in self.sockets:
            self._loop.add_reader(lsock.fileno(), self._accept, lsock)

    async def _adopt(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:
            conn.close()

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets = []

    async def wait_closed(self) -> None:
        return None

    def is_serving(self) -> bool:
        return bool(self.sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        await asyncio.Future()


class Server:
    """An IRC messenger server bound to one address (port 0 picks a free port)."""

    def __init__(self, config: Config, clock: Clock | None = None, store: Store | None = None):
        self.config = config
        self.clock = clock or SystemClock()
        self.store: Store = store or open_store(config)
        self._rules = rules_from(config)
        # The state is built inside load(): if it cannot be, nothing on disk is touched, and
        # the store will never write over the files that failed to load. The collector is
        # off meanwhile (a load makes millions of objects and no garbage cycles: each of its
        # passes over them would be wasted), and a big state is frozen out of its scans
        # afterwards (the stored posts live as long as the server; a full pass over millions
        # of them would stall the loop for a good part of a second).
        gc_was = gc.isenabled()
        gc.disable()
        try:
            self.store.load(self._accept)
        finally:
            if gc_was:
                gc.enable()
        if live_posts(self.messenger) >= _FREEZE_AFTER_POSTS:
            gc.freeze()  # (so that tune_gc's collection need not walk them either)
        if _malloc_trim is not None:  # what the load's transient objects left to the OS
            with contextlib.suppress(Exception):
                _malloc_trim(0)
        log.info(
            "state loaded: %d accounts, %d channels, %d messages, %d scheduled",
            sum(1 for u in self.messenger.users.values() if u.is_account),
            len(self.messenger.rooms),
            self.messenger.seq,
            len(self.messenger.scheduled),
        )
        # several nodes on one stream (ircd/irc/foreign.py): one decides at a time (the turn)
        self._cluster = self.store if isinstance(self.store, RedisStore) else None
        if self._cluster is None:
            self.messenger.drop_unreachable()  # what only the last run's guests could read
            self.store.append(self.messenger.take_events())
        # (with several nodes, other nodes' guests are alive: nothing is unreachable; the
        # events of the load are appended with the first turn)
        self._presence = Presence(self._cluster.origin if self._cluster else "")
        self._turn = "none"  # "none", "asking" (the store was asked) or "held"
        self._turn_target: str | None = None  # the stream id to catch up to before deciding
        self._granted = False  # the store says we have the turn (then catch up to the target)
        self._yield = False  # another node waits for the turn: give it back after this pass
        self._held_since = 0.0
        self._yield_timer: asyncio.TimerHandle | None = None
        self._read_pos = self._cluster.position if self._cluster else "0-0"
        self._work: deque[Callable[[], None]] = deque()  # what waits for the turn, in order
        self._behind: dict[Session, int] = {}  # sessions with lines in _work: how many batches
        self._draining = False  # a _drain_work is scheduled
        self._records: list[dict[str, Any]] = []  # presence records for the next append
        self.hub = Hub(config, self.messenger, self.clock)
        self.hub.offload = self._offload
        self.hub.clustered = self._cluster is not None
        self.hub.wake_at = self._wake_at
        self.hub.urgent = self._urgent
        # each pass's output, held until its events are durable (ircd/irc/output.py)
        self.outbox = Outbox(self.hub, config.server.sendq_bytes)
        # password hashing (scrypt) runs here, never on the event loop; one core is left free
        # for the loop
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(4, (os.cpu_count() or 2) - 1)), thread_name_prefix="ircd-hash"
        )
        self._wake: asyncio.TimerHandle | None = None
        self._wake_when = 0.0
        self.conns: dict[Session, Link] = {}
        self.closing = False
        self._flush_scheduled = False
        self._stopping: asyncio.Task[None] | None = None  # the shutdown a storage failure began
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._snapshot_task: asyncio.Future[None] | None = None
        self._events_since_snapshot = 0
        self._written_since_trim = 0  # bytes handed to transports since the last malloc_trim
        self.port = 0
        self.tls_port = 0
        self.web_port = 0
        self._web: WebSettings | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _accept(self, loaded: LoadedState) -> None:
        """Build the engine from what the store read (``StorageError`` if it cannot be)."""
        general = self.config.chat.general_channel
        where = (
            self.config.storage.state_file
            if self.config.storage.backend == "file"
            else self.config.storage.redis_url
        )
        if self.config.storage.backend == "redis":  # presence records are not the engine's
            loaded = LoadedState(
                loaded.snapshot,
                [e for e in loaded.events if not is_presence(e)],
                [
                    o
                    for e, o in zip(loaded.events, loaded.origins, strict=False)
                    if not is_presence(e)
                ],
            )
        m = restore(loaded, self.clock, self._rules, where)
        if loaded.snapshot is None and not any(e.get("t") == "sid" for e in loaded.events):
            m.pin_server_id()  # (several nodes: the first to append it wins; see _on_entries)
        if m.rules.auto_join:
            m.ensure_room(m.rules.general_room, general)
        self.messenger = m

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        cfg = self.config.server
        srv = _Listener(loop, _bind(cfg.host, cfg.port, 4096), lambda: Connection(self))
        self._servers.append(srv)
        self.port = srv.sockets[0].getsockname()[1]
        log.info("listening on %s:%d", cfg.host, self.port)
        ctx: ssl.SSLContext | None = None
        if cfg.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key or None)
        if cfg.tls_port and ctx is not None:
            tls = await loop.create_server(
                lambda: Connection(self), cfg.host, cfg.tls_port, ssl=ctx, reuse_address=True
            )
            self._servers.append(tls)
            self.tls_port = tls.sockets[0].getsockname()[1]
            log.info("listening with TLS on %s:%d", cfg.host, self.tls_port)
        web = self.config.web
        if web.port:
            self._web = settings = WebSettings.from_config(web, unacked_bytes)
            www = await loop.create_server(
                lambda: WebConnection(self, settings),
                web.host,
                web.port,
                ssl=ctx,
                reuse_address=True,
            )
            self._servers.append(www)
            self.web_port = www.sockets[0].getsockname()[1]
            scheme = "https" if ctx is not None else "http"
            log.info(
                "web messenger on %s://%s:%d/ (IRC over WebSocket at /irc)",
                scheme,
                web.host,
                self.web_port,
            )
        if self._cluster is not None:
            self._cluster.start(
                self._post_from_thread,
                self._store_status,
                on_entries=self._on_entries,
                on_turn=self._on_turn,
                on_dead=self._on_dead,
                node_timeout=self.config.server.node_timeout,
                on_wanted=self._on_wanted,
                on_expelled=self._on_expelled,
            )
            # the load's own events (#general, the server id), and a hello: the other nodes
            # announce their users to this one
            self._records.append({"t": "~hello", "o": self._cluster.origin})
            self._gated(lambda: None)
        self._tasks.append(loop.create_task(self._ticker()))
        self._tasks.append(loop.create_task(self._snapshotter()))
        # scheduled messages that fell due while we were down go out now, in order
        self._gated(self._run_due)

    async def stop(self, reason: str = "Server shutting down") -> None:
        if self.closing:
            return
        self.closing = True
        for srv in self._servers:
            srv.close()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._wake is not None:
            self._wake.cancel()
        for s in list(self.hub.sessions):
            self.hub.quit(s, reason, error=f"Closing link: {reason}")
        if self._cluster is not None:
            self._gated(lambda: None)  # the quits go to the other nodes with a turn
        self._flush()
        await self._settled(timeout=5.0)
        await self._released(timeout=5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for link in list(self.conns.values()):
            link.close()
        if self._web is not None:  # web connections that never became IRC clients
            for conn in list(self._web.connections):
                if conn.session is None:
                    conn.abort()
        if self._snapshot_task is not None:
            with contextlib.suppress(Exception):
                await self._snapshot_task
        await self._snapshot()
        if self._turn == "held":
            self._release_turn()  # the other nodes need not wait for it to expire
        self.store.close()
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 2)
        log.info("stopped")

    # ------------------------------------------------------------------ links

    def attach(self, link: Link) -> Session | None:
        """A transport's new connection: its session, or None when it is refused (then it has
        been told why and is being closed)."""
        refusal = None
        session = None
        if self.closing:
            refusal = b"ERROR :Server is shutting down\r\n"
        else:
            session = self.hub.new_session(link.peer)
            if session is None:
                refusal = b"ERROR :Too many connections from your address\r\n"
        if session is None:
            link.send(refusal or b"")
            link.close()
            return None
        self.outbox.attach(session, link)
        self.conns[session] = link
        return session

    def received(self, s: Session, lines: Iterable[str | TooLong]) -> None:
        """Lines a transport framed for ``s``, handled in order (up to its close)."""
        if s.closing is not None:
            return
        if self._cluster is None or self.hub.unavailable is not None:
            self._received(s, lines)
            return
        if self._turn == "held" and s not in self._behind:
            self._received(s, lines)
            return
        # several nodes, without the turn: the reads at the head of what came are answered now
        # (they decide nothing on the shared state); from the first line that may decide, the
        # rest waits for the turn, and so does every later line of this session until it ran
        items = list(lines)
        if any(isinstance(x, str) and acks.is_quit(x) for x in items):
            acks.quit_arrives(s)  # what it had received counts as of now, not the turn
        if s not in self._behind and self._turn != "held":
            n = 0
            while n < len(items) and not needs_turn(s, items[n]):
                n += 1
            if n:
                self._received(s, items[:n])
                items = items[n:]
        if items and s.closing is None:
            self._behind[s] = self._behind.get(s, 0) + 1
            self._gated(functools.partial(self._received_behind, s, items))

    def _received_behind(self, s: Session, lines: list[str | TooLong]) -> None:
        """Lines of ``s`` that waited for the turn (``received``)."""
        left = self._behind.pop(s, 1) - 1
        if left > 0:
            self._behind[s] = left
        self._received(s, lines)

    def _received(self, s: Session, lines: Iterable[str | TooLong]) -> None:
        if s.closing is not None:
            return
        feed_lines(self.hub, s, lines if isinstance(lines, list) else list(lines))
        self.schedule_flush()

    def detached(self, s: Session, reason: str) -> None:
        """The transport's connection is gone (``reason``, unless it was being closed)."""
        self.conns.pop(s, None)
        self._gated(functools.partial(self._detached, s, reason))

    def _detached(self, s: Session, reason: str) -> None:
        if s.closing is None:
            s.closing = reason
        self.hub.close_session(s, s.closing)
        self.schedule_flush()

    # ------------------------------------------------------------------ output

    def schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """The end of an event-loop pass: its events go to the journal, its output to the
        outbox, held until the store says those events are durable; then every pass that is
        durable goes to the links, oldest first (``ircd/irc/output.py``)."""
        self._flush_scheduled = False
        m = self.messenger
        out = self.outbox
        cluster = self._cluster
        while True:
            durable = Durable.completed()
            before: list[dict[str, Any]] = []  # presence records around the engine's events
            after: list[dict[str, Any]] = []
            if cluster is not None and self._turn != "held" and self.hub.unavailable is None:
                if m.has_events or self._records:
                    self._gated(lambda: None)  # flushed with the turn (output waits in sessions)
                    return
            elif cluster is not None:
                changes = presence_changes(self.hub, self._presence)
                before = [*self._records, *(c for c in changes if c["t"] != "~off")]
                after = [c for c in changes if c["t"] == "~off"]
                self._records = []
            if m.has_events or before or after:
                events = [*before, *m.take_events(), *after]
                self._events_since_snapshot += len(events)
                try:
                    durable = self.store.append(events)  # journaled before anyone is sent anything
                except Exception:
                    self._storage_failed()
                    return
                if not durable.done:
                    durable.then(self._on_durable)
            out.end_pass(durable)
            try:
                self._written_since_trim += out.release()
            except Exception:
                self._storage_failed()
                return
            if out.idle:  # else a SendQ drop queued QUIT lines (and events): one more pass
                if self._turn == "held" and not self._work and self._yield:
                    self._yield_turn()
                return

    def _on_durable(self, _durable: Pending[None]) -> None:
        """A store completed an append later: release what waited for it."""
        if self._loop is not None and not self._loop.is_closed():
            self.schedule_flush()

    # ------------------------------------------------------------------ several nodes

    def _gated(self, work: Callable[[], None]) -> None:
        """Run ``work`` (something that may decide on the state) now if this node may decide:
        one node, or this node holds the network's turn, has applied everything before it and
        has nothing older waiting; else once it does, in order. While the store is unreachable
        it runs now, with writes refused (``Hub.unavailable``)."""
        if self._cluster is None or self.hub.unavailable is not None:
            work()
            return
        if self._turn == "held" and not self._work:
            work()
            return
        self._work.append(work)
        if self._turn == "none":
            self._turn = "asking"
            self._cluster.request_turn()
        elif self._turn == "held":
            self._drain_soon()

    def _on_expelled(self) -> None:
        """The other nodes took this node as dead (it was cut off or paused longer than
        node_timeout): its users already quit for them, so it stops; its clients reconnect
        to another node, where they find their unread."""
        if self._loop is not None and not self.closing:
            self._stopping = self._loop.create_task(
                self.stop("This node lost contact with the network")
            )

    def _on_wanted(self) -> None:
        """Another node waits for the turn: give it back after this pass (an idle node keeps
        it between passes, so a node alone decides with one round trip per pass)."""
        self._yield = True
        if self._turn == "held" and not self._work and not self._flush_scheduled:
            self._yield_turn()

    def _yield_turn(self) -> None:
        """Give the turn to the node that waits, once this node has held it for at least
        ``_MIN_HOLD`` (so two busy nodes hand it over once per few passes, not every pass)."""
        assert self._loop is not None
        left = self._held_since + _MIN_HOLD - self._loop.time()
        if left > 0:
            if self._yield_timer is None:
                self._yield_timer = self._loop.call_later(left, self._yield_now)
            return
        self._release_turn()

    def _held_too_long(self) -> bool:
        """Another node waits and this one has held the turn ``_MAX_HOLD`` while busy: give it
        back now and ask again for what is left (nobody waits longer than about that)."""
        assert self._loop is not None
        if not (self._turn == "held" and self._yield):
            return False
        return self._loop.time() - self._held_since >= _MAX_HOLD

    def _yield_now(self) -> None:
        self._yield_timer = None
        if self._turn == "held" and self._yield and not self._work:
            if self._flush_scheduled:
                return  # that flush ends with the release
            self._release_turn()

    def _release_turn(self) -> None:
        assert self._cluster is not None
        if self._yield_timer is not None:
            self._yield_timer.cancel()
            self._yield_timer = None
        self._turn = "none"
        self._yield = False
        self._cluster.release_turn()  # after the appends queued before it
        if self._work:  # what is left waits for the next turn
            self._turn = "asking"
            self._cluster.request_turn()

    def _on_turn(self, last: str, mine: bool) -> None:
        """The store holds the turn for us: decide once the stream up to ``last`` is applied."""
        self._turn_target = None if mine else last
        self._granted = True
        log.debug("turn granted at %s (mine: %s); read up to %s", last, mine, self._read_pos)
        self._turn_ready()

    def _turn_ready(self) -> None:
        if self._turn != "asking" or not self._granted:
            return
        target = self._turn_target
        if target is not None and stream_id_key(self._read_pos) < stream_id_key(target):
            return  # the reader has not handed over everything before it yet
        self._turn = "held"
        self._turn_target = None
        self._granted = False
        assert self._cluster is not None
        self._cluster.holds_turn()
        assert self._loop is not None
        self._held_since = self._loop.time()
        self._drain_work()

    def _drain_soon(self) -> None:
        if not self._draining:
            self._draining = True
            assert self._loop is not None
            self._loop.call_soon(self._drain_work)

    def _drain_work(self) -> None:
        """With the turn: what waited for it, in order, in passes of at most ``_CHUNK`` s
        each appended on its own, so the other nodes apply one pass while this node decides
        the next; given back after ``_MAX_HOLD`` when another node waits."""
        self._draining = False
        if self._turn != "held":
            return
        assert self._loop is not None
        until = self._loop.time() + _CHUNK
        while self._work:
            work = self._work.popleft()
            try:
                work()
            except Exception:
                log.exception("error in work that waited for the turn")
            if self._work and self._loop.time() >= until:
                break
        self._flush()
        if self._turn != "held":
            return
        if self._work:
            if self._held_too_long():
                self._release_turn()  # and asks again for the rest
            else:
                self._drain_soon()
        elif self._yield and not self._flush_scheduled:
            self._yield_turn()

    def _on_entries(self, entries: list[StreamEntry], last: str) -> None:
        """Other nodes' stream entries, in stream order: applied and shown to our clients."""
        cluster = self._cluster
        assert cluster is not None
        again = False
        for e in entries:
            again |= apply_entry(self.hub, self._presence, e.origin, e.events)
            cluster.applied(e.id)
        if again:
            self._gated(lambda: None)  # our users, announced to the node that started
        self._read_pos = last
        if entries:
            self.schedule_flush()
        self._turn_ready()

    def _on_dead(self, origins: list[str]) -> None:
        """Nodes that stopped heartbeating (this node saw it first): their users quit, here and,
        through the stream, on every node."""
        for origin in origins:
            log.warning("node %s stopped heartbeating: its users quit", origin)
            record = {"t": "~gone", "o": origin}
            apply_entry(self.hub, self._presence, origin, [record])
            self._records.append(record)
        self.schedule_flush()

    async def _settled(self, timeout: float) -> None:
        """Until what waits for the turn has been handed to the store (several nodes)."""
        if self._cluster is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._work or self.messenger.has_events or self._turn == "asking") and (
            loop.time() < deadline and self.hub.unavailable is None
        ):
            await asyncio.sleep(0.005)

    def _post_from_thread(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop (called from a store's thread)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn)

    def _urgent(self, s: Session, lines: list[str]) -> None:
        """Lines that show no state go out now, even while earlier output is held."""
        link = self.conns.get(s)
        if link is None or not self.outbox.pending:
            for line in lines:
                s.send(line)
            return
        link.send("".join(line + "\r\n" for line in lines).encode("utf-8", "replace"))

    def _store_status(self, up: bool, why: str) -> None:
        """The shared store stopped (or started again) answering: refuse writes meanwhile."""
        self.hub.unavailable = None if up else UNAVAILABLE
        if up:
            self._gated(self._run_due)
            self.schedule_flush()

    def _storage_failed(self) -> None:
        log.exception("could not write the journal; shutting down to lose nothing")
        self.outbox.drop()  # nobody is sent anything that shows the lost events
        if self._loop is not None and not self.closing:
            self._stopping = self._loop.create_task(self.stop("Storage failure"))

    async def _released(self, timeout: float) -> None:
        """Until all held output is released (its events durable), for at most ``timeout``
        seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (head := self.outbox.oldest) is not None:
            if not head.done:
                settled: asyncio.Future[None] = loop.create_future()

                def wake(_d: Pending[None], f: asyncio.Future[None] = settled) -> None:
                    if not f.done():
                        f.set_result(None)

                head.then(wake)
                try:
                    await asyncio.wait_for(settled, max(0.0, deadline - loop.time()))
                except TimeoutError:
                    log.warning("stopping with output whose events are not durable: not sent")
                    return
            self._flush()

    # ------------------------------------------------------------------ off-loop work

    def _offload(self, work: Callable[[], Any]) -> Pending[Any]:
        """Run ``work`` in the hashing pool; the returned ``Pending`` is settled on the loop
        with its result (or its error), then what that queued is flushed."""
        assert self._loop is not None
        pending: Pending[Any] = Pending()
        fut = self._loop.run_in_executor(self._pool, work)

        def finished(f: asyncio.Future[Any]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                log.error("off-loop work failed: %r", exc)
                pending.fail(exc)
            else:
                self._gated(functools.partial(pending.resolve, f.result()))
            self.schedule_flush()

        fut.add_done_callback(finished)
        return pending

    def _wake_at(self, when: float) -> None:
        """The hub has lines waiting for their command budget: pump them at ``when``."""
        if self._loop is None or self.closing:
            return
        if self._wake is not None:
            if self._wake_when <= when:
                return
            self._wake.cancel()
        self._wake_when = when
        self._wake = self._loop.call_later(max(0.005, when - self.clock.now()), self._on_wake)

    def _on_wake(self) -> None:
        self._wake = None
        self._gated(functools.partial(pump_waiting, self.hub))
        self.schedule_flush()

    # ------------------------------------------------------------------ timers

    def _run_due(self) -> None:
        if self.hub.unavailable is not None:
            return  # fired once the store answers again
        nxt = self.messenger.next_due()
        if nxt is not None and nxt <= self.clock.now():
            fire_due(self.hub)
            self.schedule_flush()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval())
            self._gated(self._tick)
            self.schedule_flush()

    def _tick(self) -> None:
        try:
            tick(self.hub)
            self._run_due()
            self._trim_memory()
        except Exception:
            log.exception("error in the periodic tick")

    def _trim_memory(self) -> None:
        """After a burst of output (a big channel's join storm, a fan-out), hand the freed
        buffers back to the OS: glibc keeps freed heap memory otherwise, and the process
        stays at its peak size."""
        if self._written_since_trim < _TRIM_AFTER_BYTES or _malloc_trim is None:
            return
        self._written_since_trim = 0
        with contextlib.suppress(Exception):
            _malloc_trim(0)

    def _tick_interval(self) -> float:
        nxt = self.messenger.next_due()
        if nxt is None:
            return 1.0
        return max(0.01, min(1.0, nxt - self.clock.now()))

    async def _snapshotter(self) -> None:
        while True:
            await asyncio.sleep(self.config.storage.snapshot_interval)
            if self._events_since_snapshot:
                await self._snapshot()

    async def _snapshot(self) -> None:
        """Compact the journal into a snapshot: taken on the loop, written in a thread."""
        if self.messenger.has_events:
            self._flush()  # journaled (and their output released) the way every pass is
        seg = self.store if isinstance(self.store, FileStore) else None
        if seg is not None:
            # the posts go to append-only segments once; the loop takes only the small
            # state and the list of new posts (ircd/messenger/snapshot.py)
            dump = self.messenger.to_segmented(seg.segment_rows)
            write = seg.begin_segmented_snapshot(dump.state, dump.chunks, dump.rewrite, dump.purge)
        else:
            state: dict[str, Any] = self.messenger.to_dict()
            write = self.store.begin_snapshot(state)
        self._events_since_snapshot = 0
        fut = asyncio.ensure_future(asyncio.to_thread(write))
        self._snapshot_task = fut
        try:
            await fut
        except Exception:
            log.exception("snapshot failed; the journal still has everything")
        else:
            if seg is not None:
                dump.commit()
        finally:
            self._snapshot_task = None


_FREEZE_AFTER_POSTS = 10_000  # a loaded state this big is frozen out of the collector's scans
UNAVAILABLE = "service temporarily unavailable, try again"
_MIN_HOLD = 0.002  # seconds a node keeps the turn at least, when another node waits for it
_MAX_HOLD = 0.008  # seconds a busy node keeps it at most, when another node waits for it
_CHUNK = 0.002  # seconds of waiting work decided per pass (each pass is appended on its own)


def node_name(config: Config) -> str:
    """This node's name: ``[server] node_name``, else the host name and the port."""
    return config.server.node_name or f"{socket.gethostname()}:{config.server.port}"


def open_store(config: Config) -> Store:
    """The store ``[storage] backend`` names."""
    st = config.storage
    if st.backend == "redis":
        return RedisStore(st.redis_url, node_name(config), st.redis_key)
    return FileStore(st.state_file, fsync=st.fsync)  # type: ignore[arg-type]


# the collector's first generation is collected after this many new container objects
# (CPython's default is 700): a private message makes about ten (the post, its event, their
# journal dicts, the relayed line's tags), so with the default a collection ran every ~70
# messages and promoted the stored posts through the older generations, ~17 % of a private
# message's CPU in bench/inproc.py. The state holds no cycles of its own to wait for.
GC_THRESHOLD = (10_000, 10, 10)


def tune_gc() -> None:
    """For a server process, once the state is loaded: the loaded state (posts, users,
    rooms: live until changed, often for the life of the process) moves to the collector's
    permanent generation, so full collections no longer walk it, and the first generation is
    collected less often (``GC_THRESHOLD``). Reference cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def serve(config: Config) -> int:
    try:
        server = Server(config)
    except StorageError as e:
        log.error("cannot start: %s", e)
        return 2
    tune_gc()
    try:
        await server.start()
    except OSError as e:
        log.error("cannot listen: %s", e)
        server.store.close()
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received; shutting down")
    await server.stop()
    return 0


def run(config: Config) -> int:
    """Run the server until SIGINT/SIGTERM; returns the process exit code."""
    try:
        import uvloop

        return int(uvloop.run(serve(config)))
    except ImportError:
        return asyncio.run(serve(config))
