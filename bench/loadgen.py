"""Our own IRC load generator: asyncio (uvloop when installed), raw sockets, minimal parsing.

One process holds up to ~20k client sockets. Every loop is bounded in count and in time, only
127.0.0.1 (loopback) is ever targeted, and every scenario stops by itself.

Scenarios (each returns a JSON-ready dict; ``gen_cpu_pct`` is this process's own CPU over the
measured window: a generator near 100 % means the figure is a lower bound):

* ``connect``: C clients register and are joined to #general (the generator sends JOIN itself
  after 001, which our server ignores since it auto-joins): clients/s, time until all joined,
  lost clients, and the server's RSS per joined connection (VmRSS before/after).
* ``fanout``: R receivers in #general, 4 senders, 100-byte lines, closed loop (a bounded number
  of messages in flight): deliveries/s and loss.
* ``latency``: a fixed offered rate into 100 members: p50/p99/max of receive time minus the
  send time embedded in the text.
* ``private``: P pairs exchanging private messages, closed loop: messages/s.
* ``history``: a returning account with N unread messages: time to full replay.

Run one scenario: ``python bench/loadgen.py fanout --port 6667 --receivers 1000``; the result
is printed as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import mmap
import os
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchlib import CoreLoad, CpuWindow, affinity, proc_cpu_s

HOST = "127.0.0.1"  # loopback only, always
CHANNEL = "#general"
_ids = itertools.count(1)
# messages in flight (closed loop): enough that a server always has work queued, not so many
# that a server's per-client output limit is hit (ngIRCd: 32 KiB per client, hard-coded)
FANOUT_WINDOW = 256  # per channel: each receiver has up to this many lines outstanding
PRIVATE_WINDOW = 32  # per sender
RX_DELAY_US = 500  # the C reader's pause after each round of reads (rxcount -d)
_STAMP = re.compile(rb" :L(\d+) ")
_REFUSALS = (b"432", b"433", b"436", b"464", b"465", b"471", b"473", b"474", b"475")
# lines the generator acts on (anything else is only counted)
_INTERESTING = re.compile(
    rb"^(?:PING |ERROR|:[^ \r\n]+ (?:PONG|001|366|43[2368]|46[45]|47[1345]) )[^\r\n]*", re.M
)


def pong_token(line: bytes) -> bytes:
    """The token of a PONG line: its last parameter, trailing (``:tok``) or not (Ergo sends
    ``:server PONG server tok`` without the colon)."""
    line = line.rstrip(b"\r\n")
    if b" :" in line:
        return line.split(b" :", 1)[1].strip()
    return line.rsplit(b" ", 1)[-1].strip()


def raise_fd_limit(want: int = 20000) -> int:
    """Raise the soft fd limit towards the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def vm_rss_kib(pid: int | None) -> int | None:
    """VmRSS of a process in KiB, from /proc/<pid>/status (None when unknown)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_split() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


class CpuMeter:
    """Wall time, this process's CPU time and (with ``server_pid``) the server's CPU time over
    a window: ``cpu(res)`` adds ``gen_cpu_pct`` (this process, user + system; 100 = one core),
    ``gen_sys_pct`` (its kernel part: socket reads and writes) and ``server_cpu_pct``."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server = CpuWindow(server_pid)
        self.server_cores = CoreLoad(affinity(server_pid))
        self.gen_cores = CoreLoad(affinity(os.getpid()))
        self.t0 = self.server.t0
        self.u0, self.s0 = cpu_split()

    def pct(self, t_end: float | None = None) -> float:
        wall = (t_end or time.perf_counter()) - self.t0
        u, s = cpu_split()
        return round(100.0 * (u + s - self.u0 - self.s0) / wall, 1) if wall > 0 else 0.0

    def cpu(
        self, res: dict[str, Any], t_end: float | None = None, helper_cpu_s: float = 0.0
    ) -> dict[str, Any]:
        """Add the CPU figures of the window ending at ``t_end`` (now) to ``res``;
        ``helper_cpu_s``: CPU time of the generator's helper processes over the window (they
        run on the generator's core and count as the generator)."""
        wall = (t_end or time.perf_counter()) - self.t0
        u, s = cpu_split()
        gen = 100.0 * (u + s - self.u0 - self.s0 + helper_cpu_s) / wall if wall > 0 else 0.0
        if wall > 0:
            res["gen_cpu_pct"] = round(gen, 1)
            res["gen_sys_pct"] = round(100.0 * (s - self.s0) / wall, 1)
        srv = self.server.pct(t_end)
        if srv is not None:
            res["server_cpu_pct"] = srv
        # what other processes took from each side's cores over the window (a busy machine):
        # a fair run has both near 0
        busy = self.server_cores.busy_pct() if self.server_cores.cpus else None
        if busy is not None and srv is not None and self.server_cores.cpus != self.gen_cores.cpus:
            res["server_core_others_pct"] = round(max(0.0, busy - srv), 1)
        busy = self.gen_cores.busy_pct()
        if busy is not None and self.server_cores.cpus != self.gen_cores.cpus:
            res["gen_core_others_pct"] = round(max(0.0, busy - gen), 1)
        return res


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


