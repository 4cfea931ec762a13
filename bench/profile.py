"""Profile our server under one benchmark scenario with py-spy (sampling, native-free).

    python bench/profile.py fanout --receivers 1000 --messages 10000
    python bench/profile.py connect --clients 5000
    python bench/profile.py private-inproc [--profile]   # CPU µs per private message, in process

Starts our server exactly as bench/run.py does (core 0, real config, limits raised), attaches
``py-spy record`` to it, runs the scenario with bench/loadgen.py on core 1, then prints the
functions with the most samples (self and inclusive) and keeps the collapsed stacks in
bench/results/profile-<scenario>.txt (input for any flame-graph tool). Bounded in time like
the suite.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import run  # the suite's server launcher


def summarize(collapsed: Path, top: int = 25) -> str:
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n_s = line.rpartition(" ")
        if not n_s.isdigit():
            continue
        n = int(n_s)
        frames = [f.split(" (")[0] + " " + f.split("(")[-1].split(":")[0].rsplit("/", 1)[-1]
                  for f in stack.split(";")]  # fmt: skip
        total += n
        if frames:
            self_n[frames[-1]] += n
        for f in set(frames):
            incl_n[f] += n
    out = [f"{total} samples", "", "self %  function"]
    out += [f"{100 * n / total:6.1f}  {f}" for f, n in self_n.most_common(top)]
    out += ["", "incl %  function"]
    out += [f"{100 * n / total:6.1f}  {f}" for f, n in incl_n.most_common(top)]
    return "\n".join(out)


def main() -> int:
    if sys.argv[1:2] == ["private-inproc"]:  # no sockets, no py-spy: bench/inproc.py
        import inproc

        return inproc.main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", choices=["connect", "fanout", "latency", "private", "history"])
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--tag", default="")
    ap.add_argument("--idle", action="store_true", help="also sample idle threads")
    a, rest = ap.parse_known_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy missing: run bench/setup.sh")
    workdir = Path(tempfile.mkdtemp(prefix="ircprof-"))
    srv = run.start_server(run.SERVERS["ours"], "0", workdir)
    name = a.scenario + (f"-{a.tag}" if a.tag else "")
    raw = run.RESULTS / f"profile-{name}.txt"
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "-p",
            str(srv.pid),
            "-r",
            str(a.rate),
            "-f",
            "raw",
            "-o",
            str(raw),
            *(["--idle"] if a.idle else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        gen = str(benchlib.BENCH / "loadgen.py")
        argv = ["taskset", "-c", "1", sys.executable, gen, a.scenario,
                "--port", str(srv.port), "--server-pid", str(srv.pid), *rest]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, timeout=400)
        print(out.stdout.strip() or out.stderr[-500:])
        time.sleep(0.5)
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if raw.exists():
        print(summarize(raw))
    else:
        print("no profile written", json.dumps({"raw": str(raw)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
