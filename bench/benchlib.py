"""What the bench scripts share: starting a server under test (pinned, on loopback, from a
temp dir, stopped by itself), CPU accounting of a process, free ports, git exports.

Used by bench/run.py, bench/auth_storm.py, bench/bigstate.py, bench/profile.py and
bench/loadgen.py (the last only for :func:`proc_cpu_s`).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HOST = "127.0.0.1"  # loopback only, always


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pin(cpu: str | None) -> list[str]:
    """The argv prefix that pins a command to ``cpu`` (nothing when ``cpu`` is None)."""
    return ["taskset", "-c", cpu] if cpu is not None else []


def env_for(src: Path) -> dict[str, str]:
    """The environment that makes ``python -m ircd`` the server of the tree ``src``."""
    env = dict(os.environ)
    rest = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(src) + (os.pathsep + rest if rest else "")
    return env


def parse_proc_stat(text: str) -> tuple[int, int, int]:
    """(ppid, utime, stime) in clock ticks from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may hold spaces or ')' itself, so the
    fields are counted from the last ')'."""
    fields = text.rsplit(")", 1)[1].split()
    # after the name: state(3) ppid(4) ... utime(14) stime(15); fields[0] is field 3
    return int(fields[1]), int(fields[11]), int(fields[12])


def proc_cpu_s(pid: int | None, children: bool = True) -> float | None:
    """CPU seconds (user + system, all threads) of a process and, with ``children``, of its
    live direct child processes (a process pool). None when the process is gone."""
    if not pid:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    try:
        _pp, ut, st = parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return None
    total = ut + st
    if children:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == pid:
                continue
            try:
                ppid, ut, st = parse_proc_stat((entry / "stat").read_text())
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                total += ut + st
    return total / tick


def parse_cpu_stat(text: str) -> dict[int, tuple[int, int]]:
    """cpu number -> (busy, total) clock ticks from the text of /proc/stat (busy: all but
    idle and iowait; guest time is already inside user time)."""
    out: dict[int, tuple[int, int]] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        vals = [int(x) for x in rest.split()[:8]]
        total = sum(vals)
        out[int(name[3:])] = (total - vals[3] - vals[4], total)
    return out


def cpu_ticks() -> dict[int, tuple[int, int]]:
    try:
        return parse_cpu_stat(Path("/proc/stat").read_text())
    except OSError:
        return {}


def affinity(pid: int | None) -> set[int]:
    if not pid:
        return set()
    try:
        return set(os.sched_getaffinity(pid))
    except (OSError, AttributeError):
        return set()


class CoreLoad:
    """How busy a set of cores was over a window (100 = all of them busy), from /proc/stat:
    subtracting a process's own CPU % gives what *others* took from its cores."""

    def __init__(self, cpus: set[int]) -> None:
        self.cpus = cpus
        self.t0 = cpu_ticks()

    def busy_pct(self) -> float | None:
        t1 = cpu_ticks()
        busy = total = 0
        for c in self.cpus:
            if c in self.t0 and c in t1:
                busy += t1[c][0] - self.t0[c][0]
                total += t1[c][1] - self.t0[c][1]
        if not total:
            return None
        return round(100.0 * len(self.cpus) * busy / total, 1)


class CpuWindow:
    """The CPU % of another process over a window of wall time (100 % = one core busy)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.t0 = time.perf_counter()
        self.c0 = proc_cpu_s(pid)

    def pct(self, t_end: float | None = None) -> float | None:
        c1 = proc_cpu_s(self.pid)
        wall = (t_end or time.perf_counter()) - self.t0
        if self.c0 is None or c1 is None or wall <= 0:
            return None
        return round(100.0 * (c1 - self.c0) / wall, 1)


def _git(*args: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, timeout=10, check=False
        )
        if out.returncode == 0:
            return out.stdout.strip()
    return ""


def export_commit(rev: str, dest: Path) -> str:
    """Extract the tree of commit ``rev`` into ``dest`` (git archive; the checkout and the
    repository are left as they are); returns the full commit id."""
    sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    if not sha:
        raise SystemExit(f"{rev}: not a commit")
    dest.mkdir(parents=True)
    tar = subprocess.run(
        ["git", "archive", "--format=tar", sha], capture_output=True, cwd=ROOT, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as tf:
        tf.extractall(dest, filter="data")
    return sha


def wait_connectable(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class RunningServer:
    """One server process under test: ``argv`` started in ``workdir`` (its log in
    ``workdir/server.log``), pinned to ``cpu``, in its own session; ready when ``ready()`` is
    true (default: its port accepts a connection), bounded by ``start_timeout``.

    The pinning uses ``taskset`` (which execs the command), so :attr:`pid` is the server's;
    a wrapper script must ``exec`` the server for the same reason."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        workdir: Path,
        cpu: str | None = None,
        env: Mapping[str, str] | None = None,
        name: str = "server",
        ready: Callable[[RunningServer], bool] | None = None,
        start_timeout: float = 20.0,
        settle: float = 0.2,
        cleanup: bool = False,
    ) -> None:
        self.name = name
        self.cleanup = cleanup  # remove workdir at stop
        self.port = port
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.argv = [*pin(cpu), *argv]
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.started = time.monotonic()
        check = ready or (lambda s: wait_connectable(s.port))
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError(f"{name} exited at start: {self.tail()}")
            if check(self):
                self.ready_s = time.monotonic() - self.started
                if settle:
                    time.sleep(settle)  # a probe connection's close is handled before the run
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{name} did not get ready on port {port}: {self.tail()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def tail(self, n: int = 800) -> str:
        return self.text()[-n:]

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if not self.log.closed:
            self.log.close()
        if self.cleanup:
            shutil.rmtree(self.dir, ignore_errors=True)


def log_says(marker: bytes) -> Callable[[RunningServer], bool]:
    """A ``ready`` check: the server's log contains ``marker``."""

    def check(s: RunningServer) -> bool:
        with contextlib.suppress(OSError):
            return marker in s.log_path.read_bytes()
        return False

    return check
