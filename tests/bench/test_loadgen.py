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


async def test_latency_probes_spread_over_the_join_order(server: Server) -> None:
    """The spread placement samples members from every part of the join order, each of them
    a real measurement (every message seen by every probe), and says so in the result."""
    res = await loadgen.run_scenario(
        "latency", "127.0.0.1", server.port, rate=200, members=10, seconds=0.1, probes=2
    )
    assert res["probe_placement"] == "spread" and res["probe_positions"] == [2, 7]
    assert res["samples"] == 2 * res["messages"] > 0 and res["lost"] == 0, res
    assert len(res["probe_p50_ms"]) == 2 and all(x > 0 for x in res["probe_p50_ms"])
    old = await loadgen.run_scenario(
        "latency", "127.0.0.1", server.port, rate=200, members=10, seconds=0.1, probes=2,
        placement="first",
    )  # fmt: skip
    assert old["probe_placement"] == "first" and old["probe_positions"] == [0, 1]


def test_probe_positions() -> None:
    pp = loadgen.probe_positions
    assert pp(100, 20) == list(range(2, 100, 5))  # every 5th, from the middle of each fifth
    assert pp(100, 20, "first") == list(range(20))
    assert pp(100, 20, "all") == list(range(100))
    assert pp(10, 20) == list(range(10))  # more probes than members: all of them
    got = pp(50, 20)
    assert len(set(got)) == 20 and got == sorted(got) and got[0] < 3 and got[-1] > 46
    assert pp(7, 0) == []
    with pytest.raises(ValueError):
        pp(10, 2, "last")


async def test_connect_bursts_summarized(server: Server) -> None:
    """Several bursts of fresh clients in one run: the median burst's figures, every burst's
    rate and the spread; the RSS is the first burst's."""
    res = await loadgen.run_scenario(
        "connect", "127.0.0.1", server.port, clients=8, timeout=10, settle=0, bursts=3
    )
    assert res["bursts"] == 3 and res["lost_total"] == 0 and res["joined"] == 8, res
    rates = res["clients_per_s_bursts"]
    assert len(rates) == 3 and all(r > 0 for r in rates)
    assert res["clients_per_s"] == sorted(rates)[1]
    assert res["clients_per_s_min"] == min(rates) and res["clients_per_s_max"] == max(rates)
    assert res["first_burst_clients_per_s"] == rates[0]
    assert len(res["idle_wait_s"]) == 2
    assert res["bursts_planned"] == 3 and res["stopped_on_loss"] is False
    assert "server_us_per_client" not in res  # no server pid here: no server CPU
    assert res["gen_us_per_client"] > 0


async def test_connect_bursts_stop_after_a_burst_that_lost_clients(server: Server) -> None:
    """A burst that loses clients ends the run's bursts (each such burst lasts the whole
    timeout): a nick of the first burst is already taken, so that client is refused (433)."""
    gen = loadgen.Gen("127.0.0.1", server.port)
    holder, errs = await loadgen.connect_many(gen, ["c0x3"], 1, 10)
    assert holder, errs
    try:
        res = await loadgen.scenario_connect(gen, clients=6, timeout=5, settle=0, bursts=3)
    finally:
        loadgen.close_all(holder)
    assert res["bursts"] == 1 and res["stopped_on_loss"] is True, res
    assert res["lost"] == res["lost_total"] == 1 and res["joined"] == 5
    assert "433" in " ".join(res["errors_sample"])


def test_summarize_bursts_takes_the_median_burst() -> None:
    bursts = [
        {"clients_per_s": 3000.0, "all_joined_s": 0.33, "lost": 0, "server_core_others_pct": 2},
        {"clients_per_s": 1500.0, "all_joined_s": 0.66, "lost": 1, "server_core_others_pct": 40},
        {"clients_per_s": 2500.0, "all_joined_s": 0.40, "lost": 0, "server_core_others_pct": 5},
        {"clients_per_s": 2000.0, "all_joined_s": 0.50, "lost": 0, "server_us_per_client": 90},
    ]
    for b, cost in zip(bursts, (100, 300, 110), strict=False):
        b["server_us_per_client"] = cost
    s = loadgen.summarize_bursts(bursts)
    assert s["clients_per_s"] == 2000.0 and s["all_joined_s"] == 0.50  # the lower middle one
    assert s["median_burst"] == 3 and s["bursts"] == 4 and s["lost_total"] == 1
    assert s["clients_per_s_bursts"] == [3000.0, 1500.0, 2500.0, 2000.0]
    assert s["clients_per_s_spread_pct"] == 75.0
    assert s["server_core_others_max_pct"] == 40
    assert s["server_us_per_client_bursts"] == [100, 300, 110, 90]
    assert s["server_us_per_client_median"] == 105
    assert loadgen.summarize_bursts([]) == {"bursts": 0}


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


async def test_fanout_tiny_both_readers(server: Server) -> None:
    """The C reader (when a compiler is there) and the Python one count the same deliveries."""
    for reader in ("c", "python"):
        res = await loadgen.run_scenario(
            "fanout", "127.0.0.1", server.port, receivers=3, messages=30, timeout=10,
            reader=reader, window=8,
        )  # fmt: skip
        assert res["lost"] == 0 and res["deliveries"] == 90, res
        want = "c" if reader == "c" and loadgen.build_rxcount() else "python"
        assert res["reader"] == want
        assert res["gen_us_per_delivery"] > 0


def test_c_reader_counts_lines_per_socket_and_answers_ping() -> None:
    """rxcount.c on socketpairs: lines per socket, the total, and PING -> PONG."""
    import socket
    import time

    exe = loadgen.build_rxcount()
    if exe is None:
        pytest.skip("no C compiler")

    class _T:  # the part of a transport CReader uses
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def pause_reading(self) -> None:
            pass

        def get_extra_info(self, name: str) -> socket.socket:
            return self.sock

    class _C:
        def __init__(self, sock: socket.socket) -> None:
            self.transport = _T(sock)

    pairs = [socket.socketpair() for _ in range(2)]
    r = loadgen.CReader(exe, [_C(b) for _, b in pairs])  # type: ignore[list-item]
    try:
        pairs[0][0].sendall(b"a\r\nb\r\n")
        pairs[1][0].sendall(b"PING :tok\r\n" + b"x\r\n" * 5)
        deadline = time.monotonic() + 5
        while r.total()[0] < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert r.total()[0] == 8
        assert r.per_client() == [2, 6]
        pairs[1][0].settimeout(5)
        assert pairs[1][0].recv(100) == b"PONG :tok\r\n"
    finally:
        r.stop()
        for a, b in pairs:
            a.close()
            b.close()


def test_pong_token_with_and_without_a_trailing_colon() -> None:
    """RFC 2812 3.7.3 / modern.ircdocs.horse PONG: the token is the last parameter, which
    servers send as a trailing parameter or not (Ergo: ``PONG server tok``)."""
    assert loadgen.pong_token(b":srv PONG srv :s12\r\n") == b"s12"
    assert loadgen.pong_token(b":ergo.test PONG ergo.test s12\r\n") == b"s12"
    assert loadgen.pong_token(b"PONG :ack-3") == b"ack-3"
