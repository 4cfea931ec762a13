"""Our server's Python cost of one channel post's pass into N members, in process.

    python bench/inproc_channel.py [--members 100] [--passes 20000] [--caps] [--profile]

The latency scenario of ``loadgen.py`` without sockets: builds the real ``Server`` as
``bench/inproc.py`` does (the shipped ``messenger.toml`` with the bench's raised limits, a file
journal with ``fsync = "everysec"`` in a temp dir), attaches MEMBERS + 1 fake links (guests,
all landed in #general), then runs PASSES passes of one ``PRIVMSG #general :<100 bytes>`` from
the sender, each followed by the server's flush of that pass (journal append, output held until
durable, one write per member). Prints CPU µs per pass, split into the line's handling (framer,
parse, dispatch, engine, relay: ``data_received``) and the flush (journal, fan-out, output,
writes: ``Server._flush``), and the flush per member. ``--caps``: every other member negotiated
message-tags and server-time (two variants of the line). ``--profile`` adds a cProfile of the
measured part (its overhead inflates the total; read it for the shares).
"""

from __future__ import annotations

import argparse
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inproc import FakeTransport, _cprofile, flush, make_server

from ircd.server import Connection


class CountingTransport(FakeTransport):
    """``FakeTransport`` whose calls cost what uvloop's C methods do (no Python frame): what
    is measured is our code, not the fake's. Each write is kept (the pass's bytes are shared,
    so that is a pointer each) and counted at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.write = self.chunks.append  # type: ignore[method-assign]
        self.is_closing = bool  # type: ignore[method-assign]  # bool() is False
        self.get_write_buffer_size = int  # type: ignore[method-assign]  # int() is 0

    def reset(self) -> None:
        self.chunks.clear()

    @property
    def writes(self) -> int:
        return len(self.chunks)

    def count_lines(self) -> int:
        return sum(c.count(b"\n") for c in self.chunks)


def run(members: int, passes: int, caps: bool, profile: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="ircinproc-ch-"))
    srv = make_server(workdir)
    general = srv.config.chat.general_channel
    links: list[tuple[Connection, CountingTransport]] = []
    for i in range(members + 1):
        nick = "lsend" if i == members else f"m{i}"
        c = Connection(srv)
        t = CountingTransport()
        c.connection_made(t)  # type: ignore[arg-type]
        want = b"CAP REQ :message-tags server-time\r\nCAP END\r\n" if caps and i % 2 else b""
        c.data_received(want + f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        flush(srv)
        c.data_received(b"PONG :x\r\n")  # lands it in #general (the answer to the landing PING)
        flush(srv)
        links.append((c, t))
    sender = links[-1][0]
    room = srv.messenger.rooms[srv.hub.general_key]
    assert len(room.members) == members + 1, "everyone is in #general"
    line = f"PRIVMSG {general} :{'y' * 100}\r\n".encode()
    for _ in range(50):  # warm up
        sender.data_received(line)
        flush(srv)
    for _, t in links:
        t.reset()
    prof = _cprofile().Profile() if profile else None
    handle = 0.0
    pc = time.process_time
    t0 = pc()
    if prof:
        prof.enable()
    for _ in range(passes):
        a = pc()
        sender.data_received(line)
        b = pc()
        flush(srv)
        handle += b - a
    if prof:
        prof.disable()
    cpu = pc() - t0
    delivered = sum(t.count_lines() for _, t in links)
    srv.store.close()
    assert delivered == passes * members, (delivered, passes * members)
    flush_s = cpu - handle
    return {
        "members": members,
        "passes": passes,
        "caps": caps,
        "delivered_lines": delivered,
        "writes": sum(t.writes for _, t in links),
        "cpu_s": round(cpu, 3),
        "us_per_pass": round(1e6 * cpu / passes, 1),
        "us_handle": round(1e6 * handle / passes, 1),
        "us_flush": round(1e6 * flush_s / passes, 1),
        "us_flush_per_member": round(1e6 * flush_s / passes / members, 3),
        "profile": _stats(prof) if prof else None,
    }


def _stats(prof: Any) -> str:
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(30)
    st.sort_stats("cumulative").print_stats(40)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=100, help="receivers besides the sender")
    ap.add_argument("--passes", type=int, default=20_000)
    ap.add_argument("--caps", action="store_true", help="every other member: two variants")
    ap.add_argument("--repeat", type=int, default=3, help="runs (the best is reported)")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args(argv)
    best: dict[str, Any] | None = None
    for _ in range(a.repeat):
        r = run(a.members, a.passes, a.caps, False)
        r.pop("profile")
        print(r, flush=True)
        if best is None or r["us_per_pass"] < best["us_per_pass"]:
            best = r
    assert best is not None
    print(
        f"best: {best['us_per_pass']} µs CPU per pass ({best['us_handle']} handling the line, "
        f"{best['us_flush']} flushing = {best['us_flush_per_member']} per member)"
    )
    if a.profile:
        r = run(a.members, a.passes, a.caps, True)
        print(r.pop("profile"))
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
