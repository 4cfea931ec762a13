"""bench/benchlib.py and bench/run.py's pure parts: /proc parsing, CPU windows, the lower-bound
rule and the table cells, the Ergo anchor lookup."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import benchlib
import run

pytestmark = pytest.mark.timeout(60)


def test_parse_proc_stat_counts_fields_after_the_last_paren() -> None:
    # a command name with spaces and a ')' must not shift the fields
    text = "4242 (we ird) name) S 17 4242 4242 0 -1 4194560 1 0 0 0 250 31 0 0 20 0 3 0 1 2 3"
    assert benchlib.parse_proc_stat(text) == (17, 250, 31)


def test_parse_cpu_stat_busy_excludes_idle_and_iowait() -> None:
    text = (
        "cpu  10 0 10 100 5 0 0 0 0 0\n"
        "cpu0 7 1 2 50 3 1 1 0 0 0\n"
        "cpu1 3 0 8 50 2 0 0 0 0 0\n"
        "intr 1 2 3\n"
    )
    got = benchlib.parse_cpu_stat(text)
    assert got == {0: (12, 65), 1: (11, 63)}


def test_proc_cpu_s_of_this_process_grows_with_work() -> None:
    c0 = benchlib.proc_cpu_s(os.getpid(), children=False)
    assert c0 is not None
    t = time.process_time()
    while time.process_time() - t < 0.05:
        pass
    c1 = benchlib.proc_cpu_s(os.getpid(), children=False)
    assert c1 is not None and c1 >= c0
    assert benchlib.proc_cpu_s(None) is None
    assert benchlib.proc_cpu_s(2**22 + 12345) is None  # no such process


def test_cpu_window_reports_none_for_a_missing_process() -> None:
    assert benchlib.CpuWindow(None).pct() is None
    w = benchlib.CpuWindow(os.getpid())
    t = time.process_time()
    while time.process_time() - t < 0.05:
        pass
    pct = w.pct()
    assert pct is not None and 0 < pct <= 100 * (os.cpu_count() or 1) + 5


def test_generator_bound_needs_a_full_generator_and_an_idle_server() -> None:
    gb = run.generator_bound
    assert gb({"gen_cpu_pct": 97, "server_cpu_pct": 60})
    assert not gb({"gen_cpu_pct": 97, "server_cpu_pct": 99})  # both full: the server's figure
    assert not gb({"gen_cpu_pct": 50, "server_cpu_pct": 40})  # neither: not generator-bound
    assert gb({"gen_cpu_pct": 96})  # no server figure: the old rule
    assert not gb({"gen_cpu_pct": 92})
    assert not gb({})


def test_cells_mark_bounds_in_the_right_direction() -> None:
    bound = {"deliveries_per_s": 4_300_000, "gen_cpu_pct": 98, "server_cpu_pct": 55}
    assert run.cell(bound, "deliveries_per_s", "M/s") == "≥ 4.30 M/s"
    lat = {"p99_ms": 1.5, "gen_cpu_pct": 98, "server_cpu_pct": 20}
    assert run.cell(lat, "p99_ms", " ms", 2, lower_is_better=True) == "≤ 1.50 ms"
    fair = {"deliveries_per_s": 4_300_000, "gen_cpu_pct": 70, "server_cpu_pct": 99, "lost": 3}
    assert run.cell(fair, "deliveries_per_s", "M/s") == "4.30 M/s (3 lost)"
    assert run.cell({"na": "x"}, "m") == "n/a" and run.cell({"error": "x"}, "m") == "error"
    assert run.cpu_cell({"gen_cpu_pct": 71.4, "server_cpu_pct": 99.6}) == "100 / 71"
    assert run.cpu_cell({"gen_cpu_pct": 71.4}) == "? / 71"
    assert run.cpu_cell({}) == "—"


def test_table_has_every_server_and_the_cpu_rows() -> None:
    res = {"fanout_100": {"deliveries_per_s": 1e6, "gen_cpu_pct": 50, "server_cpu_pct": 99}}
    text = run.table({"ours": res, "ergo": {"fanout_100": {"na": "x"}}}, ["ours", "ergo"], True)
    head = text.splitlines()[0]
    assert "Ergo" in head and "ours" in head
    assert "| CPU % server / generator, fan-out | 99 / 50 | — |" in text


def _ergo_build(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "run.sh").write_text("#!/bin/sh\n")
    (d / "ergo").write_text("")
    return d.resolve()


def test_anchor_dir_finds_a_build_relative_to_the_checkout(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    assert run.anchor_dir("ergo", root) is None  # absent: skipped
    d = tmp_path / "shared" / "anchors" / "ergo"
    d.mkdir(parents=True)
    (d / "run.sh").write_text("#!/bin/sh\n")
    assert run.anchor_dir("ergo", root) is None  # no binary yet
    (d / "ergo").write_text("")
    assert run.anchor_dir("ergo", root) == d.resolve()


def _git(cwd: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def test_anchor_dir_of_a_clone_elsewhere_looks_beside_its_origin(tmp_path: Path) -> None:
    """A clone in /tmp has no ../shared beside it: the build beside the local repository it
    was cloned from is found (and one beside the clone itself wins)."""
    src = tmp_path / "work" / "main"
    src.mkdir(parents=True)
    _git(src, "init", "-q")
    _git(src, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
         "-m", "x")  # fmt: skip
    clone = tmp_path / "elsewhere" / "clone"
    _git(tmp_path, "clone", "-q", str(src), str(clone))
    assert run.anchor_dir("ergo", clone) is None
    beside_origin = _ergo_build(tmp_path / "work" / "shared" / "anchors" / "ergo")
    assert run.anchor_dir("ergo", clone) == beside_origin
    beside_clone = _ergo_build(tmp_path / "elsewhere" / "shared" / "anchors" / "ergo")
    assert run.anchor_dir("ergo", clone) == beside_clone
    msg = run.anchor_missing_message(tmp_path / "nowhere")
    assert "--anchors" in msg and run.ANCHORS_ENV in msg


def test_anchor_dir_given_explicitly_is_the_only_place(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    _ergo_build(tmp_path / "shared" / "anchors" / "ergo")
    other = tmp_path / "mine"
    other.mkdir()
    assert run.anchor_dir("ergo", root, anchors=other) is None  # not the default place
    build = _ergo_build(other / "ergo")
    assert run.anchor_dir("ergo", root, anchors=other) == build  # the folder holding ergo/
    assert run.anchor_dir("ergo", root, anchors=other / "ergo") == build  # or the build


def test_latency_cases_with_two_placements_share_a_group() -> None:
    keys = {c.key: c for c in run.cases(False, ("first", "spread"))}
    assert keys["latency_200"].args[-2:] == ["--probe-placement", "spread"]
    assert keys["latency_200_first"].args[-2:] == ["--probe-placement", "first"]
    groups = run.case_groups(run.cases(False, ("spread", "first")), {"latency_200"})
    assert [[c.key for c in g] for g in groups] == [["latency_200", "latency_200_first"]]
    assert "latency_200_first" not in {c.key for c in run.cases(False)}
    (connect,) = [c for c in run.cases(False) if c.key == "connect_1000"]
    assert connect.args[-2:] == ["--bursts", str(run.CONNECT_BURSTS)]
    assert connect.rounds == run.CONNECT_BURSTS


def test_median_of_keeps_every_burst_and_the_extremes() -> None:
    runs = [
        {"clients_per_s": 3000.0, "clients_per_s_min": 2500.0, "clients_per_s_max": 3100.0,
         "clients_per_s_bursts": [2500.0, 3000.0, 3100.0], "server_core_others_max_pct": 4.0},
        {"clients_per_s": 2000.0, "clients_per_s_min": 1900.0, "clients_per_s_max": 2900.0,
         "clients_per_s_bursts": [1900.0, 2000.0, 2900.0], "server_core_others_max_pct": 30.0},
        {"clients_per_s": 2800.0, "clients_per_s_min": 2700.0, "clients_per_s_max": 2850.0,
         "clients_per_s_bursts": [2700.0, 2800.0, 2850.0], "server_core_others_max_pct": 1.0},
    ]  # fmt: skip
    m = run.median_of(runs)
    assert m["clients_per_s"] == 2800.0
    assert m["clients_per_s_min"] == 1900.0 and m["clients_per_s_max"] == 3100.0
    assert len(m["clients_per_s_bursts"]) == 9
    assert m["server_core_others_max_pct"] == 30.0
    assert run.range_cell(m, "clients_per_s") == "1,900 – 3,100 (9 bursts)"
    assert run.range_cell({"clients_per_s": 5.0}, "clients_per_s") == "—"
    one = {"clients_per_s_min": 7.0, "clients_per_s_max": 7.0, "clients_per_s_bursts": [7.0]}
    assert run.range_cell(one, "clients_per_s") == "7 – 7 (1 burst)"
    assert run.cost_cell({"server_us_per_client_median": 312.4}) == "312 µs"
    assert run.cost_cell({"server_us_per_client": 1234.0}) == "1,234 µs"
    assert run.cost_cell({"na": "x"}) == run.cost_cell({}) == "—"


def test_running_server_stops_and_reports_an_early_exit(tmp_path: Path) -> None:
    port = benchlib.free_port()
    with pytest.raises(RuntimeError, match="exited at start"):
        benchlib.RunningServer(
            [sys.executable, "-c", "print('boom')"], port, tmp_path / "x", start_timeout=10
        )
    code = (
        "import socket,time\n"
        f"s=socket.socket();s.bind(('127.0.0.1',{port}));s.listen()\n"
        "print('listening', flush=True)\n"
        "time.sleep(60)\n"
    )
    srv = benchlib.RunningServer(
        [sys.executable, "-c", code], port, tmp_path / "y", ready=benchlib.log_says(b"listening"),
        settle=0, cleanup=True,
    )  # fmt: skip
    assert srv.alive() and srv.pid > 0
    srv.stop(grace=5)
    assert not srv.alive()
    assert not (tmp_path / "y").exists()


def test_a_run_disturbed_by_other_work_is_marked() -> None:
    res = {"messages_per_s": 50_000, "server_cpu_pct": 40, "server_core_others_pct": 55}
    assert run.disturbed(res)
    assert run.cell(res, "messages_per_s", "k/s") == "50 k/s †"
    assert not run.disturbed({"server_core_others_pct": 3})
    assert not run.disturbed({})
