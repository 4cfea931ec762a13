"""Password-hashing storms against our server, measured by a bystander's PING round trips.

    python bench/auth_storm.py                       # every scenario, label = git commit
    python bench/auth_storm.py --label before --port 9601

Issue 9, section 3: scrypt (logins, PASS, SASL, REGISTER, OPER) must run off the event loop, so
that everyone else is still served while passwords are hashed. Target: another client's PING
round trip stays under 20 ms p99 while 40 accounts register at once, and while one client sends
60 wrong OPER lines in one write.

How it measures:

- The server under test is this checkout (``python -m ircd`` with ``PYTHONPATH`` set to it),
  started fresh from a generated temp config: the shipped ``messenger.toml`` with one
  ``[[operators]]`` entry (hash from ``python -m ircd --hash-password``) and the limits that
  would refuse the load (connections per address, login throttles...) raised. The config is
  printed and stored in the JSON. Keys that look like limits and were left as shipped are
  listed, so a new throttle cannot silently change what is measured; ``--set KEY=VALUE``
  overrides any key.
- The bystander is a separate process (``--bystander``, its own event loop). It registers as a
  guest, then sends ``PING :b<n>`` at a fixed rate (every 5 ms, whether or not the previous
  PONG came back: a stalled server is charged for every ping it holds up, not just one) and
  records send time and round trip with the system-wide monotonic clock.
- This process is the load generator. Each scenario records its window (monotonic clock);
  the bystander's pings sent inside the window are that scenario's figures (p50, p99, max, and
  pings never answered). The server's CPU time (its process and child processes) over the
  window is reported too.
- With ``taskset`` and at least 2 CPUs the server is pinned to CPU 0 (``--server-cpu``), the
  generator and the bystander to CPU 1 (``--gen-cpu``), as bench/run.py does.

Scenarios (in this order, one server for all):

- ``idle``: 1 s with no load (reference).
- ``register40``: 40 new connections at once, each ``PASS`` + ``NICK u<i>`` + ``USER``; every
  one auto-registers an account (one scrypt hash each). Ends when all got 001 or an error.
- ``login40``: those 40 quit; then the same 40 log in again at once (one scrypt check each).
- ``login_rate`` (issue 12, target 5): sustained logins for 5 s (``--login-seconds``), 8 at a
  time (``--login-concurrency``), each to one of those 40 accounts: connect with PASS, wait
  for 001, drop the connection, next. Reports logins per second of the server on its one
  core (the hashing in its worker thread) while the bystander's p99 is judged as above.
- ``oper60``: a registered guest sends 60 ``OPER admin wrong<i>`` lines in one write, then
  ``PING``; ends at that PONG (all replies are in by then), a disconnect, or the timeout.
  Replies are counted by command (464, 491, ...).
- ``guest40``: control, no hashing: 40 guests connect at once (setup of the next scenario).
- ``register_cmd40``: those 40 guests (``CAP REQ :draft/account-registration``) each send
  ``REGISTER * * <password>`` at once; ends when all got ``REGISTER SUCCESS`` or ``FAIL``.

Results: a table on stdout, PASS/FAIL per hashing scenario against the target, and
``bench/results/auth_storm-<label>.json``. The exit code is 0 whatever the verdicts (non-zero
only if the benchmark itself could not run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from benchlib import (
    BENCH,
    ROOT,
    RunningServer,
    _git,
    env_for,
    export_commit,
    free_port,
    log_says,
    pin,
    proc_cpu_s,
)

RESULTS = BENCH / "results"
HOST = "127.0.0.1"  # loopback only, always
TARGET_P99_MS = 20.0
OPER_NAME = "admin"
OPER_PASSWORD = "bench-oper-secret"
HASHING = ("register40", "login40", "login_rate", "oper60", "register_cmd40")  # vs the target
ORDER = ("idle", "register40", "login40", "login_rate", "oper60", "guest40", "register_cmd40")

# Limits raised so that the other protections do not refuse the load (what is measured is the
# event loop, not a throttle). Applied only to keys the server under test knows.
OVERRIDES: dict[str, Any] = {
    "server.max_clients_per_ip": 100_000,
    "server.registration_timeout": 300.0,
    "server.ping_timeout": 600.0,
    # the command-rate limit (fakelag) would slow the bystander's 200 PINGs/s
    "server.command_burst": 1_000_000,
    "server.commands_per_second": 1_000_000.0,
    "server.max_queued_commands": 1_000_000,
    # login/OPER guess throttles: the 60 wrong OPERs are all checked (the worst case)
    "accounts.login_failures_per_minute": 1_000_000,
    "accounts.account_failures_per_minute": 1_000_000,
    # account creation per address: 40 accounts from 127.0.0.1, twice (PASS and REGISTER)
    "accounts.max_new_per_address": 1_000_000,
}
# A key named like one of these that keeps its shipped value is reported (it may be a new
# throttle that refuses or delays the load).
LIMIT_WORDS = re.compile(r"per_|burst|rate|throttle|failure|flood|lag|penalt|backoff|max_")


# ---------------------------------------------------------------------- pure helpers


class Msg(NamedTuple):
    prefix: str
    command: str
    params: tuple[str, ...]


def parse_line(line: str) -> Msg | None:
    """One IRC line (tags, prefix, command, params with a trailing one); None if empty."""
    line = line.rstrip("\r\n")
    if line.startswith("@"):
        line = line.partition(" ")[2]
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    line = line.lstrip(" ")
    if not line:
        return None
    head, sep, trailing = line.partition(" :")
    words = head.split()
    if not words:
        return None
    params = words[1:] + ([trailing] if sep else [])
    return Msg(prefix, words[0].upper(), tuple(params))


def pong_token(msg: Msg) -> str | None:
    """The token a PONG echoes (its last parameter), else None."""
    if msg.command != "PONG" or not msg.params:
        return None
    return msg.params[-1]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values: the smallest value with at least p % of the
    values at or below it (p99 of 400 samples is the 396th). NaN when empty."""
    if not sorted_values:
        return math.nan
    k = math.ceil(p / 100.0 * len(sorted_values)) - 1
    return sorted_values[min(len(sorted_values) - 1, max(0, k))]


