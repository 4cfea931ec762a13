"""Cost curves for big state (issue 12, target 4): what stored history costs our server.

    python bench/bigstate.py                      # 10 k, 100 k and 1 M stored posts
    python bench/bigstate.py --quick              # 1 k, 10 k and 100 k (a quick look)
    python bench/bigstate.py --sizes 10000,50000  # any sizes

For each size N the state is **built directly with the engine's own code** (a ``Messenger``
with a fake clock: two accounts, ``poster`` and ``reader``, in #general; N channel posts of
100 bytes by ``poster``; ``reader`` acknowledged all but the last 1 000), written the way the
server writes it (``FileStore``: a snapshot after 90 % of the posts, the last 10 % as journal
events after it). Then everything is measured **through the real server process**
(``python -m ircd``, pinned to CPU 0; this script on CPU 1), with ``history_per_channel``
raised to N so that all posts are kept:

- ``restart_s``: process start until it accepts connections (snapshot + journal load).
- ``rss_per_post_b``: (VmRSS with the state − VmRSS of the same server on an empty state) / N.
- ``replay_1000_ms``: ``reader`` logs in (PASS; one scrypt check, ~50 ms of it) until its
  1 000 unread posts have arrived.
- ``chathistory_deep_ms``: ``CHATHISTORY BEFORE #general timestamp=<a post in the middle of the
  history> 100`` (and ``LATEST * 100`` for reference): round trip to the end of the batch;
  median and max of 10.
- ``snapshot_*``: a second server on the same state with ``snapshot_interval = 2`` s: one
  post (one change), then the next snapshot: ``snapshot_stall_ms`` is the longest PING round
  trip of a bystander pinging every 2 ms meanwhile (the event loop's stall), ``snapshot_cpu_s``
  the server's CPU time from the post until the snapshot file is written (less what the
  pings alone cost, measured over 1 s before), ``snapshot_bytes``
  its size. One change per snapshot at every size: if the cost grows with N, it grows with
  what is stored, not with what changed.

Results: ``bench/results/bigstate.json``, merged into ``bench/results/latest.json`` (key
``bigstate``), the table in ``bench/README.md`` between the ``bigstate`` markers and a chart
``bench/results/bigstate.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import BENCH, HOST, ROOT, RunningServer, env_for, free_port, proc_cpu_s

RESULTS = BENCH / "results"
README = BENCH / "README.md"
START = "<!-- bigstate:start -->"
END = "<!-- bigstate:end -->"
UNREAD = 1000
CHANNEL = "#general"
PASSWORD = "bigstate-pw-1"
TARGETS = {
    "rss_per_post_b": 400.0,  # at most, at every size
    "restart_s": 5.0,  # at most, at 1 M
    "snapshot_stall_ms": 5.0,  # at most, at 1 M
}

# the shipped config with what would refuse or trim the load raised
_SET = {
    "messages_per_period": "1_000_000_000",
    "private_burst": "1_000_000_000",
    "private_per_second": "1_000_000_000.0",
    "max_clients_per_ip": "100000",
    "commands_per_second": "0",
}


def write_config(d: Path, history: int, snapshot_interval: float) -> Path:
    src = (ROOT / "messenger.toml").read_text()
    sets = {
        **_SET,
        "history_per_channel": str(max(history, 10000)),
        "snapshot_interval": f"{snapshot_interval}",
    }
    for key, val in sets.items():
        src, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {val}", src)
        if n != 1 and key not in ("commands_per_second",):
            raise SystemExit(f"messenger.toml: no {key}")
    path = d / f"bigstate-{snapshot_interval:g}.toml"
    path.write_text(src)
    return path


# ---------------------------------------------------------------------- building the state


def build_state(n: int, cfg: Path, state: Path) -> dict[str, Any]:
    """N posts in #general through the engine, stored as the server stores them."""
    from ircd.clock import FakeClock
    from ircd.config import load_config
    from ircd.messenger.engine import Messenger
    from ircd.messenger.passwords import hash_password
    from ircd.server import rules_from
    from ircd.storage.store import FileStore

    config = load_config(str(cfg), {})
    clock = FakeClock()
    t0 = time.perf_counter()
    store = FileStore(str(state), fsync="everysec")
    store.load()
    m = Messenger(clock, rules_from(config))
    m.pin_server_id()
    pw = hash_password(PASSWORD)
    for name in ("poster", "reader"):
        m.create_account(name, name, pw)
        m.join(name, CHANNEL, CHANNEL)
    m.mark_seen("reader")
    store.append(m.take_events())
    text = "b" * (100 - len(f"PRIVMSG {CHANNEL} :") - 2)
    split = int(n * 0.9)
    first_ts = clock.now() + 0.001
    for i in range(n):
        clock.advance(0.001)
        m.post_room("poster", "poster", "poster!poster@127.0.0.1", CHANNEL, text)
        if i + 1 == n - UNREAD:
            m.ack("reader", m.seq)
        if (i + 1) % 10000 == 0 or i + 1 == n:
            evs = m.take_events()
            if i + 1 > split:  # the journal after the snapshot
                store.append(evs)
            # (events before the split are covered by the snapshot written at the split)
        if i + 1 == split:
            m.take_events()
            dump = m.to_segmented(store.segment_rows)  # as the server writes it
            store.begin_segmented_snapshot(dump.state, dump.chunks, dump.rewrite)()
            dump.commit()
    rest = m.take_events()
    if rest:
        store.append(rest)
    store.close()
    return {
        "build_s": round(time.perf_counter() - t0, 2),
        "first_ts": first_ts,
        "last_ts": clock.now(),
        "seq": m.seq,
        "state_bytes": sum(p.stat().st_size for p in state.parent.glob(state.name + "*")),
    }


