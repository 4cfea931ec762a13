"""Run the whole benchmark suite against our server and, in the same run, ngIRCd, InspIRCd and
miniircd; write bench/results/latest.json, bench/results/latest.png and the table in
bench/README.md.

    bash bench/setup.sh && python bench/run.py            # full suite, medians of 3
    python bench/run.py --quick --repeat 1                # small sizes, a quick look

Each server listens on 127.0.0.1 only, is started from a generated temp config with its flood
limits raised (so throughput is measured, not throttling), pinned to core 0 (`taskset -c 0`), and
restarted for every run; the generator (bench/loadgen.py) runs pinned to core 1. Every run is
bounded in time and everything stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import BENCH, ROOT, RunningServer, export_commit, free_port

RESULTS = BENCH / "results"
README = BENCH / "README.md"
HOST = "127.0.0.1"
START = "<!-- results:start -->"
END = "<!-- results:end -->"


# ---------------------------------------------------------------------- servers


@dataclass
class ServerSpec:
    name: str
    label: str
    history: bool = False  # accounts + unread replay on reconnect
    max_clients: int | None = None  # None: no known hard limit
    note: str = ""
    version: str = ""
    cmd_for: Any = None  # (port, dir) -> argv (written configs live in dir)


# the limits raised in our server's config for a load test (the rest stays as shipped);
# optional keys exist only in newer trees (a --baseline commit may predate them)
_RAISED = (
    ("messages_per_period", "1_000_000_000", True),
    ("private_burst", "1_000_000_000", True),
    ("private_per_second", "1_000_000_000.0", True),
    ("max_clients_per_ip", "100000", True),
    ("commands_per_second", "0", False),  # flood control off: the generator is a load source
)


def _ours(port: int, d: Path, root: Path = ROOT) -> list[str]:
    src = (root / "messenger.toml").read_text()
    # the real config (persistence on, fsync everysec); only the limits are raised
    for key, val, required in _RAISED:
        src, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {val}", src)
        if n != 1 and required:
            raise SystemExit(f"messenger.toml: cannot raise {key}")
    # a tree with the web listener: none during a bench (it would take a fixed port)
    src = re.sub(r"(?ms)^(\[web\]\n.*?^port = ).*?$", r"\g<1>0", src, count=1)
    (d / "bench.toml").write_text(src)
    # another tree (--baseline): its own package first on the path; env execs python, so
    # taskset's pid stays the server's
    prefix = [] if root == ROOT else ["env", f"PYTHONPATH={root}"]
    return [
        *prefix,
        sys.executable,
        "-m",
        "ircd",
        "--port",
        str(port),
        "--state",
        str(d / "state.json"),
        "--config",
        str(d / "bench.toml"),
    ]


def _ngircd(port: int, d: Path) -> list[str]:
    (d / "conf.d").mkdir(exist_ok=True)
    (d / "ngircd.conf").write_text(
        f"""[Global]
Name = bench.ngircd.local
Info = benchmark
Listen = {HOST}
Ports = {port}
MotdPhrase = "bench"
PidFile = {d}/ngircd.pid
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
IncludeDir = {d}/conf.d
"""
    )
    return ["/usr/sbin/ngircd", "--nodaemon", "--config", str(d / "ngircd.conf")]


def _inspircd(port: int, d: Path) -> list[str]:
    (d / "motd.txt").write_text("bench\n")
    (d / "inspircd.conf").write_text(
        f"""<server name="bench.inspircd.local" description="benchmark" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="{HOST}" port="{port}" type="clients">
<power diepass="bench-die" restartpass="bench-restart">
<connect name="bench" allow="{HOST}" timeout="120" pingfreq="600"
         threshold="1000000000" commandrate="2000000000" fakelag="no"
         hardsendq="1073741824" softsendq="1048576" recvq="1048576"
         localmax="100000" globalmax="100000" maxconnwarn="no" limit="100000"
         resolvehostnames="no" maxchans="50">
<files motd="{d}/motd.txt">
<channels users="50" opers="50">
<dns server="127.0.0.1" timeout="3">
<pid file="{d}/inspircd.pid">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" pingwarning="15">
<security maxtargets="20">
<performance quietbursts="yes" softlimit="20000" somaxconn="4096" netbuffersize="65536"
             clonesonconnect="no">
