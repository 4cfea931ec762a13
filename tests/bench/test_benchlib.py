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


def test_anchor_dir_finds_a_build_relative_to_the_checkout(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    assert run.anchor_dir("../shared/anchors/ergo", root) is None  # absent: skipped
    d = tmp_path / "shared" / "anchors" / "ergo"
    d.mkdir(parents=True)
    (d / "run.sh").write_text("#!/bin/sh\n")
    assert run.anchor_dir("../shared/anchors/ergo", root) is None  # no binary yet
    (d / "ergo").write_text("")
    assert run.anchor_dir("../shared/anchors/ergo", root) == d.resolve()


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
