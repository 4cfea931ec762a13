"""The load generator works: tiny runs of each scenario against the in-process server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ircd.config import Config
from ircd.server import Server
from tests.conftest import make_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import loadgen

pytestmark = pytest.mark.timeout(60)

RAISED: dict[str, Any] = {
    "messages_per_period": 1_000_000,
    "private_burst": 1_000_000,
    "private_per_second": 1_000_000.0,
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, limits=RAISED, server={"port": 0, "max_clients_per_ip": 1000})


async def test_fanout_tiny(server: Server) -> None:
    res = await loadgen.run_scenario(
        "fanout", "127.0.0.1", server.port, receivers=3, messages=20, timeout=10
    )
    assert res["lost"] == 0, res
    assert res["messages"] == 20
    assert res["deliveries"] == 3 * 20
    assert res["deliveries_per_s"] > 0


async def test_connect_tiny(server: Server) -> None:
    res = await loadgen.run_scenario(
        "connect", "127.0.0.1", server.port, clients=10, timeout=10, server_pid=None, settle=0
    )
    assert res["joined"] == 10 and res["lost"] == 0, res
    assert res["clients_per_s"] > 0
    assert res["gen_cpu_pct"] >= 0


async def test_latency_tiny(server: Server) -> None:
    res = await loadgen.run_scenario(
        "latency", "127.0.0.1", server.port, rate=200, members=4, seconds=0.1, probes=2
    )
    assert res["lost"] == 0, res
    assert res["samples"] == 2 * res["messages"] > 0
    assert 0 < res["p50_ms"] <= res["p99_ms"] <= res["max_ms"]


async def test_private_tiny(server: Server) -> None:
    res = await loadgen.run_scenario(
        "private", "127.0.0.1", server.port, pairs=2, messages=40, timeout=10
    )
    assert res["lost"] == 0 and res["delivered"] == 40, res
    assert res["messages_per_s"] > 0


async def test_history_tiny(server: Server) -> None:
    res = await loadgen.run_scenario("history", "127.0.0.1", server.port, unread=30, timeout=10)
    assert res["replayed"] == 30, res
    assert res["replay_s"] is not None and res["replay_s"] > 0


def test_only_loopback() -> None:
    with pytest.raises(ValueError):
        loadgen.Gen("10.0.0.1", 6667)


def test_message_line_size() -> None:
    line = loadgen.message_line("#general", 100, "F")
    assert len(line) == 100 and line.endswith(b"\r\n")
    assert loadgen.percentile([1.0, 2.0, 3.0], 50) == 2.0