def summarize(samples: Iterable[tuple[int, int | None]], t0_ns: int, t1_ns: int) -> dict[str, Any]:
    """Round trips of the pings sent in [t0_ns, t1_ns]: samples are (send_ns, rtt_ns or None
    for a ping never answered)."""
    rtts: list[float] = []
    lost = 0
    for sent, rtt in samples:
        if t0_ns <= sent <= t1_ns:
            if rtt is None:
                lost += 1
            else:
                rtts.append(rtt / 1e6)
    rtts.sort()

    def r(v: float) -> float | None:
        return None if math.isnan(v) else round(v, 3)

    return {
        "pings": len(rtts) + lost,
        "answered": len(rtts),
        "lost": lost,
        "p50_ms": r(percentile(rtts, 50)),
        "p99_ms": r(percentile(rtts, 99)),
        "max_ms": r(rtts[-1]) if rtts else None,
    }


def verdict(summary: Mapping[str, Any], target_ms: float = TARGET_P99_MS) -> str:
    """PASS if every ping in the window was answered and p99 < target."""
    p99 = summary.get("p99_ms")
    if not summary.get("answered") or summary.get("lost") or p99 is None:
        return "FAIL"
    return "PASS" if p99 < target_ms else "FAIL"


def parse_bystander_output(text: str) -> dict[str, Any]:
    """The bystander's report: the last JSON line it printed, with its samples as tuples."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            doc: dict[str, Any] = json.loads(line)
            doc["samples"] = [(int(s), None if r is None else int(r)) for s, r in doc["samples"]]
            return doc
    raise ValueError("no report from the bystander")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ValueError(f"cannot write {type(v).__name__} to TOML")


def toml_dumps(doc: Mapping[str, Any]) -> str:
    """TOML for a config document: tables of scalars/arrays, and arrays of tables."""
    out: list[str] = []
    for section, body in doc.items():
        if isinstance(body, dict):
            out.append(f"[{section}]")
            out += [f"{k} = {_toml_value(v)}" for k, v in body.items()]
            out.append("")
        elif isinstance(body, list) and all(isinstance(x, dict) for x in body):
            for entry in body:
                out.append(f"[[{section}]]")
                out += [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
                out.append("")
        else:
            raise ValueError(f"{section}: not a table")
    return "\n".join(out)


@dataclasses.dataclass
class BenchConfig:
    doc: dict[str, Any]
    applied: dict[str, Any]
    skipped: dict[str, Any]  # overrides for keys the server does not know
    unraised: dict[str, Any]  # limit-looking keys left at the shipped value


def bench_config(
    shipped: Mapping[str, Any],
    known: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Any],
    operators: list[dict[str, str]],
) -> BenchConfig:
    """The shipped config with ``overrides`` ("section.key" -> value) applied where the server
    knows the key (``known``: section -> key -> default), and ``operators`` set."""
    doc: dict[str, Any] = {s: dict(b) for s, b in shipped.items() if isinstance(b, dict)}
    applied: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if key in known.get(section, {}):
            doc.setdefault(section, {})[key] = value
            applied[dotted] = value
        else:
            skipped[dotted] = value
    unraised: dict[str, Any] = {}
    for section, keys in known.items():
        for key, default in keys.items():
            dotted = f"{section}.{key}"
            if dotted not in applied and LIMIT_WORDS.search(key):
                unraised[dotted] = doc.get(section, {}).get(key, default)
    doc["operators"] = operators
    return BenchConfig(doc, applied, skipped, unraised)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``--set section.key=value`` values: TOML literals (``10``, ``2.5``, ``true``,
    ``"text"``), anything else is taken as a string."""
    out: dict[str, Any] = {}
    for item in items:
        dotted, eq, raw = item.partition("=")
        if not eq or "." not in dotted:
            raise SystemExit(f"--set {item!r}: expected section.key=value")
        try:
            out[dotted.strip()] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[dotted.strip()] = raw.strip()
    return out