class Gen:
    """Shared state of one run: counters that clients bump and waiters that await them."""

    def __init__(
        self,
        host: str,
        port: int,
        join: bool = True,
        server_pid: int | None = None,
        ports: list[int] | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the load generator only targets loopback")
        self.host = host
        self.port = port
        # several nodes of one network (bench/scale.py): each client goes to one of them,
        # chosen by its nick (stable, and spread evenly)
        self.ports = ports or [port]
        self.server_pid = server_pid  # for the server's CPU % over each measured window
        self.join = join  # send JOIN #general after 001 (harmless on an auto-joining server)
        self.delivered = 0  # lines counted by clients with counts=True
        self.threshold = 1 << 62
        self.progress = asyncio.Event()
        self.last_delivery = 0.0

    def bump(self, n: int) -> None:
        self.delivered += n
        self.last_delivery = time.perf_counter()
        if self.delivered >= self.threshold:
            self.threshold = 1 << 62
            self.progress.set()

    def set_delivered(self, total: int, at: float) -> None:
        """A counter outside this process (the C reader) reports ``total`` at ``at``."""
        if total == self.delivered:
            return
        self.delivered = total
        self.last_delivery = at
        if total >= self.threshold:
            self.threshold = 1 << 62
            self.progress.set()

    async def wait_delivered(self, at_least: int, timeout: float) -> bool:
        if self.delivered >= at_least:
            return True
        self.threshold = at_least
        self.progress.clear()
        try:
            await asyncio.wait_for(self.progress.wait(), timeout)
        except asyncio.TimeoutError:
            return self.delivered >= at_least
        return True


class Client(asyncio.Protocol):
    """One raw IRC client. Until it has joined (or while it waits for a PONG or counts a
    pattern) it splits lines; after that it only counts newlines, which is cheap."""

    def __init__(
        self,
        gen: Gen,
        nick: str,
        password: str | None = None,
        counts: bool = False,
        probe: bool = False,
        pattern: bytes | None = None,
    ) -> None:
        self.gen = gen
        self.nick = nick
        self.password = password
        self.counts = counts  # add received lines to gen.delivered once joined
        self.probe = probe  # parse embedded send stamps for latency
        self.latencies: list[float] = []  # seconds, receive - embedded send time (probes)
        self.pattern = pattern  # count lines containing this (scan mode stays on)
        self.pattern_hits = 0
        self.pattern_done: asyncio.Future[None] | None = None
        self.pattern_want = 0
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.scan = True
        self.lines = 0  # lines received since the last reset (newline count)
        self.registered = False
        self.joined_at = 0.0
        self.error: str | None = None
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future[float] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.pong_waits: dict[bytes, asyncio.Future[None]] = {}

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        reg = f"NICK {self.nick}\r\nUSER {self.nick} 0 * :{self.nick}\r\n"
        if self.password is not None:
            reg = f"PASS {self.password}\r\n" + reg
        self.transport.write(reg.encode())  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        n = data.count(b"\n")
        self.lines += n
        if not self.scan:
            if self.counts:
                self.gen.bump(n)
            if self.probe:
                self._stamps(data)
            if b"PING" in data:
                self._lines(data)
            return
        if self.counts and self.joined.done():
            self.gen.bump(n)
        self._lines(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.joined.done():
            self.error = self.error or f"closed before joining ({exc})"
            self.joined.set_exception(ConnectionError(self.error))
        if not self.closed.done():
            self.closed.set_result(None)
        for f in self.pong_waits.values():
            if not f.done():
                f.set_exception(ConnectionError("closed"))
        if self.pattern_done is not None and not self.pattern_done.done():
            self.pattern_done.set_exception(ConnectionError("closed"))

    # -- parsing (slow path)
    def _lines(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        cut = buf.rfind(b"\n") + 1
        self.buf = buf[cut:] if len(buf) - cut <= 65536 else b""
        if not cut:
            return
        # only the few lines that matter are looked at, found by one C-level regex scan
        for m in _INTERESTING.finditer(buf, 0, cut):
            self._line(m.group(0))
        if self.pattern is not None:
            self.pattern_hits += buf.count(self.pattern, 0, cut)
            done = self.pattern_done
            if done is not None and self.pattern_hits >= self.pattern_want and not done.done():
                done.set_result(None)
        if self.probe:
            now = time.perf_counter_ns()
            lat = self.latencies
            for m in _STAMP.finditer(buf, 0, cut):
                lat.append((now - int(m.group(1))) / 1e9)
        if self.joined.done() and not self.pong_waits and self.pattern is None:
            self.scan = False
            self.buf = b""

    def _line(self, line: bytes) -> None:
        if line.startswith(b"PING "):
            self.write(b"PONG " + line[5:].rstrip(b"\r") + b"\r\n")
            return
        if line.startswith(b"ERROR"):
            self.error = line.decode("utf-8", "replace").strip()
            return
        parts = line.split(b" ", 3)
        if len(parts) < 2:
            return
        cmd = parts[1]
        if cmd == b"PONG" and self.pong_waits:
            token = pong_token(line)
            f = self.pong_waits.pop(token, None)
            if f is not None and not f.done():
                f.set_result(None)
        elif cmd == b"001" and not self.registered:
            self.registered = True
            if self.gen.join:
                self.write(f"JOIN {CHANNEL}\r\n".encode())
        elif cmd == b"366" and not self.joined.done():
            self.joined_at = time.perf_counter()
            self.joined.set_result(self.joined_at)
        elif cmd in _REFUSALS and not self.joined.done():
            self.error = line.decode("utf-8", "replace").strip()
            self.joined.set_exception(ConnectionError(self.error))
            self.close()

    def _stamps(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        cut = buf.rfind(b"\n") + 1
        self.buf = buf[cut:]
        now = time.perf_counter_ns()
        lat = self.latencies
        for m in _STAMP.finditer(buf, 0, cut):
            lat.append((now - int(m.group(1))) / 1e9)

    # -- actions
    def write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def sync(self, timeout: float) -> None:
        """PING the server and wait for the PONG: all earlier output has then arrived."""
        token = f"s{next(_ids)}".encode()
        f: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pong_waits[token] = f
        self.scan = True
        self.write(b"PING :" + token + b"\r\n")
        await asyncio.wait_for(f, timeout)

    def expect_pattern(self, pattern: bytes, count: int) -> asyncio.Future[None]:
        self.pattern = pattern
        self.pattern_hits = 0
        self.pattern_want = count
        self.pattern_done = asyncio.get_running_loop().create_future()
        self.scan = True
        return self.pattern_done


async def open_client(gen: Gen, nick: str, **kw: Any) -> Client:
    loop = asyncio.get_running_loop()
    port = gen.ports[zlib.crc32(nick.encode()) % len(gen.ports)]
    _, proto = await loop.create_connection(lambda: Client(gen, nick, **kw), gen.host, port)
    return proto


async def connect_many(
    gen: Gen,
    nicks: list[str],
    concurrency: int,
    timeout: float,
    **kw: Any,
) -> tuple[list[Client], list[str]]:
    """Connect and join many clients, at most ``concurrency`` registering at once.
    Returns (joined clients, errors); bounded by ``timeout`` overall."""
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(concurrency)
    clients: list[Client] = []
    errors: list[str] = []
    host, ports = gen.host, gen.ports

    async def one(nick: str) -> None:
        # no per-client wait_for/shield: one watchdog below bounds them all (cheaper, so the
        # generator issues a burst of connections quickly)
        c: Client | None = None
        try:
            async with sem:
                port = ports[zlib.crc32(nick.encode()) % len(ports)]
                _, c = await loop.create_connection(lambda: Client(gen, nick, **kw), host, port)
                clients.append(c)
                await c.joined
        except asyncio.CancelledError:
            errors.append(f"{nick}: timed out ({'not connected' if c is None else 'not joined'})")
        except (OSError, ConnectionError) as e:
            errors.append(f"{nick}: {(c.error if c is not None else None) or repr(e)}")

    tasks = [loop.create_task(one(n)) for n in nicks]

    def expire() -> None:
        for t in tasks:
            if not t.done():
                t.cancel()

    watchdog = loop.call_later(timeout, expire)
    await asyncio.gather(*tasks)
    watchdog.cancel()
    joined = [c for c in clients if c.joined.done() and not c.joined.cancelled()]
    joined = [c for c in joined if c.joined.exception() is None]
    # a client that did not join in time is closed, not left open: it would still hold a
    # slot of the server (and register late) during whatever runs next
    kept = set(map(id, joined))
    for c in clients:
        if id(c) not in kept:
            c.abort()
    return joined, errors


async def sync_all(clients: list[Client], timeout: float, concurrency: int = 2000) -> int:
    """PING/PONG every client; returns how many did not answer in time."""
    sem = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(c: Client) -> None:
        nonlocal failed
        async with sem:
            try:
                await c.sync(timeout)
            except (asyncio.TimeoutError, ConnectionError):
                failed += 1

    await asyncio.gather(*(one(c) for c in clients))
    return failed


def close_all(clients: list[Client]) -> None:
    for c in clients:
        c.abort()


def nick_for(prefix: str, i: int) -> str:
    return f"{prefix}{i}"


def message_line(target: str, size: int, tag: str = "") -> bytes:
    """A PRIVMSG line of exactly ``size`` bytes including CRLF."""
    head = f"PRIVMSG {target} :{tag}"
    pad = max(1, size - len(head) - 2)
    return (head + ("x" * pad) + "\r\n").encode()


# ---------------------------------------------------------------------- the C reader

RXCOUNT_SRC = Path(__file__).resolve().with_name("rxcount.c")
_HDR = 8  # uint64 header words in the shared counters (see rxcount.c)


def build_rxcount(src: Path = RXCOUNT_SRC) -> str | None:
    """Compile rxcount.c once (cached in the temp dir under its source hash); None when no C
    compiler is there (the fan-out then counts in Python and says so)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not src.exists():
        return None
    code = src.read_bytes()
    exe = Path(tempfile.gettempdir()) / f"ircbench-rxcount-{hashlib.sha1(code).hexdigest()[:12]}"
    if exe.exists():
        return str(exe)
    tmp = exe.with_name(f"{exe.name}.{os.getpid()}")
    try:
        r = subprocess.run(
            [cc, "-O2", "-o", str(tmp), str(src)], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        print(f"rxcount.c did not compile: {r.stderr.decode()[-300:]}", file=sys.stderr)
        return None
    os.replace(tmp, exe)
    return str(exe)


class CReader:
    """Hands the sockets of joined clients to an ``rxcount`` process (on the generator's core:
    it inherits the affinity) that counts their lines; this process stops reading them."""

    def __init__(self, exe: str, clients: list[Client], delay_us: int = 0) -> None:
        self.clients = clients
        fds = []
        for c in clients:
            t = c.transport
            assert t is not None
            t.pause_reading()
            fds.append(os.dup(t.get_extra_info("socket").fileno()))
        self.size = 8 * (_HDR + len(clients))
        fd, self.path = tempfile.mkstemp(prefix="ircbench-rx-")
        os.ftruncate(fd, self.size)
        self.mm = mmap.mmap(fd, self.size)
        os.close(fd)
        try:
            self.proc = subprocess.Popen(
                [exe, "-d", str(delay_us), self.path, *map(str, fds)],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
            )
        finally:
            for d in fds:
                os.close(d)  # the reader has its own copies
        deadline = time.monotonic() + 10
        while struct.unpack_from("<Q", self.mm, 32)[0] != 1:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("rxcount did not start")
            time.sleep(0.005)
        self.cpu0 = proc_cpu_s(self.proc.pid, children=False) or 0.0

    def total(self) -> tuple[int, float]:
        """(lines received in all, perf_counter time of the last read with data)."""
        lines = struct.unpack_from("<Q", self.mm, 0)[0]
        ns = struct.unpack_from("<Q", self.mm, 8)[0]
        return lines, ns / 1e9  # CLOCK_MONOTONIC, the clock of time.perf_counter on Linux

    def per_client(self) -> list[int]:
        return list(struct.unpack_from(f"<{len(self.clients)}Q", self.mm, 8 * _HDR))

    def cpu_s(self) -> float:
        return (proc_cpu_s(self.proc.pid, children=False) or self.cpu0) - self.cpu0

    async def feed(self, gen: Gen, period: float = 0.0002) -> None:
        """Copy the shared total into ``gen`` until cancelled."""
        while True:
            gen.set_delivered(*self.total())
            await asyncio.sleep(period)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            struct.pack_into("<Q", self.mm, 24, 1)
        if self.proc.poll() is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(ValueError, BufferError):
            self.mm.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


# ---------------------------------------------------------------------- scenarios


async def server_idle(
    pid: int | None, timeout: float = 10.0, step: float = 0.1, busy_pct: float = 5.0
) -> float:
    """Wait until the server ``pid`` uses less than ``busy_pct`` of a core over ``step`` s
    (it has finished what it was doing, e.g. closing a burst's connections), at most
    ``timeout`` s; returns the seconds waited. Without a pid it waits 0.5 s."""
    t0 = time.perf_counter()
    if not pid:
        await asyncio.sleep(0.5)
        return round(time.perf_counter() - t0, 3)
    c0 = proc_cpu_s(pid)
    while time.perf_counter() - t0 < timeout:
        await asyncio.sleep(step)
        c1 = proc_cpu_s(pid)
        if c0 is None or c1 is None or 100.0 * (c1 - c0) / step < busy_pct:
            break
        c0 = c1
    return round(time.perf_counter() - t0, 3)


def summarize_bursts(bursts: list[dict[str, Any]], key: str = "clients_per_s") -> dict[str, Any]:
    """One result from several bursts of one run: the burst with the median ``key`` (the
    lower middle one for an even count) gives the figures, and the spread of ``key`` over all
    bursts is added: ``<key>_bursts`` (each, in order), ``<key>_min``/``_max`` and
    ``<key>_spread_pct`` ((max - min) / median, %); ``bursts`` the count, ``lost_total`` the
    clients lost in all of them, and ``*_others_max_pct`` the most other processes took from
    either core in any burst (how disturbed the run was)."""
    if not bursts:
        return {"bursts": 0}
    order = sorted(range(len(bursts)), key=lambda i: bursts[i].get(key, 0.0))
    mid = order[(len(order) - 1) // 2]
    res = dict(bursts[mid])
    vals = [float(b.get(key, 0.0)) for b in bursts]
    med = float(bursts[mid].get(key, 0.0))
    res["bursts"] = len(bursts)
    res["median_burst"] = mid
    res[f"{key}_bursts"] = vals
    res[f"{key}_min"] = min(vals)
    res[f"{key}_max"] = max(vals)
    res[f"{key}_spread_pct"] = round(100.0 * (max(vals) - min(vals)) / med, 1) if med else None
    cost = [b["server_us_per_client"] for b in bursts if "server_us_per_client" in b]
    if cost:
        res["server_us_per_client_bursts"] = cost
        res["server_us_per_client_median"] = statistics.median(cost)
    res["lost_total"] = sum(int(b.get("lost", 0)) for b in bursts)
    for side in ("server", "gen"):
        k = f"{side}_core_others_pct"
        seen = [b[k] for b in bursts if isinstance(b.get(k), (int, float))]
        if seen:
            res[f"{side}_core_others_max_pct"] = max(seen)
    return res


async def _connect_burst(
    gen: Gen,
    clients: int,
    concurrency: int,
    timeout: float,
    server_pid: int | None,
    prefix: str,
    settle: float,
    rss: bool,
) -> tuple[dict[str, Any], list[Client]]:
    rss0 = vm_rss_kib(server_pid) if rss else None
    meter = CpuMeter(server_pid)
    nicks = [nick_for(prefix, i) for i in range(clients)]
    joined, errors = await connect_many(gen, nicks, concurrency, timeout)
    t_all = max((c.joined_at for c in joined), default=meter.t0) - meter.t0
    cpu = meter.cpu({}, meter.t0 + t_all if t_all > 0 else None)
    # steady state: everything queued to each client has arrived, and a second has passed
    unsynced = await sync_all(joined, timeout=min(60.0, timeout))
    if rss:
        await asyncio.sleep(settle)
    rss1 = vm_rss_kib(server_pid) if rss else None
    n = len(joined)
    res: dict[str, Any] = {
        "clients": clients,
        "joined": n,
        "lost": clients - n,
        "all_joined_s": round(t_all, 3),
        "clients_per_s": round(n / t_all, 1) if t_all > 0 else 0.0,
        **cpu,
        "unsynced": unsynced,
        "errors_sample": errors[:5],
    }
    # CPU per joined client: what a registration costs each side, which a busy machine
    # stretches far less than the wall time (other work delays the server, it does not make
    # its work bigger)
    for side in ("server", "gen"):
        pct = cpu.get(f"{side}_cpu_pct")
        if isinstance(pct, (int, float)) and n and t_all > 0:
            res[f"{side}_us_per_client"] = round(1e4 * pct * t_all / n, 1)
    if rss0 is not None and rss1 is not None and n:
        res["rss_before_kib"] = rss0
        res["rss_after_kib"] = rss1
        res["rss_per_conn_kib"] = round((rss1 - rss0) / n, 2)
    return res, joined


async def scenario_connect(
    gen: Gen,
    clients: int,
    concurrency: int = 500,
    timeout: float = 60.0,
    server_pid: int | None = None,
    prefix: str = "c",
    settle: float = 1.0,
    bursts: int = 1,
    stop_on_loss: bool = True,
) -> dict[str, Any]:
    """``bursts`` times: ``clients`` fresh clients connect at once (at most ``concurrency``
    registering), register and join; then they are closed and the server is left to finish
    closing them (until its CPU is idle) before the next burst. With one burst the result is
    that burst's; with several, the median burst's figures and the spread over the bursts
    (:func:`summarize_bursts`). The RSS per connection is the first burst's (the server's
    RSS does not return to its start once a burst has come and gone). With ``stop_on_loss``
    a burst that lost clients (they did not join within ``timeout``) is the last one: each
    such burst lasts the whole timeout, and the run is then about losses, not spread."""
    server_pid = server_pid or gen.server_pid
    done: list[dict[str, Any]] = []
    idle_s: list[float] = []
    for b in range(max(1, bursts)):
        res, joined = await _connect_burst(
            gen, clients, concurrency, timeout, server_pid,
            prefix if bursts <= 1 else f"{prefix}{b}x", settle, rss=b == 0,
        )  # fmt: skip
        done.append(res)
        close_all(joined)
        if res["lost"] and stop_on_loss:
            break  # the server cannot take this burst: its spread is not the question
        if b + 1 < bursts:
            idle_s.append(await server_idle(server_pid))
    if bursts <= 1:
        return done[0]
    out = summarize_bursts(done)
    out["bursts_planned"] = bursts
    out["stopped_on_loss"] = len(done) < bursts
    for k in ("rss_before_kib", "rss_after_kib", "rss_per_conn_kib"):
        if k in done[0]:
            out[k] = done[0][k]
        else:
            out.pop(k, None)
    out["first_burst_clients_per_s"] = done[0]["clients_per_s"]
    out["idle_wait_s"] = idle_s
    return out


async def scenario_fanout(
    gen: Gen,
    receivers: int,
    senders: int = 4,
    messages: int = 10000,
    line_bytes: int = 100,
    window: int = FANOUT_WINDOW,
    batch: int = 16,
    timeout: float = 60.0,
    concurrency: int = 20,
    reader: str = "c",
    reader_delay_us: int = RX_DELAY_US,
) -> dict[str, Any]:
    # setup at a gentle pace (registrations in flight): servers with a tiny listen backlog
    # (miniircd) drop connections under a connect storm, and the setup is not what is measured
    rx, err1 = await connect_many(
        gen, [nick_for("r", i) for i in range(receivers)], concurrency, timeout, counts=True
    )
    tx, err2 = await connect_many(gen, [nick_for("s", i) for i in range(senders)], senders, 30)
    if len(rx) < receivers or len(tx) < senders:
        close_all(rx + tx)
        return {"error": f"setup failed: {(err1 + err2)[:3]}", "receivers": len(rx)}
    await sync_all(rx + tx, timeout=30)
    for c in rx:
        c.lines = 0
    gen.delivered = 0
    # the receiving side: a C process counting lines (the default), or these Python clients
    creader: CReader | None = None
    feeder: asyncio.Task[None] | None = None
    exe = build_rxcount() if reader == "c" else None
    if exe is not None:
        creader = CReader(exe, rx, reader_delay_us)
        feeder = asyncio.get_running_loop().create_task(creader.feed(gen))
    line = message_line(CHANNEL, line_bytes, "F")
    r = len(rx)
    meter = CpuMeter(gen.server_pid)
    deadline = meter.t0 + timeout
    sent = 0
    k = 0
    while sent < messages and time.perf_counter() < deadline:
        in_flight = sent - gen.delivered // r
        room = window - in_flight
        if room <= 0:
            await gen.wait_delivered(
                (sent - window // 2) * r, max(0.01, deadline - time.perf_counter())
            )
            continue
        while room > 0 and sent < messages:
            n = min(batch, room, messages - sent)
            tx[k % len(tx)].write(line * n)
            k += 1
            sent += n
            room -= n
        await asyncio.sleep(0)
    await gen.wait_delivered(sent * r, max(0.5, min(30.0, deadline - time.perf_counter() + 5)))
    t_end = gen.last_delivery if gen.delivered else time.perf_counter()
    wall = t_end - meter.t0
    helper = 0.0
    if creader is not None and feeder is not None:
        feeder.cancel()
        gen.set_delivered(*creader.total())
        helper = creader.cpu_s()
        got = [c.lines + n for c, n in zip(rx, creader.per_client(), strict=True)]
        creader.stop()
    else:
        got = [c.lines for c in rx]
    lost = sum(max(0, sent - g) for g in got)
    res: dict[str, Any] = {
        "receivers": r,
        "senders": len(tx),
        "messages": sent,
        "window": window,
        "reader": "c" if creader is not None else "python",
        "reader_delay_us": reader_delay_us if creader is not None else None,
        "deliveries": gen.delivered,
        "lost": lost,
        "seconds": round(wall, 3),
        "deliveries_per_s": round(gen.delivered / wall) if wall > 0 else 0,
    }
    meter.cpu(res, t_end, helper_cpu_s=helper)
    if res["deliveries"]:
        cpu_s = res["gen_cpu_pct"] / 100.0 * wall
        res["gen_us_per_delivery"] = round(1e6 * cpu_s / res["deliveries"], 4)
        srv = res.get("server_cpu_pct")
        if isinstance(srv, (int, float)):
            res["server_us_per_delivery"] = round(1e4 * srv * wall / res["deliveries"], 4)
    close_all(rx + tx)
    return res


# where the latency probes sit in the channel's join order: "spread" (default since issue 12's
# fair-anchors pass) samples every (members / probes)-th member, so the figure describes the
# delivery to the whole channel; "first" (the old placement) samples the first members to
# join, which favours a server that writes a channel message to its members in join order
# (their copies are written in the first part of its pass); "all" samples every member
PROBE_PLACEMENTS = ("spread", "first", "all")


def probe_positions(members: int, probes: int, placement: str = "spread") -> list[int]:
    """The join positions (0 = the first member to join) of the latency probes: ``probes``
    of ``members`` placed by ``placement`` (see PROBE_PLACEMENTS); sorted, distinct."""
    if placement not in PROBE_PLACEMENTS:
        raise ValueError(f"unknown probe placement {placement!r}")
    if placement == "all" or probes >= members:
        return list(range(members))
    if probes <= 0:
        return []
    if placement == "first":
        return list(range(probes))
    # the middle of each of `probes` equal stretches of the join order
    return [int((i + 0.5) * members / probes) for i in range(probes)]


async def scenario_latency(
    gen: Gen,
    rate: float,
    members: int = 100,
    seconds: float = 5.0,
    probes: int = 20,
    line_bytes: int = 100,
    timeout: float = 60.0,
    placement: str = "spread",
) -> dict[str, Any]:
    nicks = [nick_for("m", i) for i in range(members)]
    rx: list[Client] = []
    errs: list[str] = []
    for i in range(0, members, 20):  # 20 at a time: the groups join one after the other
        part, e = await connect_many(gen, nicks[i : i + 20], 20, timeout, counts=True)
        rx += part
        errs += e
    sender, e2 = await connect_many(gen, ["lsend"], 1, 30)
    if len(rx) < members or not sender:
        close_all(rx + sender)
        return {"error": f"setup failed: {(errs + e2)[:3]}"}
    await sync_all(rx + sender, timeout=30)
    # the join order as seen from here: the order the members' 366 (end of NAMES) arrived in
    rx.sort(key=lambda c: c.joined_at)
    positions = probe_positions(len(rx), probes, placement)
    probe_set = set(positions)
    for i, c in enumerate(rx):
        c.lines = 0
        c.probe = i in probe_set
        c.latencies = []
        c.buf = b""
    gen.delivered = 0
    snd = sender[0]
    total = max(1, int(rate * seconds))
    pad = "y" * max(1, line_bytes - len(f"PRIVMSG {CHANNEL} :L{time.perf_counter_ns()} ") - 2)
    meter = CpuMeter(gen.server_pid)
    t0 = meter.t0
    sent = 0
    while sent < total and time.perf_counter() - t0 < seconds * 3 + 5:
        due = min(total, int((time.perf_counter() - t0) * rate) + 1)
        while sent < due:
            snd.write(f"PRIVMSG {CHANNEL} :L{time.perf_counter_ns()} {pad}\r\n".encode())
            sent += 1
        await asyncio.sleep(min(0.001, 1.0 / rate))
    send_wall = time.perf_counter() - t0
    await gen.wait_delivered(sent * len(rx), 10.0)
    probe_lat = [sorted(rx[i].latencies) for i in positions]
    lat = sorted(x for one in probe_lat for x in one)
    lost = sum(max(0, sent - c.lines) for c in rx)
    res = {
        "rate": rate,
        "offered_per_s": round(sent / send_wall, 1) if send_wall > 0 else 0,
        "members": len(rx),
        "messages": sent,
        "probe_placement": placement,
        "probes": len(positions),
        "probe_positions": positions,
        "samples": len(lat),
        "lost": lost,
        "p50_ms": round(percentile(lat, 50) * 1000, 3),
        "p99_ms": round(percentile(lat, 99) * 1000, 3),
        "max_ms": round(lat[-1] * 1000, 3) if lat else float("nan"),
        # each probe's own median, in join order: how the delivery spreads over the pass
        "probe_p50_ms": [round(percentile(x, 50) * 1000, 3) for x in probe_lat],
    }
    meter.cpu(res)
    close_all(rx + sender)
    return res


async def scenario_private(
    gen: Gen,
    pairs: int = 100,
    messages: int = 100000,
    line_bytes: int = 100,
    window: int = PRIVATE_WINDOW,
    timeout: float = 60.0,
) -> dict[str, Any]:
    a_n = [nick_for("pa", i) for i in range(pairs)]
    b_n = [nick_for("pb", i) for i in range(pairs)]
    cl, errs = await connect_many(gen, a_n + b_n, 20, timeout, counts=True)
    if len(cl) < 2 * pairs:
        close_all(cl)
        return {"error": f"setup failed: {errs[:3]}"}
    by_nick = {c.nick: c for c in cl}
    await sync_all(cl, timeout=30)
    for c in cl:
        c.lines = 0
    gen.delivered = 0
    # each client talks to its partner: pa_i -> pb_i and pb_i -> pa_i
    senders = []
    for i in range(pairs):
        a, b = by_nick[a_n[i]], by_nick[b_n[i]]
        senders.append((a, message_line(b.nick, line_bytes, "P")))
        senders.append((b, message_line(a.nick, line_bytes, "P")))
    n_s = len(senders)
    per = max(1, messages // n_s)
    total = per * n_s
    meter = CpuMeter(gen.server_pid)
    deadline = meter.t0 + timeout
    sent = 0
    in_flight_cap = window * n_s
    rnd = 0
    while sent < total and time.perf_counter() < deadline:
        if sent - gen.delivered >= in_flight_cap:
            await gen.wait_delivered(sent - in_flight_cap // 2, deadline - time.perf_counter())
            continue
        n = min(window // 2 or 1, per - rnd)
        if n <= 0:
            break
        for c, line in senders:
            c.write(line * n)
        sent += n * n_s
        rnd += n
        await asyncio.sleep(0)
    await gen.wait_delivered(sent, max(0.5, min(30.0, deadline - time.perf_counter() + 5)))
    t_end = gen.last_delivery if gen.delivered else time.perf_counter()
    wall = t_end - meter.t0
    res = {
        "pairs": pairs,
        "messages": sent,
        "delivered": gen.delivered,
        "lost": max(0, sent - gen.delivered),
        "seconds": round(wall, 3),
        "messages_per_s": round(gen.delivered / wall) if wall > 0 else 0,
    }
    meter.cpu(res, t_end)
    close_all(cl)
    return res


async def scenario_history(
    gen: Gen,
    unread: int = 1000,
    line_bytes: int = 100,
    timeout: float = 60.0,
    password: str = "benchpw-1",
) -> dict[str, Any]:
    """Needs a server with accounts (PASS) and unread replay on reconnect."""
    nick = f"hist{next(_ids)}"
    acct, errs = await connect_many(gen, [nick], 1, 30, password=password)
    if not acct:
        return {"error": f"account login failed: {errs[:1]}"}
    a = acct[0]
    await a.sync(10)  # our delivery-ack PING was answered before this PONG
    a.close()
    await asyncio.wait_for(a.closed, 10)
    poster, e2 = await connect_many(gen, [f"hpost{next(_ids)}"], 1, 30)
    if not poster:
        return {"error": f"poster failed: {e2[:1]}"}
    p = poster[0]
    await p.sync(10)  # the account's disconnect was processed
    line = message_line(CHANNEL, line_bytes, "H")
    for i in range(0, unread, 100):
        p.write(line * min(100, unread - i))
        await p.sync(30)
    meter = CpuMeter(gen.server_pid)
    c = await asyncio.wait_for(open_client(gen, nick, password=password), 10)
    done = c.expect_pattern(b"PRIVMSG " + CHANNEL.encode() + b" :", unread)
    try:
        await asyncio.wait_for(asyncio.shield(done), timeout)
        ok = True
    except (asyncio.TimeoutError, ConnectionError):
        ok = False
    t = time.perf_counter() - meter.t0
    res = {
        "unread": unread,
        "replayed": c.pattern_hits,
        "replay_s": round(t, 4) if ok else None,
        "replay_ms": round(t * 1000, 1) if ok else None,
        "joined_ms": round((c.joined_at - meter.t0) * 1000, 1) if c.joined_at else None,
    }
    meter.cpu(res)
    close_all([c, p])
    return res


SCENARIOS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "connect": scenario_connect,
    "fanout": scenario_fanout,
    "latency": scenario_latency,
    "private": scenario_private,
    "history": scenario_history,
}


async def run_scenario(
    name: str,
    host: str,
    port: int,
    join: bool = True,
    server_pid: int | None = None,
    ports: list[int] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    gen = Gen(host, port, join=join, server_pid=server_pid, ports=ports)
    res = await SCENARIOS[name](gen, **kw)
    res["scenario"] = name
    await asyncio.sleep(0)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--host", default=HOST)
    ap.add_argument(
        "--ports", default="", help="comma-separated ports of several nodes (clients spread)"
    )
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--no-join", action="store_true", help="don't send JOIN after 001")
    ap.add_argument("--server-pid", type=int, default=None)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=1000, help="registrations in flight")
    ap.add_argument(
        "--bursts",
        type=int,
        default=1,
        help="connect: bursts of --clients fresh clients, one after the other (each closed "
        "before the next); the median burst and the spread are reported",
    )
    ap.add_argument("--receivers", type=int, default=1000)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--messages", type=int, default=None)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--probes", type=int, default=20, help="latency: members that measure")
    ap.add_argument(
        "--probe-placement",
        choices=PROBE_PLACEMENTS,
        default="spread",
        help="latency: which members measure, by join order: spread (every members/probes-th, "
        "default), first (the first to join: the placement before issue 12's fair pass), all",
    )
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--unread", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument(
        "--window",
        type=int,
        default=None,
        help=f"messages in flight: fanout, per channel (default {FANOUT_WINDOW}); private, "
        f"per sender (default {PRIVATE_WINDOW})",
    )
    ap.add_argument(
        "--reader",
        choices=("c", "python"),
        default="c",
        help="fan-out receiving side: rxcount.c in a helper process (default; Python when no "
        "C compiler) or the Python clients",
    )
    ap.add_argument(
        "--reader-delay-us",
        type=int,
        default=RX_DELAY_US,
        help=f"the C reader's pause after each round of reads (default {RX_DELAY_US})",
    )
    a = ap.parse_args(argv)
    raise_fd_limit()
    kw: dict[str, Any] = {"timeout": a.timeout}
    if a.scenario == "connect":
        kw.update(clients=a.clients, concurrency=a.concurrency, bursts=a.bursts)
    elif a.scenario == "fanout":
        kw.update(receivers=a.receivers, senders=a.senders, reader=a.reader)
        kw["reader_delay_us"] = a.reader_delay_us
        if a.window:
            kw["window"] = a.window
        if a.messages:
            kw["messages"] = a.messages
    elif a.scenario == "latency":
        kw.update(rate=a.rate, members=a.members, seconds=a.seconds, probes=a.probes)
        kw["placement"] = a.probe_placement
    elif a.scenario == "private":
        kw.update(pairs=a.pairs)
        if a.window:
            kw["window"] = a.window
        if a.messages:
            kw["messages"] = a.messages
    elif a.scenario == "history":
        kw.update(unread=a.unread)
    ports = [int(p) for p in a.ports.split(",") if p] or None
    coro = run_scenario(
        a.scenario,
        a.host,
        a.port,
        join=not a.no_join,
        server_pid=a.server_pid,
        ports=ports,
        **kw,
    )
    try:
        import uvloop

        res = uvloop.run(coro)
    except ImportError:
        res = asyncio.run(coro)
    res["loop"] = "uvloop" if "uvloop" in sys.modules else "asyncio"
    res["pid"] = os.getpid()
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
