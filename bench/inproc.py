"""Our server's Python cost per private message, in process, without sockets or a generator.

    python bench/inproc.py [--pairs 100] [--messages 200000] [--burst 16] [--profile]

Builds the real ``Server`` (the shipped ``messenger.toml`` with the bench's raised limits, a
file journal with ``fsync = "everysec"`` in a temp dir), attaches 2 x PAIRS fake links, registers
them, then has every client send BURST ``PRIVMSG partner :<100 bytes>`` lines per read, as the
private scenario of ``loadgen.py`` does, followed by the server's flush of that pass (journal
append, output held until durable, one write per link). Prints CPU µs per message (framer,
parse, dispatch, engine, journal encode and write, relay, output). ``--profile`` adds a cProfile
of the measured part (its overhead inflates the total; read it for the shares). Used by
``bench/profile.py private-inproc``.
"""

from __future__ import annotations

import argparse
import io
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cprofile() -> Any:
    """The stdlib's cProfile (bench/profile.py would shadow its ``profile`` module)."""
    here = str(Path(__file__).resolve().parent)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(here)]
    mod = sys.modules.pop("profile", None)
    try:
        import cProfile

        return cProfile
    finally:
        sys.path[:] = saved
        if mod is not None:
            sys.modules["profile"] = mod


from ircd.config import load_config  # noqa: E402
from ircd.server import Connection, Server  # noqa: E402

try:
    from ircd.server import tune_gc
except ImportError:  # an older tree (--baseline)
    tune_gc = None  # type: ignore[assignment]

_RAISED = {
    "messages_per_period": "1_000_000_000",
    "private_burst": "1_000_000_000",
    "private_per_second": "1_000_000_000.0",
    "max_clients_per_ip": "100000",
    "commands_per_second": "0",
}


class FakeTransport:
    """Enough of an asyncio transport for ``Connection``: counts what is written."""

    def __init__(self) -> None:
        self.written = 0
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.lines += data.count(b"\n")

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def make_server(workdir: Path) -> Server:
    src = (ROOT / "messenger.toml").read_text()
    for key, val in _RAISED.items():
        src = re.sub(rf"(?m)^{key} = .*$", f"{key} = {val}", src)
    src = re.sub(r"(?ms)^(\[web\]\n.*?^port = ).*?$", r"\g<1>0", src, count=1)
    (workdir / "bench.toml").write_text(src)
    cfg = load_config(
        str(workdir / "bench.toml"),
        {"storage.state_file": str(workdir / "state.json"), "server.port": 0},
    )
    srv = Server(cfg)
    if tune_gc is not None:  # as ``serve`` does (a tree before it has none)
        tune_gc()
    srv._flush_scheduled = True  # flushes are called here, once per simulated pass
    return srv


def flush(srv: Server) -> None:
    srv._flush()
    srv._flush_scheduled = True


def run(pairs: int, messages: int, burst: int, profile: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="ircinproc-"))
    srv = make_server(workdir)
    conns: list[tuple[Connection, FakeTransport]] = []
    nicks = [f"pa{i}" for i in range(pairs)] + [f"pb{i}" for i in range(pairs)]
    for nick in nicks:
        c = Connection(srv)
        t = FakeTransport()
        c.connection_made(t)  # type: ignore[arg-type]
        c.data_received(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        flush(srv)
        c.data_received(b"PONG :x\r\n")  # lands it (the answer to the landing PING)
        flush(srv)
        conns.append((c, t))
    text = "P" * 100
    senders = []
    for i in range(pairs):
        a, b = conns[i], conns[pairs + i]
        senders.append((a[0], f"PRIVMSG pb{i} :{text}\r\n".encode() * burst))
        senders.append((b[0], f"PRIVMSG pa{i} :{text}\r\n".encode() * burst))
    for _, t in conns:
        t.lines = 0
    rounds = max(1, messages // (burst * len(senders)))
    prof = _cprofile().Profile() if profile else None
    t0 = time.process_time()
    w0 = time.perf_counter()
    if prof:
        prof.enable()
    for _ in range(rounds):
        for c, data in senders:
            c.data_received(data)
        flush(srv)
    if prof:
        prof.disable()
    cpu = time.process_time() - t0
    wall = time.perf_counter() - w0
    sent = rounds * burst * len(senders)
    delivered = sum(t.lines for _, t in conns)
    srv.store.close()
    res = {
        "pairs": pairs,
        "burst": burst,
        "messages": sent,
        "delivered_lines": delivered,
        "cpu_s": round(cpu, 3),
        "us_per_message": round(1e6 * cpu / sent, 2),
        "wall_us_per_message": round(1e6 * wall / sent, 2),
    }
    if prof:
        out = io.StringIO()
        st = pstats.Stats(prof, stream=out)
        st.sort_stats("tottime").print_stats(30)
        st.sort_stats("cumulative").print_stats(40)
        res["profile"] = out.getvalue()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--burst", type=int, default=16, help="lines per read per client")
    ap.add_argument("--repeat", type=int, default=3, help="runs (the best is reported)")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args(argv)
    best: dict[str, Any] | None = None
    for _ in range(a.repeat):
        r = run(a.pairs, a.messages, a.burst, False)
        print({k: v for k, v in r.items()}, flush=True)
        if best is None or r["us_per_message"] < best["us_per_message"]:
            best = r
    assert best is not None
    print(f"best: {best['us_per_message']} µs CPU per private message")
    if a.profile:
        r = run(a.pairs, a.messages, a.burst, True)
        print(r.pop("profile"))
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