# ---------------------------------------------------------------------- the bystander


def _loop_runner() -> tuple[Callable[[Any], Any], str]:
    try:
        import uvloop

        return uvloop.run, "uvloop"
    except ImportError:
        return asyncio.run, "asyncio"


async def bystander(port: int, interval_ms: float, nick: str, grace_s: float) -> dict[str, Any]:
    """Register as a guest, print READY, then PING at a fixed rate until stdin says STOP (or
    closes); then wait up to ``grace_s`` for the missing PONGs and return every sample."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
    writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :bystander\r\nPING :ready\r\n".encode())
    sent: dict[str, int] = {}
    rtt: dict[str, int] = {}
    ready = loop.create_future()
    closed = loop.create_future()
    server_pings = 0
    refusal: list[str] = []

    async def read() -> None:
        nonlocal server_pings
        try:
            while True:
                raw = await reader.readline()
                now = time.monotonic_ns()
                if not raw:
                    break
                m = parse_line(raw.decode("utf-8", "replace"))
                if m is None:
                    continue
                tok = pong_token(m)
                if tok is not None:
                    if tok == "ready" and not ready.done():
                        ready.set_result(None)
                    elif tok in sent and tok not in rtt:
                        rtt[tok] = now - sent[tok]
                elif m.command == "PING":
                    server_pings += 1
                    writer.write(f"PONG :{m.params[-1] if m.params else ''}\r\n".encode())
                elif m.command in ("ERROR", "432", "433", "436", "465") and not ready.done():
                    refusal.append(raw.decode("utf-8", "replace").strip())
        except (OSError, ValueError):
            pass
        finally:
            if not closed.done():
                closed.set_result(time.monotonic_ns())
            if not ready.done():
                ready.set_exception(ConnectionError(f"closed before registering: {refusal}"))

    reader_task = loop.create_task(read())
    await asyncio.wait_for(ready, 30)
    stop = asyncio.Event()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async def watch_stdin() -> None:
        while True:
            line = await stdin.readline()
            if not line or line.strip() == b"STOP":
                stop.set()
                return

    stdin_task = loop.create_task(watch_stdin())
    print("READY", flush=True)
    interval = int(interval_ms * 1e6)
    seq = 0
    next_t = time.monotonic_ns()
    while not stop.is_set() and not closed.done():
        now = time.monotonic_ns()
        if now >= next_t:
            seq += 1
            tok = f"b{seq}"
            sent[tok] = now
            writer.write(f"PING :{tok}\r\n".encode())
            next_t += interval
            if now - next_t > interval:  # this process fell behind: no catch-up burst
                next_t = now + interval
        await asyncio.sleep(max(0.0, (next_t - time.monotonic_ns()) / 1e9))
    deadline = time.monotonic() + grace_s
    while len(rtt) < len(sent) and not closed.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    disconnected = closed.done()
    stdin_task.cancel()
    reader_task.cancel()
    writer.close()
    return {
        "samples": [(s, rtt.get(t)) for t, s in sent.items()],
        "interval_ms": interval_ms,
        "disconnected": disconnected,
        "server_pings": server_pings,
        "pid": os.getpid(),
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def bystander_main(a: argparse.Namespace) -> int:
    run, name = _loop_runner()
    res = run(bystander(a.port, a.interval_ms, a.nick, a.grace))
    res["loop"] = name
    print(json.dumps(res), flush=True)
    return 0


# ---------------------------------------------------------------------- the generator


class Conn:
    """One raw client of the generator: every received line with its arrival time."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.writer: asyncio.StreamWriter | None = None
        self.lines: list[tuple[int, Msg]] = []
        self.closed_ns: int | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self, port: int, first: str) -> None:
        reader, self.writer = await asyncio.open_connection(HOST, port)
        self.send(first)
        self._task = asyncio.get_running_loop().create_task(self._read(reader))

    def send(self, text: str) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(text.encode())

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                raw = await reader.readline()
                now = time.monotonic_ns()
                if not raw:
                    break
                m = parse_line(raw.decode("utf-8", "replace"))
                if m is None:
                    continue
                if m.command == "PING":
                    self.send(f"PONG :{m.params[-1] if m.params else ''}\r\n")
                self.lines.append((now, m))
                self._changed.set()
        except (OSError, ValueError):
            pass
        finally:
            self.closed_ns = time.monotonic_ns()
            self._changed.set()

    async def wait_for(
        self, pred: Callable[[Msg], bool], timeout: float, start: int = 0
    ) -> tuple[int, Msg] | None:
        """The first line from index ``start`` on that matches; None on close or timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        i = start
        while True:
            while i < len(self.lines):
                if pred(self.lines[i][1]):
                    return self.lines[i]
                i += 1
            remaining = deadline - loop.time()
            if self.closed_ns is not None or remaining <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def sync(self, token: str, timeout: float) -> int | None:
        """PING and wait for its PONG (all earlier output has then arrived): its time."""
        start = len(self.lines)
        self.send(f"PING :{token}\r\n")
        got = await self.wait_for(lambda m: pong_token(m) == token, timeout, start)
        return got[0] if got else None

    async def quit(self, timeout: float) -> None:
        self.send("QUIT :bench\r\n")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.closed_ns is None and loop.time() < deadline:
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
        self.abort()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()


REG_OK = frozenset({"001"})
REG_ERR = frozenset({"ERROR", "FAIL", "432", "433", "436", "464", "465", "904"})


def _line_text(m: Msg) -> str:
    return " ".join((m.command, *m.params))[:200]


async def _outcome(
    c: Conn, ok: Callable[[Msg], bool], err: Callable[[Msg], bool], timeout: float, start: int = 0
) -> tuple[str, int, str]:
    """("ok" | "error" | "closed" | "timeout", time, text) of a client's first ok/error line."""
    got = await c.wait_for(lambda m: ok(m) or err(m), timeout, start)
    if got is None:
        if c.closed_ns is not None:
            return "closed", c.closed_ns, "closed without a reply"
        return "timeout", time.monotonic_ns(), "no reply"
    t, m = got
    return ("ok" if ok(m) else "error"), t, _line_text(m)


