"""The only asyncio I/O: listening sockets, connections, per-pass output flushing, timers,
persistence scheduling and shutdown.

One line's life: ``data_received`` -> ``LineFramer.feed`` -> ``Server.received`` -> ``feed``
(sync: handlers call the messenger and queue output on sessions) -> at the end of the event-loop
pass ``_flush`` hands the pass's events to the store and the pass's output to the outbox
(``ircd/irc/output.py``), which gives each connection (its ``Link``) its bytes in one piece once
the store says the events are durable. A transport implements ``Link`` (``ircd/irc/link.py``)
and calls ``attach``, ``received`` and ``detached``; TCP and TLS are ``Connection``, WebSocket
is ``ircd/web``'s ``WebConnection`` (on the web listener, which also serves the web messenger).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import ssl
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Any, cast

from .clock import Clock, SystemClock
from .config import Config
from .config import rules_from as rules_from  # the schema derives the engine's rules
from .durable import Durable, Pending
from .irc import Hub, Session, feed, fire_due, pump_waiting, tick
from .irc.link import Link
from .irc.output import Outbox
from .messenger import Messenger, Rules
from .messenger.validate import StateError
from .storage import FileStore, LoadedState, StorageError, Store
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
    path = os.path.abspath(state_file)
    if loaded.snapshot is None:
        m = Messenger(clock, rules)
    else:
        try:
            m = Messenger.from_dict(loaded.snapshot, clock, rules)
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
        self.store: Store = store or FileStore(
            config.storage.state_file,
            fsync=config.storage.fsync,  # type: ignore[arg-type]
        )
        self._rules = rules_from(config)
        # The state is built inside load(): if it cannot be, nothing on disk is touched, and
        # the store will never write over the files that failed to load.
        self.store.load(self._accept)
        log.info(
            "state loaded: %d accounts, %d channels, %d messages, %d scheduled",
            sum(1 for u in self.messenger.users.values() if u.is_account),
            len(self.messenger.rooms),
            self.messenger.seq,
            len(self.messenger.scheduled),
        )
        self.messenger.drop_unreachable()  # what only the last run's guests could read
        self.store.append(self.messenger.take_events())
        self.hub = Hub(config, self.messenger, self.clock)
        self.hub.offload = self._offload
        self.hub.wake_at = self._wake_at
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
        m = restore(loaded, self.clock, self._rules, self.config.storage.state_file)
        if loaded.snapshot is None and not any(e.get("t") == "sid" for e in loaded.events):
            m.pin_server_id()
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
        self._tasks.append(loop.create_task(self._ticker()))
        self._tasks.append(loop.create_task(self._snapshotter()))
        # scheduled messages that fell due while we were down go out now, in order
        self._run_due()

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
        self._flush()
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
        hub = self.hub
        for item in lines:
            feed(hub, s, item)
            if s.closing is not None:
                break
        self.schedule_flush()

    def detached(self, s: Session, reason: str) -> None:
        """The transport's connection is gone (``reason``, unless it was being closed)."""
        self.conns.pop(s, None)
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
        while True:
            durable = Durable.completed()
            if m.has_events:
                events = m.take_events()
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
                return

    def _on_durable(self, _durable: Pending[None]) -> None:
        """A store completed an append later: release what waited for it."""
        if self._loop is not None and not self._loop.is_closed():
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
                pending.resolve(f.result())
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
        pump_waiting(self.hub)
        self.schedule_flush()

    # ------------------------------------------------------------------ timers

    def _run_due(self) -> None:
        nxt = self.messenger.next_due()
        if nxt is not None and nxt <= self.clock.now():
            fire_due(self.hub)
            self.schedule_flush()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval())
            try:
                tick(self.hub)
                self._run_due()
                self._trim_memory()
            except Exception:
                log.exception("error in the periodic tick")
            self.schedule_flush()

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
        state: dict[str, Any] = self.messenger.to_dict()
        write = self.store.begin_snapshot(state)
        self._events_since_snapshot = 0
        fut = asyncio.ensure_future(asyncio.to_thread(write))
        self._snapshot_task = fut
        try:
            await fut
        except Exception:
            log.exception("snapshot failed; the journal still has everything")
        finally:
            self._snapshot_task = None


async def serve(config: Config) -> int:
    try:
        server = Server(config)
    except StorageError as e:
        log.error("cannot start: %s", e)
        return 2
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
