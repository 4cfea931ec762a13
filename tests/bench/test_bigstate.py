"""bench/bigstate.py: the report logic (verdicts against the targets, the table) and the
state it builds, loaded back by the engine's own restore path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ircd.clock import FakeClock
from ircd.config import load_config
from ircd.server import restore, rules_from
from ircd.storage.store import FileStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bigstate

pytestmark = pytest.mark.timeout(60)


def _run(n: int, **kw: Any) -> dict[str, Any]:
    base = {"posts": n, "rss_per_post_b": 300.0, "restart_s": 1.0, "snapshot_stall_ms": 2.0,
            "snapshot_cpu_s": 0.01}  # fmt: skip
    return {**base, **kw}


def test_verdicts_all_met() -> None:
    got = dict(bigstate.verdicts([_run(10_000), _run(1_000_000, snapshot_cpu_s=0.02)]))
    assert list(got.values()) == ["met"] * 4, got


def test_verdicts_misses() -> None:
    runs = [
        _run(10_000, rss_per_post_b=1200.0),
        _run(1_000_000, restart_s=40.0, snapshot_stall_ms=900.0, snapshot_cpu_s=5.0),
    ]
    got = [v for _, v in bigstate.verdicts(runs)]
    assert got == ["NOT met"] * 4
    # a missing figure is n/a, never met
    got = [v for _, v in bigstate.verdicts([_run(10_000, rss_per_post_b=None, restart_s=None)])]
    assert got[0] == "n/a" and got[1] == "n/a"


def test_table_and_size_names() -> None:
    assert [bigstate._n(x) for x in (1000, 10_000, 1_000_000, 1234)] == ["1 k", "10 k", "1 M",
                                                                        "1234"]  # fmt: skip
    text = bigstate.table([_run(10_000, snapshot_bytes=2_500_000), _run(1_000_000)])
    assert text.splitlines()[0] == "| stored posts | 10 k | 1 M |"
    row = "| snapshot file after 1 change (KB; the posts are in segments) | 2,500.0 | n/a |"
    assert row in text
    assert "| RSS per stored post (B) | 300 | 300 |" in text


def test_built_state_loads_with_every_post_and_the_unread(tmp_path: Path) -> None:
    n = 3000
    cfg = bigstate.write_config(tmp_path, n, 3600.0)
    state = tmp_path / "state.json"
    info = bigstate.build_state(n, cfg, state)
    assert info["seq"] == n and info["last_ts"] > info["first_ts"]
    config = load_config(str(cfg), {})
    store = FileStore(str(state))
    loaded = store.load()
    assert loaded.snapshot is not None and loaded.events  # a snapshot and a journal after it
    assert loaded.segments and "segmented" in loaded.snapshot  # written as the server does
    m = restore(loaded, FakeClock(), rules_from(config), str(state))
    store.close()
    room = m.rooms["#general"]
    assert len(room.history) == n
    assert m.users["reader"].delivered_seq == n - bigstate.UNREAD
    assert len(m.unread("reader").rooms["#general"]) == bigstate.UNREAD