def _storm_result(t0: int, outcomes: list[tuple[str, int, str]]) -> dict[str, Any]:
    t_end = max((t for _, t, _ in outcomes), default=t0)
    waits = sorted((t - t0) / 1e6 for _, t, _ in outcomes)
    counts = Counter(k for k, _, _ in outcomes)
    errors = [f"{k}: {text}" for k, _, text in outcomes if k != "ok"]
    return {
        "t0_ns": t0,
        "t1_ns": t_end,
        "duration_s": round((t_end - t0) / 1e9, 3),
        "clients": len(outcomes),
        "ok": counts.get("ok", 0),
        "errors": len(outcomes) - counts.get("ok", 0),
        "errors_sample": errors[:5],
        "client_wait_p50_ms": round(percentile(waits, 50), 1) if waits else None,
        "client_wait_max_ms": round(waits[-1], 1) if waits else None,
    }


async def _connect_all(
    port: int, nicks: list[str], first: Callable[[int, str], str]
) -> tuple[list[Conn], list[str]]:
    conns = [Conn(n) for n in nicks]
    res = await asyncio.gather(
        *(asyncio.wait_for(c.open(port, first(i, c.nick)), 30) for i, c in enumerate(conns)),
        return_exceptions=True,
    )
    errors = [
        f"{c.nick}: connect failed: {r!r}" for c, r in zip(conns, res, strict=True) if r is not None
    ]
    return conns, errors


def _pw(i: int) -> str:
    return f"bench-pw-{i}"


async def scenario_accounts(
    port: int, n: int, timeout: float, conns_out: list[Conn]
) -> dict[str, Any]:
    """n clients at once with PASS + NICK + USER: an account created or checked each."""
    nicks = [f"u{i}" for i in range(n)]
    t0 = time.monotonic_ns()
    conns, cerr = await _connect_all(
        port, nicks, lambda i, nick: f"PASS {_pw(i)}\r\nNICK {nick}\r\nUSER {nick} 0 * :bench\r\n"
    )
    outcomes = await asyncio.gather(
        *(
            _outcome(c, lambda m: m.command in REG_OK, lambda m: m.command in REG_ERR, timeout)
            for c in conns
            if c.writer is not None
        )
    )
    res = _storm_result(t0, list(outcomes))
    res["errors"] += len(cerr)
    res["errors_sample"] = (cerr + res["errors_sample"])[:5]
    conns_out += conns
    return res