# ---------------------------------------------------------------------- where the time goes


def _self_rss_kib() -> int:
    return vm_rss_kib(os.getpid()) or 0


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def breakdown(n: int, work: Path) -> dict[str, Any]:
    """In-process timings of the parts of a restart and of a snapshot at N posts, with the
    same code the server runs (the profile behind the figures measured through the server):
    restart = read + JSON parse of the snapshot (``FileStore.load``, the journal too) +
    ``check_snapshot`` + building the engine (``snapshot.load``) + the posts from the
    segments (decoded chunk by chunk, ``snapshot.load_rows``) + journal replay; snapshot =
    ``to_segmented`` (on the event loop: the small state and the list of new posts) + its
    write in the writer thread (the new posts' segment, the snapshot file, fsyncs), after one
    change and, for reference, the inline form the server wrote before (``to_dict`` of
    everything + encoding). Memory: this process's RSS before the load, at its end and once
    the loaded files are dropped and ``malloc_trim`` ran, per post; and the bytes of one
    ``Post`` with its own strings."""
    import gc

    from ircd.clock import FakeClock
    from ircd.config import load_config
    from ircd.messenger import snapshot as snap_mod
    from ircd.messenger.engine import Messenger
    from ircd.messenger.validate import check_snapshot
    from ircd.server import rules_from
    from ircd.storage import store as store_mod
    from ircd.storage.store import FileStore, read_segments

    d = work / f"breakdown-{n}"
    d.mkdir()
    cfg = write_config(d, n, 3600.0)
    state = d / "state.json"
    build_state(n, cfg, state)
    rules = rules_from(load_config(str(cfg), {}))
    gc.collect()
    _malloc_trim()
    rss0 = _self_rss_kib()
    out: dict[str, Any] = {"posts": n}

    def timed(key: str, fn: Any) -> Any:
        t = time.perf_counter()
        r = fn()
        out[key] = round(time.perf_counter() - t, 3)
        return r

    gc.disable()  # as the server loads (ircd/server.py: no collector passes, then frozen)
    st = FileStore(str(state))
    loaded = timed("load_read_parse_s", st.load)
    snap = loaded.snapshot
    assert snap is not None
    timed("load_check_s", lambda: check_snapshot(snap, snap_mod.SNAPSHOT_VERSION))
    m = Messenger(FakeClock(), rules)
    timed("load_build_s", lambda: snap_mod.load(m, snap))
    rows: Any = None
    if "segmented" in snap:
        rows = read_segments(loaded.segments)
        timed("load_segments_s", lambda: snap_mod.load_rows(m, snap["segmented"], rows))

    def replay() -> None:
        for ev in loaded.events:
            m.replay((ev,))

    timed("load_journal_s", replay)
    gc.enable()
    gc.freeze()
    out["journal_events"] = len(loaded.events)
    rss1 = _self_rss_kib()
    snap = loaded = rows = None  # (the closures above share these cells)
    gc.collect()
    _malloc_trim()
    rss2 = _self_rss_kib()
    out["rss_per_post_loaded_b"] = round((rss1 - rss0) * 1024 / n, 1)
    out["rss_per_post_kept_b"] = round((rss2 - rss0) * 1024 / n, 1)
    one = m.rooms[CHANNEL].history[-1]
    sizes = {f: sys.getsizeof(getattr(one, f)) for f in one.__slots__}
    out["post_slots_object_b"] = sys.getsizeof(one)
    out["post_fields_b"] = sizes
    # a snapshot after the load: the journal's posts are new to the segments
    dump = timed("snapshot_after_load_dump_s", lambda: m.to_segmented(st.segment_rows))
    timed("snapshot_after_load_write_s",
          st.begin_segmented_snapshot(dump.state, dump.chunks, dump.rewrite))  # fmt: skip
    dump.commit()
    out["snapshot_after_load_posts"] = len(dump.posts)
    # then one change, one snapshot: what the server's snapshotter does
    m.post_room("poster", "poster", "poster!poster@127.0.0.1", CHANNEL, "one change")
    st.append(m.take_events())
    dump = timed("snapshot_dump_s", lambda: m.to_segmented(st.segment_rows))
    timed("snapshot_write_s", st.begin_segmented_snapshot(dump.state, dump.chunks, dump.rewrite))
    dump.commit()
    out["snapshot_posts_written"] = len(dump.posts)
    out["snapshot_mb"] = round(state.stat().st_size / 1e6, 3)
    out["segments_mb"] = round(sum(os.path.getsize(f) for f in st.segment_files) / 1e6, 1)
    out["segment_files"] = len(st.segment_files)
    st.close()
    # the inline form, for reference: everything copied and encoded at every snapshot
    doc = timed("inline_to_dict_s", m.to_dict)
    envelope = {"version": 1, "journal_seq": 0, "state": doc}
    data = timed("inline_encode_s", lambda: store_mod._encode_document(envelope))
    out["inline_mb"] = round(len(data) / 1e6, 1)
    shutil.rmtree(d, ignore_errors=True)
    return out