<limits maxnick="30">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d}/inspircd.log">
"""
    )
    return [
        "/usr/sbin/inspircd",
        f"--config={d}/inspircd.conf",
        "--nofork",
        "--runasroot",
    ]


def _miniircd_exe() -> str:
    # on PATH, or installed into the Python that runs the bench (a venv not on PATH)
    beside = Path(sys.executable).parent / "miniircd"
    return shutil.which("miniircd") or (str(beside) if beside.exists() else "miniircd")


def _miniircd(port: int, d: Path) -> list[str]:
    exe = _miniircd_exe()
    return [exe, "--listen", HOST, "--ports", str(port), "--setuid", "root"]


# Ergo has no Debian or PyPI package: a static build is kept in an anchors folder beside the
# repository (``ergo/``: its README.md, LICENSE, ergo.yaml and ``run.sh PORT DIR``). Where:
# ``--anchors DIR`` or $IRCBENCH_ANCHORS when given (a folder holding ``ergo/``), else
# ``../shared/anchors`` beside the checkout, beside the main checkout of a git worktree, or
# beside the local repository a clone was made from (its ``origin``), so a clone anywhere
# (``git clone /work/main /tmp/x``) finds the same build
ANCHORS_ENV = "IRCBENCH_ANCHORS"
ANCHORS_REL = "../shared/anchors"
ANCHORS_OVERRIDE: Path | None = None  # set by --anchors / $IRCBENCH_ANCHORS in main()


def _git_out(root: Path, *args: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=root, timeout=10, check=False
        )
        if out.returncode == 0:
            return out.stdout.strip()
    return ""


def anchor_candidates(root: Path = ROOT, rel: str = ANCHORS_REL, _depth: int = 0) -> list[Path]:
    """The folders where the anchors folder ``rel`` (relative to a checkout) is looked for,
    in order: beside ``root``; beside the main checkout when ``root`` is a git worktree; and
    the same for the local repository ``root`` was cloned from (its ``origin`` remote, when
    that is a path on this machine)."""
    out = [root / rel]
    common = _git_out(root, "rev-parse", "--path-format=absolute", "--git-common-dir")
    if common:
        out.append(Path(common).parent / rel)
    origin = _git_out(root, "remote", "get-url", "origin")
    if origin.startswith("file://"):
        origin = origin[len("file://") :]
    if origin and _depth < 3 and "://" not in origin and ":" not in origin.split("/")[0]:
        src = (root / origin).resolve()
        if src.is_dir() and src != root.resolve():
            if src.name == ".git":
                src = src.parent
            out += anchor_candidates(src, rel, _depth + 1)
    seen: list[Path] = []
    for c in out:
        if c not in seen:
            seen.append(c)
    return seen


def _is_ergo(d: Path) -> bool:
    return (d / "run.sh").is_file() and (d / "ergo").is_file()


def anchor_dir(name: str = "ergo", root: Path = ROOT, anchors: Path | None = None) -> Path | None:
    """The build of anchor ``name`` (a folder with ``run.sh`` and the binary), or None when
    it is absent. ``anchors`` (default: ANCHORS_OVERRIDE, from --anchors/$IRCBENCH_ANCHORS)
    is the only place looked at when given (the folder holding ``name/``, or that build
    itself); otherwise :func:`anchor_candidates` of ``root``."""
    anchors = anchors if anchors is not None else ANCHORS_OVERRIDE
    places = [anchors / name, anchors] if anchors is not None else [
        c / name for c in anchor_candidates(root)
    ]  # fmt: skip
    for c in places:
        if _is_ergo(c):
            return c.resolve()
    return None


def anchor_missing_message(root: Path = ROOT) -> str:
    """Why Ergo is skipped, and how to point the bench at a build."""
    if ANCHORS_OVERRIDE is not None:
        where = f"{ANCHORS_OVERRIDE}/ergo (from --anchors/${ANCHORS_ENV})"
    else:
        where = ", ".join(str(c / "ergo") for c in anchor_candidates(root))
    return (
        f"skipping Ergo: no build (run.sh and the ergo binary) at {where}; pass --anchors DIR "
        f"or set {ANCHORS_ENV}=DIR (a folder holding ergo/), see bench/README.md"
    )


def _ergo(port: int, d: Path) -> list[str]:
    where = anchor_dir()
    if where is None:
        raise RuntimeError(anchor_missing_message())
    # run.sh writes ircd.yaml from its ergo.yaml (fakelag off, max-sendq 64m, no hostname
    # lookups or ident, loopback exempt from the per-IP limits: Ergo's default.yaml otherwise)
    # and execs ergo, so the pinned pid is Ergo's
    return ["bash", str(where / "run.sh"), str(port), str(d / "ergo")]


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0][:60] if text else "?"


def _deb_version(pkg: str) -> str:
    return _version(["dpkg-query", "-W", "-f=${Version}", pkg])


SERVERS = {
    "ours": ServerSpec(
        "ours",
        "ours (messenger-ircd)",
        history=True,
        cmd_for=_ours,
        note="real config (journal, fsync everysec), rate limits raised",
    ),
    "ngircd": ServerSpec(
        "ngircd",
        "ngIRCd",
        cmd_for=_ngircd,
        note="MaxPenaltyTime = 0 (no penalties), no DNS/ident; its 32 KiB output limit per "
        "client is compiled in",
    ),
    "inspircd": ServerSpec(
        "inspircd",
        "InspIRCd",
        cmd_for=_inspircd,
        note="fakelag off, commandrate/threshold raised, sendq 1 GiB hard, recvq 1 MiB, "
        "netbuffersize 64 KiB, no DNS",
    ),
    "ergo": ServerSpec(
        "ergo",
        "Ergo",
        cmd_for=_ergo,
        note="its ergo.yaml: fakelag off, max-sendq 64m, no DNS/ident, loopback exempt from "
        "IP limits",
    ),
    "miniircd": ServerSpec(
        "miniircd",
        "miniircd",
        max_clients=1015,
        cmd_for=_miniircd,
        note="select(): at most ~1020 sockets; no flood control or DNS to turn off",
    ),
}


def start_server(spec: ServerSpec, server_cpu: str | None, workdir: Path) -> RunningServer:
    """Start one server of ``spec`` on a free port, pinned to ``server_cpu``, from a fresh
    temp dir under ``workdir`` (removed at stop); ready when its port accepts a connection."""
    port = free_port()
    d = Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-", dir=workdir))
    argv = spec.cmd_for(port, d)
    return RunningServer(argv, port, d, cpu=server_cpu, name=spec.name, start_timeout=15,
                         cleanup=True)  # fmt: skip


# ---------------------------------------------------------------------- scenarios


@dataclass
class Case:
    key: str  # result key, e.g. "fanout_1000"
    scenario: str
    args: list[str]
    timeout: float
    needs_history: bool = False
    clients: int = 0  # sockets the case needs at once (for servers with a hard cap)
    extra: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # cases of one group run interleaved, run by run (default: the key)
    rounds: int = 1  # times the generator repeats the timed part in one run (its time bound)


# connect at the small size: this many bursts of fresh clients per run (loadgen --bursts);
# one burst of 1000 lasts ~0.3 s on our server, too short to compare commits with one figure
CONNECT_BURSTS = 5
# the latency probes' placement in the channel's join order (loadgen --probe-placement):
# the tabled figure's; others asked for with --latency-probes run as extra cases beside it
LATENCY_PROBES = "spread"


def cases(quick: bool, probe_placements: tuple[str, ...] = (LATENCY_PROBES,)) -> list[Case]:
    """The cases of a run. ``probe_placements``: the latency probes' placements; the tabled
    ``latency_<rate>`` keys use LATENCY_PROBES, any other gets ``latency_<rate>_<placement>``
    in the same group (run interleaved with it)."""
    if quick:
        c_small, c_big, rx, fan_msgs, lat_s, priv_msgs = 200, 1000, 100, 2000, 1.5, 20000
    else:
        c_small, c_big, rx, fan_msgs, lat_s, priv_msgs = 1000, 10000, 1000, 10000, 10.0, 200000
    placements = [LATENCY_PROBES] if LATENCY_PROBES in probe_placements else []
    placements += [p for p in probe_placements if p not in placements]
    latency = []
    for rate in (200, 2000):
        for p in placements:
            key = f"latency_{rate}" + ("" if p == LATENCY_PROBES else f"_{p}")
            latency.append(
                Case(key, "latency",
                     ["--rate", str(rate), "--seconds", str(lat_s), "--probe-placement", p],
                     60, clients=101, group=f"latency_{rate}")
            )  # fmt: skip
    return [
        Case(
            f"connect_{c_small}",
            "connect",
            ["--clients", str(c_small), "--bursts", str(CONNECT_BURSTS)],
            30,
            clients=c_small,
            rounds=CONNECT_BURSTS,
        ),
        Case(f"connect_{c_big}", "connect", ["--clients", str(c_big)], 60, clients=c_big),
        Case(
            f"fanout_{rx}",
            "fanout",
            ["--receivers", str(rx), "--messages", str(fan_msgs)],
            60,
            clients=rx + 4,
        ),
        *latency,
        Case(
            "private", "private", ["--pairs", "100", "--messages", str(priv_msgs)], 60, clients=200
        ),
        Case("history", "history", ["--unread", "1000"], 60, needs_history=True, clients=2),
    ]


def run_case(
    spec: ServerSpec, case: Case, gen_cpu: str, server_cpu: str, workdir: Path
) -> dict[str, Any]:
    if case.needs_history and not spec.history:
        return {"na": "no history/unread replay"}
    if spec.max_clients is not None and case.clients > spec.max_clients:
        return {"na": spec.note}
    srv = start_server(spec, server_cpu, workdir)
    try:
        argv = [
            "taskset",
            "-c",
            gen_cpu,
            sys.executable,
            str(BENCH / "loadgen.py"),
            case.scenario,
            "--port",
            str(srv.port),
            "--server-pid",
            str(srv.pid),
            "--timeout",
            str(case.timeout),
            *case.args,
        ]
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True,
                timeout=case.timeout * (2 + case.rounds) + 60,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"error": "generator timed out"}
        alive = srv.proc.poll() is None
        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
        if not lines:
            return {"error": f"generator failed: {out.stderr.strip()[-400:]}"}
        res: dict[str, Any] = json.loads(lines[-1])
        if not alive:
            res["server_died"] = True
            res["server_log"] = srv.tail()[-300:]
        return res
    finally:
        srv.stop()


def case_groups(all_cases: list[Case], only: set[str]) -> list[list[Case]]:
    """The cases to run (``only``: these keys; empty: all), in groups run interleaved: the
    cases of one ``group`` (e.g. a latency case under two probe placements) take turns run by
    run, so each pair of runs shares the same minutes of the machine."""
    groups: dict[str, list[Case]] = {}
    for c in all_cases:
        if only and c.key not in only and (c.group or c.key) not in only:
            continue
        groups.setdefault(c.group or c.key, []).append(c)
    return list(groups.values())


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r and "na" not in r]
    if not ok:
        return dict(runs[0]) if runs else {}
    out: dict[str, Any] = {}
    for k in ok[0]:
        vals = [r.get(k) for r in ok]
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if k.endswith("_bursts") and all(isinstance(v, list) for v in vals):
            out[k] = [x for v in vals for x in v]  # every burst of every run
        elif nums and len(nums) == len(vals):
            # extremes stay extremes over the runs (the slowest burst of all, the most
            # disturbed window); anything else is the median
            if k.endswith("_min"):
                m = min(nums)
            elif k.endswith("_max") or k.endswith("_max_pct"):
                m = max(nums)
            else:
                m = statistics.median(nums)
            out[k] = round(m, 3) if isinstance(m, float) else m
        else:
            out[k] = vals[0]
    out["runs"] = len(ok)
    if len(ok) < len(runs):
        out["failed_runs"] = len(runs) - len(ok)
    return out


# ---------------------------------------------------------------------- report


def _fmt(v: Any, unit: str = "", digits: int = 0) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, (int, float)):
        if unit == "M/s":
            return f"{v / 1e6:.2f} M/s"
        if unit == "k/s":
            return f"{v / 1e3:.0f} k/s"
        return f"{v:,.{digits}f}{unit}"
    return str(v)


# generator-bound: the generator's core is (nearly) full while the server still has headroom;
# the figure then says what the generator managed, a bound on what the server can do
GEN_FULL_PCT = 90.0
SERVER_HEADROOM_PCT = 80.0


def generator_bound(res: dict[str, Any]) -> bool:
    """True when the generator, not the server, limited this run: the generator at
    >= GEN_FULL_PCT of its core and the server below SERVER_HEADROOM_PCT of its own (without a
    server figure, the generator at >= 95 %)."""
    gen = res.get("gen_cpu_pct")
    if not isinstance(gen, (int, float)):
        return False
    srv = res.get("server_cpu_pct")
    if not isinstance(srv, (int, float)):
        return gen >= 95.0
    return gen >= GEN_FULL_PCT and srv < SERVER_HEADROOM_PCT


# other processes took more than this share of the server's core during the window: the
# figure says more about the machine than about the server (marked †)
DISTURBED_PCT = 20.0


def disturbed(res: dict[str, Any]) -> bool:
    others = res.get("server_core_others_pct")
    return isinstance(others, (int, float)) and others > DISTURBED_PCT


def cell(res: dict[str, Any], metric: str, unit: str = "", digits: int = 0,
         lower_is_better: bool = False) -> str:  # fmt: skip
    if not res:
        return "—"
    if "na" in res:
        return "n/a"
    if "error" in res:
        return "error"
    v = res.get(metric)
    text = _fmt(v, unit, digits)
    if res.get("lost"):
        text += f" ({res['lost']} lost)"
    if v is not None and generator_bound(res):
        # a throughput is then a lower bound of the server's; a latency an upper bound
        text = ("≤ " if lower_is_better else "≥ ") + text
    if v is not None and disturbed(res):
        text += " †"
    return text


def range_cell(res: dict[str, Any], metric: str) -> str:
    """``min – max`` of ``metric`` over the bursts of every run (``—`` without bursts)."""
    lo, hi = res.get(f"{metric}_min"), res.get(f"{metric}_max")
    if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
        return "—"
    n = len(res.get(f"{metric}_bursts") or [])
    return f"{lo:,.0f} – {hi:,.0f}" + (f" ({n} burst{'s' if n != 1 else ''})" if n else "")


def cost_cell(res: dict[str, Any]) -> str:
    """The server's CPU µs per joined client (median burst of each run, median of the runs):
    a busy machine stretches it far less than the clients/s."""
    v = res.get("server_us_per_client_median", res.get("server_us_per_client"))
    if "na" in res or "error" in res or not isinstance(v, (int, float)):
        return "—"
    return f"{v:,.0f} µs"


def cpu_cell(res: dict[str, Any]) -> str:
    """``server / generator`` CPU % of one result (``?`` where unknown)."""
    if not res or "na" in res or "error" in res:
        return "—"

    def pct(k: str) -> str:
        v = res.get(k)
        return f"{v:.0f}" if isinstance(v, (int, float)) else "?"

    return f"{pct('server_cpu_pct')} / {pct('gen_cpu_pct')}"


def table(results: dict[str, dict[str, dict[str, Any]]], names: list[str], quick: bool) -> str:
    keys = {c.key: c for c in cases(quick)}
    ck_small, ck_big = (
        next(k for k in keys if k.startswith("connect_")),
        [k for k in keys if k.startswith("connect_")][1],
    )
    fk = next(k for k in keys if k.startswith("fanout_"))
    rows = [
        (f"fan-out, {fk.split('_')[1]} receivers (deliveries/s)", fk, "deliveries_per_s", "M/s", 0),
        (f"connect {ck_small.split('_')[1]}: clients/s", ck_small, "clients_per_s", "", 0),
        (f"connect {ck_big.split('_')[1]}: s until all joined", ck_big, "all_joined_s", " s", 2),
        (f"connect {ck_big.split('_')[1]}: clients/s", ck_big, "clients_per_s", "", 0),
        (f"RSS per joined connection (connect {ck_big.split('_')[1]})", ck_big,
         "rss_per_conn_kib", " KiB", 1),
        ("latency p50 @200/s, 100 members", "latency_200", "p50_ms", " ms", 2),
        ("latency p99 @200/s, 100 members", "latency_200", "p99_ms", " ms", 2),
        ("latency max @200/s, 100 members", "latency_200", "max_ms", " ms", 2),
        ("latency p50 @2000/s, 100 members", "latency_2000", "p50_ms", " ms", 2),
        ("latency p99 @2000/s, 100 members", "latency_2000", "p99_ms", " ms", 2),
        ("latency max @2000/s, 100 members", "latency_2000", "max_ms", " ms", 2),
        ("private messages/s (100 pairs)", "private", "messages_per_s", "k/s", 0),
        ("history: 1000 unread, time to full replay", "history", "replay_ms", " ms", 1),
    ]  # fmt: skip
    head = "| scenario | " + " | ".join(SERVERS[n].label for n in names) + " |"
    sep = "|---|" + "---|" * len(names)
    out = [head, sep]
    for label, key, metric, unit, digits in rows:
        low = metric.endswith("_ms") or metric.endswith("_s") or metric.endswith("_kib")
        cells = [cell(results.get(n, {}).get(key, {}), metric, unit, digits, low) for n in names]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
        if key == ck_small and metric == "clients_per_s":
            cells = [range_cell(results.get(n, {}).get(key, {}), metric) for n in names]
            out.append(f"| connect {ck_small.split('_')[1]}: slowest – fastest burst (clients/s) | "
                       + " | ".join(cells) + " |")  # fmt: skip
            cells = [cost_cell(results.get(n, {}).get(key, {})) for n in names]
            out.append(f"| connect {ck_small.split('_')[1]}: server CPU per joined client | "
                       + " | ".join(cells) + " |")  # fmt: skip
    for label, key in (
        ("fan-out", fk),
        ("private", "private"),
        (f"connect {ck_small.split('_')[1]}", ck_small),
        (f"connect {ck_big.split('_')[1]}", ck_big),
        ("latency @2000/s", "latency_2000"),
    ):
        cells = [cpu_cell(results.get(n, {}).get(key, {})) for n in names]
        out.append(f"| CPU % server / generator, {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def targets(results: dict[str, dict[str, dict[str, Any]]], quick: bool) -> list[tuple[str, str]]:
    ours = results.get("ours", {})
    insp = results.get("inspircd", {})
    ngi = results.get("ngircd", {})
    keys = [c.key for c in cases(quick)]
    ck_small, ck_big = [k for k in keys if k.startswith("connect_")]
    fk = next(k for k in keys if k.startswith("fanout_"))
    out: list[tuple[str, str]] = []

    def g(d: dict[str, Any], k: str, m: str) -> Any:
        return d.get(k, {}).get(m)

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("**met**" if ok else "**NOT met**")

    a, b = g(ours, fk, "deliveries_per_s"), g(insp, fk, "deliveries_per_s")
    out.append(
        (f"fan-out {fk.split('_')[1]} ≥ InspIRCd ({_fmt(a, 'M/s')} vs {_fmt(b, 'M/s')})",
         verdict(None if a is None or b is None else a >= b))
    )  # fmt: skip
    a = g(ours, ck_small, "clients_per_s")
    out.append((f"connect {ck_small.split('_')[1]} ≥ 3000 clients/s ({_fmt(a)})",
                verdict(None if a is None else a >= 3000)))  # fmt: skip
    a, lost = g(ours, ck_big, "all_joined_s"), g(ours, ck_big, "lost")
    out.append(
        (f"connect {ck_big.split('_')[1]} all joined ≤ 10 s, none lost ({_fmt(a, ' s', 2)}, "
         f"{lost} lost)", verdict(None if a is None else a <= 10 and not lost))
    )  # fmt: skip
    a = g(ours, ck_big, "rss_per_conn_kib")
    out.append((f"RSS per joined connection ≤ 8 KiB ({_fmt(a, ' KiB', 1)})",
                verdict(None if a is None else a <= 8)))  # fmt: skip
    a = g(ours, "latency_200", "p99_ms")
    out.append((f"latency p99 @200/s ≤ 2 ms ({_fmt(a, ' ms', 3)})",
                verdict(None if a is None else a <= 2)))  # fmt: skip
    ergo = results.get("ergo", {})
    a, b = g(ours, "private", "messages_per_s"), g(ergo, "private", "messages_per_s")
    out.append(
        (f"private messages/s ≥ 2 × Ergo ({_fmt(a, 'k/s')} vs {_fmt(b, 'k/s')})",
         verdict(None if a is None or b is None else a >= 2 * b))
    )  # fmt: skip
    a, b = g(ours, "private", "messages_per_s"), g(ngi, "private", "messages_per_s")
    out.append(
        (f"private messages/s ≥ ngIRCd (stretch; {_fmt(a, 'k/s')} vs {_fmt(b, 'k/s')})",
         verdict(None if a is None or b is None else a >= b))
    )  # fmt: skip
    for lk in ("latency_200", "latency_2000"):
        a, b = g(ours, lk, "p99_ms"), g(insp, lk, "p99_ms")
        out.append(
            (f"latency p99 @{lk.split('_')[1]}/s ≤ InspIRCd ({_fmt(a, ' ms', 2)} vs "
             f"{_fmt(b, ' ms', 2)})", verdict(None if a is None or b is None else a <= b))
        )  # fmt: skip
    for k in (fk, "private"):
        r = ours.get(k, {})
        if r and generator_bound(r):
            out.append((f"{k}: the generator was the limit (server {cpu_cell(r)} generator "
                        "CPU %): ours is a lower bound", "note"))  # fmt: skip
    return out


def chart(
    results: dict[str, dict[str, dict[str, Any]]], names: list[str], quick: bool, path: Path
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart (run bench/setup.sh)", file=sys.stderr)
        return False
    keys = [c.key for c in cases(quick)]
    ck_small, ck_big = [k for k in keys if k.startswith("connect_")]
    fk = next(k for k in keys if k.startswith("fanout_"))
    panels = [
        (fk, "deliveries_per_s", 1e-6, f"fan-out {fk.split('_')[1]}: M deliveries/s ↑"),
        (ck_small, "clients_per_s", 1, f"connect {ck_small.split('_')[1]}: clients/s ↑"),
        (ck_big, "all_joined_s", 1, f"connect {ck_big.split('_')[1]}: s until all joined ↓"),
        (ck_big, "rss_per_conn_kib", 1, "RSS per joined connection, KiB ↓"),
        ("latency_200", "p99_ms", 1, "latency p99 @200/s, ms ↓"),
        ("latency_2000", "p99_ms", 1, "latency p99 @2000/s, ms ↓"),
        ("private", "messages_per_s", 1e-3, "private: k messages/s ↑"),
        ("history", "replay_ms", 1, "history: 1000 unread, ms ↓"),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    colors = {"ours": "#d62728", "ngircd": "#1f77b4", "inspircd": "#2ca02c", "ergo": "#ff7f0e",
              "miniircd": "#9467bd"}  # fmt: skip
    for ax, (key, metric, scale, title) in zip(axes.flat, panels, strict=True):
        labels, vals, cols = [], [], []
        for n in names:
            r = results.get(n, {}).get(key, {})
            v = r.get(metric)
            labels.append(SERVERS[n].label.split(" ")[0])
            vals.append(v * scale if isinstance(v, (int, float)) else 0)
            cols.append(colors.get(n, "grey"))
        bars = ax.bar(labels, vals, color=cols)
        for bar, n in zip(bars, names, strict=True):
            r = results.get(n, {}).get(key, {})
            note = "n/a" if "na" in r or not r else ("err" if "error" in r else "")
            if r.get("lost"):
                note = f"{r['lost']} lost"
            if note:
                ax.annotate(note, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"IRC server benchmark, {dt.date.today().isoformat()} (server on core 0, "
                 "generator on core 1; medians)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem} RAM; Linux {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def write_readme(doc: dict[str, Any], names: list[str]) -> None:
    res = doc["results"]
    quick = doc["quick"]
    lines = [
        START,
        f"Latest run: **{doc['date']}** on {doc['machine']}.",
        "",
        f"Command: `{doc['command']}` (repeat {doc['repeat']}, medians"
        f"{'; --quick sizes' if quick else ''}).",
        "",
        "Versions: "
        + "; ".join(f"{SERVERS[n].label} {doc['versions'].get(n, '?')}" for n in names),
        "",
        table(res, names, quick),
        "",
        f"A `≥` before a figure: the generator was the limit (its core ≥ {GEN_FULL_PCT:.0f} % "
        f"busy, the server's < {SERVER_HEADROOM_PCT:.0f} %), so the figure is a lower bound of "
        "the server's (`≤` for a latency: an upper bound). `CPU % server / generator`: each "
        "process's CPU time over the measured window (100 = one core). "
        f"`†`: other processes took > {DISTURBED_PCT:.0f} % of the server's core during the "
        "window (a busy machine: the figure is not the server's). "
        "`n/a`: the server cannot do this (miniircd: select(), ~1020 sockets; no server but ours "
        "has accounts with unread replay).",
        "",
        "Targets (ours):",
        "",
    ]
    for text, verdict in targets(res, quick):
        lines.append(f"- {text}: {verdict}")
    lines += ["", "Anchor configuration:", ""]
    lines += [f"- {SERVERS[n].label}: {doc['notes'].get(n, '')}" for n in names if n in SERVERS]
    lines += ["", "![benchmark chart](results/latest.png)", "", END]
    block = "\n".join(lines)
    text = README.read_text() if README.exists() else "# Benchmarks\n\n" + START + "\n" + END + "\n"
    if START in text and END in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text += "\n" + block + "\n"
    README.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (median); default 3")
    ap.add_argument("--servers", default="ours,ngircd,inspircd,ergo,miniircd")
    ap.add_argument("--only", default="", help="comma-separated case keys (default: all)")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--gen-cpu", default="1")
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    ap.add_argument(
        "--baseline",
        default="",
        help="also run our server as of this commit (server 'base', from git archive), "
        "for old-vs-new figures in one run",
    )
    ap.add_argument(
        "--latency-probes",
        default=LATENCY_PROBES,
        help="comma-separated latency probe placements (loadgen --probe-placement: spread, "
        f"first, all); {LATENCY_PROBES!r} gives the tabled latency_<rate> keys, any other "
        "extra keys latency_<rate>_<placement>, run interleaved with them "
        "(e.g. spread,first: the old placement beside the new)",
    )
    ap.add_argument(
        "--anchors",
        default=os.environ.get(ANCHORS_ENV, ""),
        help=f"the folder holding the Ergo build (ergo/run.sh, ergo/ergo); default "
        f"${ANCHORS_ENV}, else {ANCHORS_REL} beside this checkout, its main worktree or the "
        "local repository it was cloned from",
    )
    ap.add_argument(
        "--check-anchors", action="store_true", help="say where Ergo is found, and exit"
    )
    ap.add_argument("--no-readme", action="store_true", help="don't rewrite bench/README.md")
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the chart and README table from --out (no benchmark is run)",
    )
    a = ap.parse_args(argv)
    global ANCHORS_OVERRIDE
    ANCHORS_OVERRIDE = Path(a.anchors).expanduser() if a.anchors else None
    if a.check_anchors:
        where = anchor_dir()
        print(f"Ergo anchor: {where}" if where else anchor_missing_message())
        return 0 if where else 1
    placements = tuple(p for p in a.latency_probes.split(",") if p)
    bad = [p for p in placements if p not in ("spread", "first", "all")]
    if bad or not placements:
        raise SystemExit(f"--latency-probes: unknown placement(s) {bad}; known: spread,first,all")
    if a.render_only:
        doc: dict[str, Any] = json.loads(Path(a.out).read_text())
        names = list(doc["results"])
        chart(doc["results"], names, doc["quick"], Path(a.out).with_suffix(".png"))
        write_readme(doc, names)
        print(table(doc["results"], names, doc["quick"]))
        return 0
    names = [n for n in a.servers.split(",") if n]
    base_dir: Path | None = None
    if a.baseline:
        base_dir = Path(tempfile.mkdtemp(prefix="ircbench-base-"))
        tree = base_dir / "tree"
        sha = export_commit(a.baseline, tree)
        SERVERS["base"] = ServerSpec(
            "base",
            f"ours@{sha[:7]}",
            history=True,
            cmd_for=lambda port, d: _ours(port, d, tree),
            note=f"our server as of {sha[:12]} (same config changes)",
        )
        names.insert(names.index("ours") + 1 if "ours" in names else 0, "base")
    for n in names:
        if n not in SERVERS:
            raise SystemExit(f"unknown server {n!r}; known: {', '.join(SERVERS)}")
    if "ergo" in names and anchor_dir() is None:
        print(anchor_missing_message(), file=sys.stderr)
        names.remove("ergo")
    only = {x for x in a.only.split(",") if x}
    with contextlib.suppress(ValueError, OSError):
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(20000, hard), hard))
    versions = {
        "ours": _version(
            [
                sys.executable,
                "-c",
                "import importlib.metadata as m;print(m.version('async-messenger-ircd'))",
            ]
        ),
        "ngircd": _deb_version("ngircd"),
        "inspircd": _deb_version("inspircd"),
        "miniircd": _version([_miniircd_exe(), "--version"]),
    }
    if "ergo" in names:
        where = anchor_dir()
        versions["ergo"] = _version([str(where / "ergo"), "--version"]) if where else "?"
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ircbench-"))
    doc = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": (
            "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        ).strip(),
        "quick": a.quick,
        "repeat": a.repeat,
        "server_cpu": a.server_cpu,
        "gen_cpu": a.gen_cpu,
        "versions": {n: versions.get(n, "?") for n in names},
        "notes": {n: SERVERS[n].note for n in names},
        "results": {},
        "raw": {},
    }
    if len(placements) > 1 or placements[0] != LATENCY_PROBES:
        doc["latency_probes"] = list(placements)
    t_start = time.monotonic()
    try:
        for group in case_groups(cases(a.quick, placements), only):
            for n in names:
                runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in group}
                for i in range(a.repeat):
                    for case in group:
                        if runs[case.key] and "na" in runs[case.key][-1]:
                            continue
                        t0 = time.monotonic()
                        try:
                            r = run_case(SERVERS[n], case, a.gen_cpu, a.server_cpu, workdir)
                        except RuntimeError as e:
                            r = {"error": str(e)[:400]}
                        runs[case.key].append(r)
                        brief = {
                            k: v for k, v in r.items() if k not in ("errors_sample", "server_log")
                        }
                        took = time.monotonic() - t0
                        print(
                            f"[{time.monotonic() - t_start:6.0f}s] {case.key:14} {n:9} run "
                            f"{i + 1}: {json.dumps(brief)} ({took:.1f}s)",
                            flush=True,
                        )
                for key, rs in runs.items():
                    doc["raw"].setdefault(n, {})[key] = rs
                    doc["results"].setdefault(n, {})[key] = median_of(rs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if base_dir is not None:
            shutil.rmtree(base_dir, ignore_errors=True)
    doc["elapsed_s"] = round(time.monotonic() - t_start, 1)
    out = Path(a.out)
    # other scripts' sections of latest.json (bench/bigstate.py: "bigstate") are kept
    with contextlib.suppress(OSError, ValueError):
        prev = json.loads(out.read_text())
        for k in ("bigstate", "logins"):
            if k in prev and k not in doc:
                doc[k] = prev[k]
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    png = out.with_suffix(".png")
    if chart(doc["results"], names, a.quick, png):
        print(f"wrote {png}")
    if not a.no_readme and not only:
        write_readme(doc, names)
        print(f"wrote {README}")
    print()
    print(table(doc["results"], names, a.quick))
    for text, verdict in targets(doc["results"], a.quick):
        print(f"- {text}: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