async def scenario_login_rate(
    port: int, accounts: int, seconds: float, concurrency: int, timeout: float
) -> dict[str, Any]:
    """Sustained logins for ``seconds``: ``concurrency`` clients at a time, each logging in
    to one of the ``accounts`` existing accounts (u<i>, PASS), waiting for its 001 (or an
    error), dropping the connection and starting the next login at once. Logins per second
    of the server on its one core, with the bystander's round trip measured meanwhile."""
    t0 = time.monotonic_ns()
    end = time.monotonic() + seconds
    ok = 0
    waits: list[float] = []
    errors: list[str] = []
    nxt = 0

    async def worker() -> None:
        nonlocal ok, nxt
        while time.monotonic() < end:
            i = nxt % accounts
            nxt += 1
            c = Conn(f"u{i}")
            t = time.monotonic_ns()
            try:
                await asyncio.wait_for(
                    c.open(port, f"PASS {_pw(i)}\r\nNICK u{i}\r\nUSER u{i} 0 * :bench\r\n"),
                    timeout,
                )
            except (OSError, asyncio.TimeoutError) as e:
                errors.append(f"u{i}: connect failed: {e!r}")
                continue
            kind, t_done, text = await _outcome(
                c, lambda m: m.command in REG_OK, lambda m: m.command in REG_ERR, timeout
            )
            c.abort()
            if kind == "ok":
                ok += 1
                waits.append((t_done - t) / 1e6)
            else:
                errors.append(f"u{i}: {kind}: {text}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    t1 = time.monotonic_ns()
    waits.sort()
    dur = (t1 - t0) / 1e9
    return {
        "t0_ns": t0,
        "t1_ns": t1,
        "duration_s": round(dur, 3),
        "clients": ok + len(errors),
        "ok": ok,
        "errors": len(errors),
        "errors_sample": errors[:5],
        "concurrency": concurrency,
        "logins_per_s": round(ok / dur, 1) if dur > 0 else 0.0,
        "client_wait_p50_ms": round(percentile(waits, 50), 1) if waits else None,
        "client_wait_max_ms": round(waits[-1], 1) if waits else None,
    }


async def scenario_oper(port: int, lines: int, timeout: float) -> dict[str, Any]:
    """One registered guest sends ``lines`` wrong OPER lines in one write, then a PING."""
    c = Conn("operbench")
    await asyncio.wait_for(c.open(port, "NICK operbench\r\nUSER operbench 0 * :bench\r\n"), 10)
    reg = await _outcome(c, lambda m: m.command in REG_OK, lambda m: m.command in REG_ERR, 30)
    if reg[0] != "ok" or await c.sync("oper-setup", 30) is None:
        c.abort()
        return {"error": f"setup failed: {reg}"}
    start = len(c.lines)
    t0 = time.monotonic_ns()
    c.send("".join(f"OPER {OPER_NAME} wrong{i}\r\n" for i in range(lines)))
    c.send("PING :oper-done\r\n")
    got = await c.wait_for(lambda m: pong_token(m) == "oper-done", timeout, start)
    if got is not None:
        t_end, ended = got[0], "all replies (PONG after the last OPER)"
    elif c.closed_ns is not None:
        t_end, ended = c.closed_ns, "disconnected"
    else:
        t_end, ended = time.monotonic_ns(), f"timeout after {timeout:.0f} s"
    replies = [(t, m) for t, m in c.lines[start:] if pong_token(m) != "oper-done"]
    replies = [(t, m) for t, m in replies if m.command != "PING"]
    by_cmd = Counter(m.command for _, m in replies)
    res: dict[str, Any] = {
        "t0_ns": t0,
        "t1_ns": t_end,
        "duration_s": round((t_end - t0) / 1e9, 3),
        "oper_lines": lines,
        "ended": ended,
        "replies": len(replies),
        "replies_by_command": dict(by_cmd.most_common()),
        "reply_samples": sorted({_line_text(m) for _, m in replies})[:5],
        "time_to_last_reply_s": round((replies[-1][0] - t0) / 1e9, 3) if replies else None,
        "disconnected": c.closed_ns is not None,
    }
    if len(replies) >= lines:
        res[f"time_to_reply_{lines}_s"] = round((replies[lines - 1][0] - t0) / 1e9, 3)
    c.abort()
    return res


async def scenario_guests(
    port: int, n: int, timeout: float, conns_out: list[Conn]
) -> dict[str, Any]:
    """Control: n guests at once (with the draft/account-registration cap), no hashing."""
    nicks = [f"g{i}" for i in range(n)]
    t0 = time.monotonic_ns()
    conns, cerr = await _connect_all(
        port,
        nicks,
        lambda i, nick: (
            "CAP LS 302\r\nCAP REQ :draft/account-registration\r\n"
            f"NICK {nick}\r\nUSER {nick} 0 * :bench\r\nCAP END\r\n"
        ),
    )
    outcomes = await asyncio.gather(
        *(
            _outcome(c, lambda m: m.command in REG_OK, lambda m: m.command in REG_ERR, timeout)
            for c in conns
            if c.writer is not None
        )
    )
    res = _storm_result(t0, list(outcomes))
    res["errors"] += len(cerr)
    res["errors_sample"] = (cerr + res["errors_sample"])[:5]
    conns_out += conns
    return res


async def scenario_register_cmd(guests: list[Conn], timeout: float) -> dict[str, Any]:
    """Every guest sends REGISTER * * <password> at once."""
    ready = [c for c in guests if c.closed_ns is None]
    syncs = await asyncio.gather(*(c.sync("reg-setup", 30) for c in ready))
    ready = [c for c, t in zip(ready, syncs, strict=True) if t is not None]
    if not ready:
        return {"error": "no guest ready for REGISTER"}
    starts = [len(c.lines) for c in ready]
    t0 = time.monotonic_ns()
    for i, c in enumerate(ready):
        c.send(f"REGISTER * * bench-reg-{i}\r\n")

    def ok(m: Msg) -> bool:
        return m.command == "REGISTER" and bool(m.params) and m.params[0] == "SUCCESS"

    def err(m: Msg) -> bool:
        # FAIL REGISTER, any other REGISTER reply, a refusal; 421 if the verb is unknown
        refused = m.command in REG_ERR or m.command == "421"
        return refused or (m.command == "REGISTER" and not ok(m))

    outcomes = await asyncio.gather(
        *(_outcome(c, ok, err, timeout, s) for c, s in zip(ready, starts, strict=True))
    )
    res = _storm_result(t0, list(outcomes))
    res["not_ready"] = len(guests) - len(ready)
    return res


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live child processes (a process pool)."""
    return proc_cpu_s(pid) or 0.0


async def run_scenarios(
    port: int, server_pid: int, a: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    want = set(a.scenarios.split(","))
    out: dict[str, dict[str, Any]] = {}

    async def measured(name: str, coro: Any) -> dict[str, Any]:
        c0 = _proc_cpu_s(server_pid)
        res: dict[str, Any] = await coro
        res["server_cpu_s"] = round(_proc_cpu_s(server_pid) - c0, 3)
        if res.get("duration_s"):
            res["server_cpu_pct"] = round(100 * res["server_cpu_s"] / res["duration_s"], 1)
        if name == "login_rate" and res.get("ok"):
            # what one login costs the server: logins/s on a whole core = 1000 / this
            res["server_cpu_ms_per_login"] = round(1000 * res["server_cpu_s"] / res["ok"], 1)
        out[name] = res
        brief = {k: v for k, v in res.items() if not k.endswith("_ns")}
        log(f"{name}: {json.dumps(brief)}")
        await asyncio.sleep(a.gap)  # quiet time between windows
        return res

    async def idle() -> dict[str, Any]:
        t0 = time.monotonic_ns()
        await asyncio.sleep(1.0)
        return {"t0_ns": t0, "t1_ns": time.monotonic_ns(), "duration_s": 1.0}

    if "idle" in want:
        await measured("idle", idle())
    accounts: list[Conn] = []
    if want & {"register40", "login40", "login_rate"}:  # login_rate logs in to these
        await measured("register40", scenario_accounts(port, a.clients, a.timeout, accounts))
    if "login40" in want:
        await asyncio.gather(*(c.quit(10) for c in accounts))
        await asyncio.sleep(a.gap)
        accounts2: list[Conn] = []
        await measured("login40", scenario_accounts(port, a.clients, a.timeout, accounts2))
        accounts = accounts2
    for c in accounts:
        c.abort()
    if "login_rate" in want:
        await measured(
            "login_rate",
            scenario_login_rate(port, a.clients, a.login_seconds, a.login_concurrency, a.timeout),
        )
    if "oper60" in want:
        await measured("oper60", scenario_oper(port, a.oper_lines, a.timeout))
    if want & {"guest40", "register_cmd40"}:
        guests: list[Conn] = []
        await measured("guest40", scenario_guests(port, a.clients, a.timeout, guests))
        if "register_cmd40" in want:
            await measured("register_cmd40", scenario_register_cmd(guests, a.timeout))
        for c in guests:
            c.abort()
    return out


# ---------------------------------------------------------------------- the server


def hash_operator_password(src: Path, password: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "ircd", "--hash-password"],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env_for(src),
        cwd=src,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise SystemExit(f"--hash-password failed: {out.stderr.strip()[-300:]}")
    return out.stdout.strip().splitlines()[-1]


def known_keys(src: Path) -> dict[str, dict[str, Any]]:
    """section -> key -> default, from the ircd.config of this checkout."""
    code = (
        "import dataclasses, json\n"
        "from ircd.config import default_config\n"
        "c = default_config()\n"
        "print(json.dumps({f.name: dataclasses.asdict(getattr(c, f.name))\n"
        "    for f in dataclasses.fields(c) if dataclasses.is_dataclass(getattr(c, f.name))}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_for(src),
        cwd=src,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"cannot read ircd.config: {out.stderr.strip()[-300:]}")
    keys: dict[str, dict[str, Any]] = json.loads(out.stdout)
    return keys


def start_server(
    src: Path, port: int, workdir: Path, config: Path, cpu: str | None
) -> RunningServer:
    """Our server of the tree ``src`` on ``port`` from ``config``, ready once it logs that it
    listens (the shared :class:`benchlib.RunningServer`)."""
    argv = [
        sys.executable,
        "-m",
        "ircd",
        "--port",
        str(port),
        "--state",
        str(workdir / "state.json"),
        "--config",
        str(config),
    ]
    return RunningServer(
        argv,
        port,
        workdir,
        cpu=cpu,
        env=env_for(src),
        name="server",
        ready=log_says(f"listening on {HOST}:{port}".encode()),
        settle=0,
    )


class Bystander:
    def __init__(self, port: int, interval_ms: float, cpu: str | None) -> None:
        self.proc = subprocess.Popen(
            [
                *pin(cpu),
                sys.executable,
                str(Path(__file__).resolve()),
                "--bystander",
                "--port",
                str(port),
                "--interval-ms",
                str(interval_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "READY":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"bystander not ready: {line!r} {err.strip()[-400:]}")

    def stop(self) -> dict[str, Any]:
        try:
            out, err = self.proc.communicate("STOP\n", timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
        try:
            return parse_bystander_output(out)
        except (ValueError, KeyError) as e:
            raise RuntimeError(f"bystander failed ({e}): {err.strip()[-400:]}") from None


# ---------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _ms(v: Any) -> str:
    return "n/a" if v is None else f"{v:,.1f}"


def _what(name: str, res: Mapping[str, Any]) -> str:
    if "error" in res:
        return f"error: {res['error']}"
    if name == "idle":
        return "no load"
    if name == "login_rate":
        return (
            f"**{res.get('logins_per_s', 0)} logins/s** ({res.get('ok', 0)} in "
            f"{res.get('duration_s', 0)} s, {res.get('concurrency', 0)} at a time"
            + (f", {res['errors']} errors" if res.get("errors") else "")
            + ")"
        )
    if name == "oper60":
        by = ", ".join(f"{k}×{v}" for k, v in res.get("replies_by_command", {}).items())
        return f"{res['replies']} replies ({by or 'none'}); {res['ended']}"
    return f"{res.get('ok', 0)}/{res.get('clients', 0)} ok" + (
        f", {res['errors']} errors" if res.get("errors") else ""
    )


def table(scenarios: Mapping[str, Mapping[str, Any]]) -> str:
    head = (
        "| scenario | storm s | outcome | bystander pings | p50 ms | p99 ms | max ms | lost "
        "| server CPU s | target p99 < 20 ms |"
    )
    out = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ORDER:
        res = scenarios.get(name)
        if res is None:
            continue
        b = res.get("bystander", {})
        out.append(
            f"| {name} | {res.get('duration_s', 'n/a')} | {_what(name, res)} | "
            f"{b.get('pings', 0)} | {_ms(b.get('p50_ms'))} | {_ms(b.get('p99_ms'))} | "
            f"{_ms(b.get('max_ms'))} | {b.get('lost', 0)} | {res.get('server_cpu_s', 'n/a')} | "
            f"{res.get('verdict', '—')} |"
        )
    return "\n".join(out)


def run_bench(
    a: argparse.Namespace, argv: list[str] | None, workdir: Path, t_start: float
) -> dict[str, Any]:
    def log(text: str) -> None:
        print(f"[{time.monotonic() - t_start:6.1f}s] {text}", flush=True)

    if a.commit:
        sha = export_commit(a.commit, workdir / "src")
        src, commit, dirty = workdir / "src", sha[:12], []
        tree = f"commit {commit} (git archive)"
    else:
        src, commit = ROOT, _git("rev-parse", "--short=12", "HEAD") or "unknown"
        dirty = _git("status", "--porcelain", "--", "ircd", "messenger.toml").splitlines()
        tree = f"working tree of {ROOT} at {commit}"
        if dirty:
            tree += f" with uncommitted changes in {len(dirty)} files"
    label = re.sub(r"[^A-Za-z0-9._-]", "_", a.label or (commit + ("-dirty" if dirty else "")))
    pin = not a.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    server_cpu, gen_cpu = (a.server_cpu, a.gen_cpu) if pin else (None, None)
    if pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(x) for x in a.gen_cpu.split(",")})

    shipped = tomllib.loads((src / "messenger.toml").read_text())
    if "web" in shipped:  # a tree with the web listener: not on a fixed port during a bench
        shipped["web"]["port"] = 0
    overrides = {**OVERRIDES, **parse_set(a.set)}
    cfg = bench_config(
        shipped,
        known_keys(src),
        overrides,
        [{"name": OPER_NAME, "password_hash": hash_operator_password(src, OPER_PASSWORD)}],
    )
    conf_path = workdir / "messenger.toml"
    conf_text = toml_dumps(cfg.doc)
    conf_path.write_text(conf_text)
    print("config used (the tree's messenger.toml + overrides):")
    print("  " + conf_text.strip().replace("\n", "\n  "))
    print(f"raised: {json.dumps(cfg.applied)}")
    if cfg.skipped:
        print(f"overrides the server does not know (skipped): {json.dumps(cfg.skipped)}")
    print(f"limit-like keys left as shipped: {json.dumps(cfg.unraised)}")
    port = a.port or free_port()
    where = (
        f"server on CPU {server_cpu}, generator and bystander on CPU {gen_cpu} (taskset)"
        if pin
        else "not pinned"
    )
    log(f"label {label}; server: {tree}; port {port}; {where}")
    server = start_server(src, port, workdir / "run", conf_path, server_cpu)
    try:
        bys = Bystander(port, a.interval_ms, gen_cpu)
        run, loop_name = _loop_runner()
        try:
            scenarios = run(run_scenarios(port, server.pid, a, log))
        finally:
            report = bys.stop()
        alive = server.proc.poll() is None
    finally:
        server.stop()
    server_log = server.text()
    samples = report.pop("samples")
    for name, res in scenarios.items():
        if "t0_ns" in res:
            res["bystander"] = summarize(samples, res["t0_ns"], res["t1_ns"])
            if name in HASHING:
                res["verdict"] = verdict(res["bystander"])
                if res["bystander"]["pings"] < 100:
                    res["note"] = "fewer than 100 pings in the window: p99 is close to the max"
    return {
        "label": label,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "tree": tree,
        "dirty_files": dirty,
        "command": "python bench/auth_storm.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "pinning": where,
        "target": f"bystander PING round trip p99 < {TARGET_P99_MS:g} ms",
        "bystander": {
            "mode": f"fixed rate: a PING every {a.interval_ms:g} ms, not waiting for the PONG",
            "total_pings": len(samples),
            "disconnected": report.get("disconnected"),
            "loop": report.get("loop"),
            "cpus": report.get("cpus"),
        },
        "generator_loop": loop_name,
        "server": {
            "argv": server.argv,
            "alive_at_end": alive,
            "tracebacks_in_log": server_log.count("Traceback"),
            "log_bytes": len(server_log.encode()),
            # kept when something went wrong
            "log_tail": server_log[-2000:] if not alive or "Traceback" in server_log else "",
        },
        "config": {
            "toml": conf_text,
            "raised": cfg.applied,
            "skipped": cfg.skipped,
            "limit_like_left_as_shipped": cfg.unraised,
        },
        "scenarios": scenarios,
        "elapsed_s": round(time.monotonic() - t_start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--label", default="", help="results name (default: the commit)")
    ap.add_argument(
        "--commit",
        default="",
        help="run the server of this commit (git archive into a temp dir), not the checkout",
    )
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--clients", type=int, default=40, help="accounts per storm (40)")
    ap.add_argument("--oper-lines", type=int, default=60, help="wrong OPER lines (60)")
    ap.add_argument("--login-seconds", type=float, default=5.0, help="length of login_rate (5 s)")
    ap.add_argument(
        "--login-concurrency", type=int, default=8, help="logins in flight in login_rate (8)"
    )
    ap.add_argument("--interval-ms", type=float, default=5.0, help="bystander PING period")
    ap.add_argument("--timeout", type=float, default=60.0, help="bound of each storm (s)")
    ap.add_argument("--gap", type=float, default=0.5, help="quiet seconds between scenarios")
    ap.add_argument("--scenarios", default=",".join(ORDER))
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--gen-cpu", default="1")
    ap.add_argument("--no-pin", action="store_true", help="don't pin to CPUs")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    ap.add_argument("--out-dir", default=str(RESULTS))
    # internal: the bystander process
    ap.add_argument("--bystander", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--nick", default="bystander", help=argparse.SUPPRESS)
    ap.add_argument("--grace", type=float, default=5.0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.bystander:
        return bystander_main(a)

    def log(text: str) -> None:
        print(f"[{time.monotonic() - t_start:6.1f}s] {text}", flush=True)

    t_start = time.monotonic()
    # a SIGTERM (e.g. from `timeout`) still stops the server and the bystander
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="auth-storm-"))
    try:
        doc = run_bench(a, argv, workdir, t_start)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    scenarios = doc["scenarios"]
    label = doc["label"]
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"auth_storm-{label}.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    lr = scenarios.get("login_rate")
    if lr is not None and "logins_per_s" in lr and out_dir == RESULTS:
        # issue 12, target 5: the figure also goes to latest.json (key "logins")
        latest = RESULTS / "latest.json"
        with contextlib.suppress(OSError, ValueError):
            base = json.loads(latest.read_text()) if latest.exists() else {}
            base["logins"] = {
                "date": doc["date"],
                "command": doc["command"],
                "commit": doc["commit"],
                "pinning": doc["pinning"],
                "login_rate": {k: v for k, v in lr.items() if not k.endswith("_ns")},
            }
            latest.write_text(json.dumps(base, indent=2) + "\n")
    print()
    print(
        f"{doc['date']}; {doc['machine']['cpu']}, {doc['machine']['cpu_count']} CPUs; "
        f"Python {doc['machine']['python']}; server: {doc['tree']}; {doc['pinning']}"
    )
    print(f"bystander: {doc['bystander']['mode']}")
    print()
    print(table(scenarios))
    print()
    lr = scenarios.get("login_rate")
    if lr is not None and "logins_per_s" in lr:
        per = lr.get("server_cpu_ms_per_login")
        print(
            f"logins per second on one core (hashing off the loop): {lr['logins_per_s']} "
            f"(server CPU {lr.get('server_cpu_pct', '?')} % of its core; "
            f"{per} ms of CPU per login: {round(1000 / per, 1) if per else '?'}/s on a whole "
            "core)"
        )
    for name in HASHING:
        res = scenarios.get(name)
        if res is None:
            continue
        b = res.get("bystander", {})
        print(
            f"{res.get('verdict', 'FAIL')}: {name}: bystander p99 {_ms(b.get('p99_ms'))} ms "
            f"(target < {TARGET_P99_MS:g} ms), {b.get('lost', 0)} lost"
            + (f"; {res['note']}" if res.get("note") else "")
            + (f"; {res['error']}" if res.get("error") else "")
        )
    srv = doc["server"]
    if not srv["alive_at_end"]:
        print("the server died during the run: see server.log_tail in the JSON")
    if srv["tracebacks_in_log"]:
        print(f"the server logged {srv['tracebacks_in_log']} tracebacks: the tree may be broken")
    if doc["bystander"]["disconnected"]:
        print("the bystander was disconnected during the run")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