# ---------------------------------------------------------------------- a raw client


class Raw:
    """A minimal line client (asyncio streams) with a bounded wait for every read."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r = reader
        self.w = writer

    @classmethod
    async def connect(cls, port: int) -> Raw:
        r, w = await asyncio.wait_for(asyncio.open_connection(HOST, port, limit=1 << 22), 10)
        return cls(r, w)

    def send(self, line: str) -> None:
        self.w.write((line + "\r\n").encode())

    async def line(self, timeout: float) -> str:
        raw = await asyncio.wait_for(self.r.readline(), timeout)
        if not raw:
            raise ConnectionError("closed")
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("PING "):
            self.send("PONG " + text[5:])
        return text

    async def until(self, pred: Any, timeout: float) -> tuple[str, int]:
        """Read until a line satisfies ``pred``; returns it and how many lines came before."""
        deadline = time.monotonic() + timeout
        n = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError
            text = await self.line(left)
            if pred(text):
                return text, n
            n += 1

    async def register(self, nick: str, password: str | None = None, caps: str = "") -> None:
        if caps:
            self.send(f"CAP REQ :{caps}")
        if password:
            self.send(f"PASS {password}")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        if caps:
            self.send("CAP END")
        await self.until(lambda t: " 001 " in t, 30)

    def close(self) -> None:
        self.w.close()


def _word(text: str, i: int) -> str:
    parts = text.split(" ")
    if parts and parts[0].startswith("@"):
        parts = parts[1:]
    return parts[i] if len(parts) > i else ""


async def measure_replay(port: int) -> dict[str, Any]:
    c = await Raw.connect(port)
    t0 = time.perf_counter()
    await c.register("reader", PASSWORD)
    t_reg = time.perf_counter() - t0
    got = 0
    deadline = time.monotonic() + 120
    while got < UNREAD and time.monotonic() < deadline:
        text = await c.line(max(0.1, deadline - time.monotonic()))
        if f"PRIVMSG {CHANNEL} :" in text:
            got += 1
    t = time.perf_counter() - t0
    c.close()
    return {
        "replay_1000_ms": round(t * 1000, 1) if got >= UNREAD else None,
        "replay_login_ms": round(t_reg * 1000, 1),
        # from the 001 (the password checked) to the last unread line
        "replay_after_login_ms": round((t - t_reg) * 1000, 1) if got >= UNREAD else None,
        "replayed": got,
    }


def _iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )


async def measure_chathistory(port: int, first_ts: float, last_ts: float) -> dict[str, Any]:
    c = await Raw.connect(port)
    await c.register("probe", caps="draft/chathistory batch server-time message-tags")
    await c.until(lambda t: " 366 " in t, 30)  # auto-joined #general

    async def one(cmd: str) -> tuple[float, int]:
        t0 = time.perf_counter()
        c.send(cmd)
        # the reply is one batch: BATCH +id chathistory ... BATCH -id
        await c.until(lambda t: _word(t, 1) == "BATCH" and _word(t, 2).startswith("+"), 60)
        _, n = await c.until(lambda t: _word(t, 1) == "BATCH" and _word(t, 2).startswith("-"), 60)
        return (time.perf_counter() - t0) * 1000, n

    mid = _iso((first_ts + last_ts) / 2)
    deep, latest = [], []
    lines = 0
    for _ in range(10):
        ms, lines = await one(f"CHATHISTORY BEFORE {CHANNEL} timestamp={mid} 100")
        deep.append(ms)
        ms, _n = await one(f"CHATHISTORY LATEST {CHANNEL} * 100")
        latest.append(ms)
    c.close()
    return {
        "chathistory_deep_ms": round(statistics.median(deep), 2),
        "chathistory_deep_max_ms": round(max(deep), 2),
        "chathistory_latest_ms": round(statistics.median(latest), 2),
        "chathistory_lines": lines,
    }


async def measure_snapshot(port: int, pid: int, state: Path, timeout: float) -> dict[str, Any]:
    """One post, then the next snapshot, with a bystander pinging every 2 ms."""
    by = await Raw.connect(port)
    await by.register("bystander")
    poster = await Raw.connect(port)
    await poster.register("snapposter")
    await poster.until(lambda t: " 366 " in t, 30)
    rtts: list[float] = []
    stop = asyncio.Event()
    sent: dict[str, float] = {}

    async def pinger() -> None:
        i = 0
        while not stop.is_set():
            tok = f"p{i}"
            sent[tok] = time.perf_counter()
            by.send(f"PING :{tok}")
            i += 1
            await asyncio.sleep(0.002)

    async def ponger() -> None:
        while not stop.is_set():
            try:
                text = await by.line(1.0)
            except asyncio.TimeoutError:
                continue
            if _word(text, 1) == "PONG":
                tok = text.rsplit(":", 1)[-1]
                t = sent.pop(tok, None)
                if t is not None:
                    rtts.append((time.perf_counter() - t) * 1000)

    def mtime() -> float:
        with contextlib.suppress(OSError):
            return state.stat().st_mtime
        return 0.0

    m0 = mtime()
    tasks = [asyncio.ensure_future(pinger()), asyncio.ensure_future(ponger())]
    await asyncio.sleep(0.3)
    # the server's CPU rate with only the bystander's pings (subtracted from the window)
    b0, tb = proc_cpu_s(pid) or 0.0, time.perf_counter()
    await asyncio.sleep(1.0)
    c0 = proc_cpu_s(pid) or 0.0
    t0 = time.perf_counter()
    idle_rate = (c0 - b0) / (t0 - tb)
    idle_rtts = len(rtts)
    poster.send(f"PRIVMSG {CHANNEL} :one change before the snapshot")
    written = False
    while time.perf_counter() - t0 < timeout:
        await asyncio.sleep(0.01)
        if mtime() != m0:
            written = True
            break
    wall = time.perf_counter() - t0
    cpu = (proc_cpu_s(pid) or 0.0) - c0
    await asyncio.sleep(0.3)  # the pings held up by the stall come back
    stop.set()
    for t in tasks:
        t.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks)
    window = rtts[idle_rtts:]
    before = rtts[:idle_rtts]
    by.close()
    poster.close()
    return {
        "snapshot_written": written,
        "snapshot_stall_ms": round(max(window), 1) if window else None,
        # the same bystander's longest round trip in the second before the post (no snapshot):
        # what the machine and the pings alone give
        "idle_stall_ms": round(max(before), 1) if before else None,
        "snapshot_cpu_s": round(max(0.0, cpu - idle_rate * wall), 3),
        "snapshot_window_cpu_s": round(cpu, 3),
        "snapshot_wait_s": round(wall, 2),
        "snapshot_bytes": state.stat().st_size if state.exists() else None,
        "pings": len(window),
        "pings_lost": len(sent),
    }


# ---------------------------------------------------------------------- one size


def vm_rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def start(state: Path, cfg: Path, cpu: str | None, workdir: Path) -> RunningServer:
    port = free_port()
    argv = [sys.executable, "-m", "ircd", "--port", str(port), "--state", str(state),
            "--config", str(cfg)]  # fmt: skip
    return RunningServer(argv, port, workdir, cpu=cpu, env=env_for(ROOT), name="ours",
                         start_timeout=300, settle=0)  # fmt: skip


def settle_rss(pid: int, seconds: float = 1.0) -> int | None:
    time.sleep(seconds)
    return vm_rss_kib(pid)


def run_size(n: int, work: Path, cpu: str | None, log: Any) -> dict[str, Any]:
    d = work / f"n{n}"
    d.mkdir()
    cfg = write_config(d, n, 3600.0)
    cfg_snap = write_config(d, n, 2.0)
    state = d / "state.json"
    info = build_state(n, cfg, state)
    log(f"N={n}: built in {info['build_s']} s, {info['state_bytes'] / 1e6:.1f} MB on disk")
    res: dict[str, Any] = {"posts": n, **{k: v for k, v in info.items() if "ts" not in k}}
    # the reference: the same server on an empty state
    empty = d / "empty"
    srv = start(empty / "state.json", cfg, cpu, empty)
    try:
        rss0 = settle_rss(srv.pid)
        res["empty_restart_s"] = round(srv.ready_s, 3)
    finally:
        srv.stop()
    srv = start(state, cfg, cpu, d / "a")
    try:
        res["restart_s"] = round(srv.ready_s, 3)
        # the CPU it took (robust on a busy machine, where the wall time also holds waiting)
        res["restart_cpu_s"] = round(proc_cpu_s(srv.pid) or 0.0, 2)
        rss1 = settle_rss(srv.pid)
        if rss0 is not None and rss1 is not None:
            res["rss_kib"] = rss1
            res["rss_empty_kib"] = rss0
            res["rss_per_post_b"] = round((rss1 - rss0) * 1024 / n, 1)
        res.update(asyncio.run(measure_replay(srv.port)))
        res.update(asyncio.run(measure_chathistory(srv.port, info["first_ts"], info["last_ts"])))
        alive = srv.alive()
    finally:
        srv.stop(grace=120)  # it writes a snapshot at shutdown
    if not alive:
        res["server_died"] = srv.tail(400)
    srv = start(state, cfg_snap, cpu, d / "b")
    try:
        res["restart_from_snapshot_s"] = round(srv.ready_s, 3)
        res.update(asyncio.run(measure_snapshot(srv.port, srv.pid, state, 60.0 + n / 20000)))
    finally:
        srv.stop(grace=120)
    log(f"N={n}: {json.dumps(res)}")
    shutil.rmtree(d, ignore_errors=True)
    return res


# ---------------------------------------------------------------------- report

ROWS = (
    ("RSS per stored post (B)", "rss_per_post_b", 0),
    ("restart: snapshot + journal load (s)", "restart_s", 2),
    ("restart: its CPU time (s)", "restart_cpu_s", 2),
    ("restart from a snapshot only (s)", "restart_from_snapshot_s", 2),
    ("snapshot after 1 change: longest loop stall (ms)", "snapshot_stall_ms", 1),
    ("the same bystander's longest round trip in the second before (ms)", "idle_stall_ms", 1),
    ("snapshot after 1 change: server CPU (s)", "snapshot_cpu_s", 2),
    ("snapshot file after 1 change (KB; the posts are in segments)", "snapshot_kb", 1),
    ("state on disk: snapshot + segments + journal (MB)", "state_mb", 1),
    ("replay of 1 000 unread, login included (ms)", "replay_1000_ms", 0),
    ("replay of 1 000 unread, after the login's 001 (ms)", "replay_after_login_ms", 0),
    ("CHATHISTORY BEFORE, middle of the history, 100 lines (ms, median)", "chathistory_deep_ms", 1),
    ("CHATHISTORY LATEST * 100 (ms, median)", "chathistory_latest_ms", 1),
)  # fmt: skip


def _n(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000} M"
    return f"{n // 1000} k" if n % 1000 == 0 else str(n)


def table(runs: list[dict[str, Any]]) -> str:
    out = ["| stored posts | " + " | ".join(_n(r["posts"]) for r in runs) + " |",
           "|---|" + "---|" * len(runs)]  # fmt: skip
    for label, key, digits in ROWS:
        cells = []
        for r in runs:
            v = r.get(key)
            if key == "snapshot_kb" and r.get("snapshot_bytes"):
                v = r["snapshot_bytes"] / 1e3
            if key == "state_mb" and r.get("state_bytes"):
                v = r["state_bytes"] / 1e6
            cells.append("n/a" if v is None else f"{v:,.{digits}f}")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def verdicts(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(target, met / NOT met / n/a) for the four targets, from the runs."""
    if not runs:
        return []
    big = max(runs, key=lambda r: r["posts"])
    small = min(runs, key=lambda r: r["posts"])

    def v(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    rss = [x for x in (r.get("rss_per_post_b") for r in runs) if x is not None]
    worst = max(rss, default=None)
    rss_ok = None if worst is None or len(rss) < len(runs) else worst <= TARGETS["rss_per_post_b"]
    out = [(f"≤ 400 B of RSS per stored post (worst {worst} B)", v(rss_ok))]
    at = _n(big["posts"])
    r_s = big.get("restart_s")
    out.append((f"restart ≤ 5 s at {at} posts ({r_s} s)", v(None if r_s is None else r_s <= 5)))
    st = big.get("snapshot_stall_ms")
    out.append((f"no loop stall > 5 ms during a snapshot at {at} posts (longest {st} ms)",
                v(None if st is None else st <= 5)))  # fmt: skip
    c0, c1 = small.get("snapshot_cpu_s"), big.get("snapshot_cpu_s")
    grows = None
    if c0 is not None and c1 is not None and big is not small:
        # one change at every size: a cost that follows what changed stays flat
        grows = c1 > max(3 * c0, 0.05)
    out.append((f"snapshot cost grows with what changed, not with what is stored "
                f"({c0} s at {_n(small['posts'])} → {c1} s at {at}, one change each)",
                v(None if grows is None else not grows)))  # fmt: skip
    return out


def chart(runs: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart (run bench/setup.sh)", file=sys.stderr)
        return False
    xs = [r["posts"] for r in runs]
    panels = [
        ("rss_per_post_b", "RSS per stored post, B", TARGETS["rss_per_post_b"]),
        ("restart_s", "restart (snapshot + journal), s", TARGETS["restart_s"]),
        ("snapshot_stall_ms", "loop stall during a snapshot, ms", TARGETS["snapshot_stall_ms"]),
        ("snapshot_cpu_s", "CPU of one snapshot (1 change), s", None),
        ("replay_after_login_ms", "replay of 1000 unread after login, ms", None),
        ("chathistory_deep_ms", "CHATHISTORY deep, ms", None),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, title, target) in zip(axes.flat, panels, strict=True):
        ys = [r.get(key) if isinstance(r.get(key), (int, float)) else float("nan") for r in runs]
        ax.plot(xs, ys, "o-", color="#d62728")
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("stored posts", fontsize=8)
    fig.suptitle(f"Our server with big state, {dt.date.today().isoformat()}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_readme(doc: dict[str, Any]) -> None:
    lines = [
        START,
        f"Latest run: **{doc['date']}**, `{doc['command']}`; {doc['machine']}; "
        f"server on CPU {doc['server_cpu']}, this script on CPU {doc['gen_cpu']}.",
        "",
        table(doc["runs"]),
        "",
        "Targets:",
        "",
        *[f"- {t}: **{v}**" for t, v in verdicts(doc["runs"])],
        "",
        "![big-state chart](results/bigstate.png)",
        END,
    ]
    text = README.read_text()
    block = "\n".join(lines)
    if START in text and END in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text += "\n" + block + "\n"
    README.write_text(text)


def merge_latest(doc: dict[str, Any], path: Path) -> None:
    """Put this run under ``bigstate`` in latest.json, keeping everything else there."""
    base: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        base = json.loads(path.read_text())
    base["bigstate"] = doc
    path.write_text(json.dumps(base, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 1 k, 10 k, 100 k")
    ap.add_argument("--sizes", default="", help="comma-separated post counts")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--gen-cpu", default="1")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument(
        "--breakdown",
        default="",
        help="comma-separated sizes to time in-process, part by part (default: the largest)",
    )
    ap.add_argument("--out", default=str(RESULTS / "bigstate.json"))
    a = ap.parse_args(argv)
    if a.sizes:
        sizes = [int(x.replace("_", "")) for x in a.sizes.split(",") if x]
    else:
        sizes = [1000, 10_000, 100_000] if a.quick else [10_000, 100_000, 1_000_000]
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    cpu = a.server_cpu if pin else None
    if pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(x) for x in a.gen_cpu.split(",")})
    t_start = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - t_start:6.1f}s] {text}", flush=True)

    sys.path.insert(0, str(ROOT))
    from run import machine

    work = Path(tempfile.mkdtemp(prefix="ircbench-bigstate-"))
    runs = []
    parts = []
    try:
        for n in sizes:
            runs.append(run_size(n, work, cpu, log))
        for n in [int(x) for x in a.breakdown.split(",") if x] or [max(sizes)]:
            parts.append(breakdown(n, work))
            log(f"breakdown N={n}: {json.dumps(parts[-1])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/bigstate.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "server_cpu": a.server_cpu if pin else "any",
        "gen_cpu": a.gen_cpu if pin else "any",
        "targets": TARGETS,
        "runs": runs,
        "breakdown": parts,
        "verdicts": verdicts(runs),
        "elapsed_s": round(time.monotonic() - t_start, 1),
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    merge_latest(doc, RESULTS / "latest.json")
    if chart(runs, RESULTS / "bigstate.png"):
        print(f"wrote {RESULTS / 'bigstate.png'}")
    if not a.no_readme:
        write_readme(doc)
    print(table(runs))
    for t, v in verdicts(runs):
        print(f"- {t}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
