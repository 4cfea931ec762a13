"""Scale-out benchmark (issue 14, docs/scale-out.md): one node on the file backend vs one node
on Redis vs two nodes on Redis (clients spread over both by nick), with the same generator
(bench/loadgen.py): private messages/s, fan-out deliveries/s, latency p50/p99 at a fixed rate;
then where the time goes (the Redis round trips per pass, from Redis's own command stats).

    .venv/bin/python bench/scale.py                 # ~2 minutes; writes bench/results/scale.json
    .venv/bin/python bench/scale.py --quick         # smaller sizes

Everything runs on 127.0.0.1 only: a redis-server of its own (appendonly yes, appendfsync
everysec) on a free port in a temp folder, the nodes as ``python -m ircd`` processes with
generated configs (the shipped messenger.toml with the flood limits raised, as bench/run.py
does), restarted for every configuration. Every run is bounded in time and stops by itself.
On a 2-core machine the nodes, Redis and the generator share the cores: the figures compare
the configurations with each other, not with a deployment that gives each node its own cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
HOST = "127.0.0.1"

_RAISED = (
    ("messages_per_period", "1_000_000_000"),
    ("private_burst", "1_000_000_000"),
    ("private_per_second", "1_000_000_000.0"),
    ("max_clients_per_ip", "100000"),
    ("commands_per_second", "0"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {timeout} s")


def node_config(d: Path, name: str, port: int, redis_url: str | None) -> Path:
    src = (ROOT / "messenger.toml").read_text()
    for key, val in _RAISED:
        src, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {val}", src)
        if n != 1:
            raise SystemExit(f"messenger.toml: cannot raise {key}")
    src = re.sub(r"(?m)^port = 8000$", f"port = {port}", src, count=1)
    src = re.sub(r"(?ms)^(\[web\]\n.*?^port = ).*?$", r"\g<1>0", src, count=1)
    src = re.sub(r"(?m)^state_file = .*$", f'state_file = "{d / name}.json"', src, count=1)
    if redis_url is not None:
        src = re.sub(r"(?m)^backend = .*$", 'backend = "redis"', src, count=1)
        src = re.sub(r"(?m)^redis_url = .*$", f'redis_url = "{redis_url}"', src, count=1)
        src = re.sub(r"(?m)^node_name = .*$", f'node_name = "{name}"', src, count=1)
    path = d / f"{name}.toml"
    path.write_text(src)
    return path


class Redis:
    def __init__(self, d: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", HOST, "--dir", str(d), "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_port(self.port, self.proc, "redis-server")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_nodes(
    d: Path, n: int, redis: Redis | None, code: Path = ROOT
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """``n`` fresh nodes (the server of the checkout ``code``)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    procs, ports = [], []
    for i in range(n):
        port = free_port()
        cfg = node_config(d, f"node{i + 1}", port, redis.url if redis else None)
        log = open(d / f"node{i + 1}.log", "wb")  # noqa: SIM115 - the child keeps it
        p = subprocess.Popen(
            [sys.executable, "-m", "ircd", "--config", str(cfg), "--log-level", "WARNING"],
            cwd=d,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
        wait_port(port, p, f"node{i + 1}")
        procs.append(p)
        ports.append(port)
    return procs, ports


def stop_nodes(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def loadgen(scenario: str, ports: list[int], *args: str, timeout: float = 120) -> dict[str, Any]:
    cmd = [
        sys.executable, str(BENCH / "loadgen.py"), scenario, "--port", str(ports[0]),
        "--ports", ",".join(map(str, ports)), "--no-join", *args,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    try:
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        return {"error": (out.stderr or out.stdout)[-500:]}


def redis_calls(redis: Redis) -> dict[str, Any]:
    """Redis's own count and time per command (``INFO commandstats``)."""
    stats: dict[str, Any] = {}
    for line in redis.cli("INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_(\w+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)", line)
        if m:
            stats[m.group(1)] = {"calls": int(m.group(2)), "usec_per_call": float(m.group(4))}
    return stats


# commands a node sends itself (the others run inside its Lua scripts: XADD, HSET, GET...)
_ROUND_TRIPS = ("eval", "evalsha", "xread", "blpop", "xrange")


def round_trips(stats: dict[str, Any]) -> dict[str, Any]:
    """Redis round trips per appended pass (stream entry), from ``INFO commandstats``: every
    EVAL (append, turn, heartbeat), XREAD (the readers) and BLPOP (turn hand-offs, the keep
    thread), divided by the XADDs; and the time Redis spent in the EVALs per pass."""
    entries = stats.get("xadd", {}).get("calls", 0)
    if not entries:
        return {}
    calls = {k: stats[k]["calls"] for k in _ROUND_TRIPS if k in stats}
    evals = stats.get("eval", {})
    return {
        "entries": entries,
        "per_entry": round(sum(calls.values()) / entries, 2),
        **{f"{k}_per_entry": round(v / entries, 2) for k, v in calls.items()},
        "eval_us_per_entry": round(
            evals.get("calls", 0) * evals.get("usec_per_call", 0) / entries, 1
        ),
    }


def run(quick: bool, only: str = "") -> dict[str, Any]:
    pairs, messages = (20, 20000) if quick else (50, 100000)
    receivers = 100 if quick else 300
    out: dict[str, Any] = {}
    for short, label, nodes, backend in (
        ("file", "file, 1 node", 1, "file"),
        ("redis1", "redis, 1 node", 1, "redis"),
        ("redis2", "redis, 2 nodes", 2, "redis"),
    ):
        if only and short != only:
            continue
        with tempfile.TemporaryDirectory(prefix="ircd-scale-") as tmp:
            d = Path(tmp)
            redis = Redis(d) if backend == "redis" else None
            procs: list[subprocess.Popen[bytes]] = []
            try:
                res: dict[str, Any] = {}
                for scenario, args in (
                    ("private", ["--pairs", str(pairs), "--messages", str(messages)]),
                    ("fanout", ["--receivers", str(receivers), "--messages", "200"]),
                    ("latency", ["--rate", "200", "--members", "50", "--seconds", "5"]),
                ):
                    # fresh nodes on an empty state per scenario: a node that loaded the last
                    # scenario's 100 000 messages would snapshot them in the middle of this one
                    sd = d / scenario
                    sd.mkdir()
                    if redis is not None:
                        redis.cli("FLUSHALL")
                    procs, ports = start_nodes(sd, nodes, redis)
                    if redis is not None:
                        redis.cli("CONFIG", "RESETSTAT")
                    res[scenario] = loadgen(scenario, ports, *args)
                    if redis is not None:
                        res[scenario]["redis"] = stats = redis_calls(redis)
                        res[scenario]["round_trips"] = round_trips(stats)
                    stop_nodes(procs)
                    procs = []
                out[label] = res
                print(label, json.dumps(res), flush=True)
            finally:
                stop_nodes(procs)
                if redis is not None:
                    redis.stop()
    return out


CONFIGS = (("file", "file, 1 node", 1, "file"), ("redis1", "redis, 1 node", 1, "redis"),
           ("redis2", "redis, 2 nodes", 2, "redis"))  # fmt: skip
HEADLINE = {"private": "messages_per_s", "fanout": "deliveries_per_s", "latency": "p99_ms"}


def compare(against: Path, reps: int, quick: bool, only: str = "") -> dict[str, Any]:
    """This checkout's server against another checkout's (``--against``), on a shared machine:
    every scenario of every configuration run for one, then for the other, ``reps`` times over,
    each on a fresh Redis and fresh nodes; the medians of each figure."""
    pairs, messages = (20, 20000) if quick else (50, 100000)
    receivers = 100 if quick else 300
    scenarios = (
        ("private", ["--pairs", str(pairs), "--messages", str(messages)]),
        ("fanout", ["--receivers", str(receivers), "--messages", "200"]),
        ("latency", ["--rate", "200", "--members", "50", "--seconds", "5"]),
    )
    runs: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    for _ in range(reps):
        for short, label, nodes, backend in CONFIGS:
            if only and short != only:
                continue
            for scenario, args in scenarios:
                for version, code in (("this", ROOT), ("against", against)):
                    with tempfile.TemporaryDirectory(prefix="ircd-scale-") as tmp:
                        d = Path(tmp)
                        redis = Redis(d) if backend == "redis" else None
                        procs: list[subprocess.Popen[bytes]] = []
                        try:
                            procs, ports = start_nodes(d, nodes, redis, code)
                            res = loadgen(scenario, ports, *args)
                            if redis is not None:
                                res["round_trips"] = round_trips(redis_calls(redis))
                        finally:
                            stop_nodes(procs)
                            if redis is not None:
                                redis.stop()
                    got = runs.setdefault(label, {}).setdefault(scenario, {})
                    got.setdefault(version, []).append(res)
                    print(label, scenario, version, res.get(HEADLINE[scenario]), flush=True)
    out: dict[str, Any] = {}
    for label, by_scenario in runs.items():
        for scenario, by_version in by_scenario.items():
            for version, results in by_version.items():

                def median(key: str, rs: list[dict[str, Any]] = results) -> Any:
                    vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
                    return statistics.median(vals) if vals else None

                trips = [r["round_trips"]["per_entry"] for r in results if r.get("round_trips")]
                out.setdefault(label, {}).setdefault(scenario, {})[version] = {
                    HEADLINE[scenario]: median(HEADLINE[scenario]),
                    **({"p50_ms": median("p50_ms")} if scenario == "latency" else {}),
                    "round_trips_per_pass": statistics.median(trips) if trips else None,
                    "runs": [r.get(HEADLINE[scenario]) for r in results],
                }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="file, redis1 or redis2 (default: all three)")
    ap.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another checkout (e.g. from `git worktree add` or `git archive`): run both,\n"
        "interleaved, and print the medians (results/scale-compare.json)",
    )
    ap.add_argument("--reps", type=int, default=3, help="with --against: runs of each")
    a = ap.parse_args()
    if a.against is not None:
        cmp = compare(a.against.resolve(), a.reps, a.quick, a.only)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scale-compare.json").write_text(json.dumps(cmp, indent=1) + "\n")
        print(f"{'':16} {'scenario':9} {'this':>10} {'against':>10}   (median of {a.reps})")
        for label, by_scenario in cmp.items():
            for scenario, v in by_scenario.items():
                key = HEADLINE[scenario]
                this, other = v["this"][key], v["against"][key]
                print(f"{label:16} {scenario:9} {this!s:>10} {other!s:>10}   {key}")
        return 0
    results = run(a.quick, a.only)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"{'':16} {'private msg/s':>14} {'fanout deliv/s':>15} {'p50 ms':>8} {'p99 ms':>8}")
    for label, r in results.items():
        print(
            f"{label:16} {r['private'].get('messages_per_s', '-'):>14} "
            f"{r['fanout'].get('deliveries_per_s', '-'):>15} "
            f"{r['latency'].get('p50_ms', '-'):>8} {r['latency'].get('p99_ms', '-'):>8}"
        )
    print("Redis round trips per appended pass (private / fan-out / latency):")
    for label, r in results.items():
        if "round_trips" in r["private"]:
            trips = [
                str(r[k]["round_trips"].get("per_entry", "-"))
                for k in ("private", "fanout", "latency")
            ]
            print(f"  {label:16} {' / '.join(trips)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
