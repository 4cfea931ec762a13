"""bench/auth_storm.py: its pure parts (percentiles, windows, verdicts, line and report
parsing, the generated config), and two of its scenarios in miniature against the in-process
server."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ircd.config import Config, OperatorConfig, default_config, load_config
from ircd.messenger.passwords import hash_password
from ircd.server import Server
from tests.conftest import make_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import auth_storm

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert auth_storm.percentile(values, 50) == 50.0
    assert auth_storm.percentile(values, 99) == 99.0
    assert auth_storm.percentile(values, 100) == 100.0
    assert auth_storm.percentile(values, 0) == 1.0
    # 400 samples: p99 is the 396th, so the 4 largest lie above it
    big = [float(v) for v in range(400)]
    assert auth_storm.percentile(big, 99) == 395.0
    assert auth_storm.percentile([7.0], 99) == 7.0
    assert math.isnan(auth_storm.percentile([], 50))


def test_summarize_window_and_lost() -> None:
    ms = 1_000_000
    samples = [
        (5, 100 * ms),  # before the window
        (10, 1 * ms),
        (20, 3 * ms),
        (30, None),  # never answered
        (40, 2 * ms),
        (41, 900 * ms),  # after the window
    ]
    s = auth_storm.summarize(samples, 10, 40)
    assert s == {
        "pings": 4,
        "answered": 3,
        "lost": 1,
        "p50_ms": 2.0,
        "p99_ms": 3.0,
        "max_ms": 3.0,
    }
    empty = auth_storm.summarize(samples, 1000, 2000)
    assert empty["pings"] == 0 and empty["p99_ms"] is None and empty["max_ms"] is None


def test_verdict() -> None:
    ok = {"answered": 300, "lost": 0, "p99_ms": 19.9}
    assert auth_storm.verdict(ok) == "PASS"
    assert auth_storm.verdict({**ok, "p99_ms": 20.0}) == "FAIL"
    assert auth_storm.verdict({**ok, "lost": 1}) == "FAIL"
    assert auth_storm.verdict({"answered": 0, "lost": 0, "p99_ms": None}) == "FAIL"


def test_parse_line_and_pong_token() -> None:
    m = auth_storm.parse_line("@time=2026-01-01T00:00:00Z :irc.x PONG irc.x :b42\r\n")
    assert m == auth_storm.Msg("irc.x", "PONG", ("irc.x", "b42"))
    assert auth_storm.pong_token(m) == "b42"
    n = auth_storm.parse_line(":irc.x 464 nick :Password incorrect")
    assert n is not None and n.command == "464" and n.params == ("nick", "Password incorrect")
    assert auth_storm.pong_token(n) is None
    r = auth_storm.parse_line(":irc.x REGISTER SUCCESS u1 :Account u1 registered")
    assert r is not None and r.params[:2] == ("SUCCESS", "u1")
    assert auth_storm.parse_line("ping :x") == auth_storm.Msg("", "PING", ("x",))
    assert auth_storm.parse_line("\r\n") is None
    assert auth_storm.parse_line(":only.prefix") is None


def test_parse_bystander_output() -> None:
    report = {"samples": [[1, 2], [3, None]], "disconnected": False}
    text = "READY\nsome noise\n" + json.dumps(report) + "\n"
    doc = auth_storm.parse_bystander_output(text)
    assert doc["samples"] == [(1, 2), (3, None)]
    assert doc["disconnected"] is False
    with pytest.raises(ValueError):
        auth_storm.parse_bystander_output("READY\n")


def test_toml_dumps_round_trip() -> None:
    doc: dict[str, Any] = {
        "server": {"port": 9, "motd": 'say "hi" \\ é', "ping": 1.5, "on": True},
        "chat": {"words": ["a", "b"]},
        "operators": [{"name": "admin", "password_hash": "scrypt$1$2"}, {"name": "b"}],
    }
    assert tomllib.loads(auth_storm.toml_dumps(doc)) == doc
    with pytest.raises(ValueError):
        auth_storm.toml_dumps({"x": {"v": math.inf}})


def test_bench_config_applies_known_keys_only() -> None:
    shipped = {"server": {"port": 8000, "max_clients_per_ip": 64}, "accounts": {"x": 1}}
    known = {
        "server": {"port": 8000, "max_clients_per_ip": 64, "commands_per_second": 5.0},
        "accounts": {"x": 1, "login_failures_per_minute": 5},
    }
    overrides = {"server.max_clients_per_ip": 1000, "server.nope_per_second": 1, "y.z": 2}
    ops = [{"name": "admin", "password_hash": "h"}]
    cfg = auth_storm.bench_config(shipped, known, overrides, ops)
    assert cfg.doc["server"] == {"port": 8000, "max_clients_per_ip": 1000}
    assert cfg.doc["operators"] == ops
    assert cfg.applied == {"server.max_clients_per_ip": 1000}
    assert cfg.skipped == {"server.nope_per_second": 1, "y.z": 2}
    # limit-looking keys left alone are reported with their value (shipped, else default)
    assert cfg.unraised == {
        "server.commands_per_second": 5.0,
        "accounts.login_failures_per_minute": 5,
    }
    assert shipped["server"]["max_clients_per_ip"] == 64  # input untouched


def test_parse_set() -> None:
    got = auth_storm.parse_set(["a.b=10", "a.c = 2.5", "a.d=true", 'a.e="x y"', "a.f=word"])
    assert got == {"a.b": 10, "a.c": 2.5, "a.d": True, "a.e": "x y", "a.f": "word"}
    with pytest.raises(SystemExit):
        auth_storm.parse_set(["nodot=1"])


def test_generated_config_loads(tmp_path: Path) -> None:
    """The shipped messenger.toml with the bench's overrides is a valid config of this tree."""
    cfg = default_config()
    known = {
        f.name: dataclasses.asdict(getattr(cfg, f.name))
        for f in dataclasses.fields(cfg)
        if dataclasses.is_dataclass(getattr(cfg, f.name))
    }
    shipped = tomllib.loads((ROOT / "messenger.toml").read_text())
    pw_hash = hash_password("x-secret")
    bench = auth_storm.bench_config(
        shipped, known, auth_storm.OVERRIDES, [{"name": "admin", "password_hash": pw_hash}]
    )
    path = tmp_path / "bench.toml"
    path.write_text(auth_storm.toml_dumps(bench.doc))
    loaded = load_config(str(path), {})
    assert loaded.operators == (OperatorConfig("admin", pw_hash),)
    for dotted, value in bench.applied.items():
        section, key = dotted.split(".")
        assert getattr(getattr(loaded, section), key) == value


OPER_HASH = hash_password("right-one")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    cfg = make_config(tmp_path, server={"port": 0, "max_clients_per_ip": 1000})
    return dataclasses.replace(cfg, operators=(OperatorConfig("admin", OPER_HASH),))


async def test_accounts_and_oper_tiny(server: Server) -> None:
    conns: list[auth_storm.Conn] = []
    res = await auth_storm.scenario_accounts(server.port, 3, 10, conns)
    assert (res["clients"], res["ok"], res["errors"]) == (3, 3, 0), res
    assert res["t1_ns"] > res["t0_ns"] and res["duration_s"] > 0
    for c in conns:
        c.abort()
    res = await auth_storm.scenario_oper(server.port, 3, 10)
    assert res["replies"] == 3 and res["replies_by_command"] == {"464": 3}, res
    assert res["ended"].startswith("all replies") and not res["disconnected"]


async def test_login_rate_tiny(server: Server) -> None:
    """login_rate logs in again and again to existing accounts for its length."""
    conns: list[auth_storm.Conn] = []
    res = await auth_storm.scenario_accounts(server.port, 2, 10, conns)
    assert res["ok"] == 2, res
    for c in conns:
        c.abort()
    res = await auth_storm.scenario_login_rate(server.port, 2, 0.3, 2, 10)
    assert res["errors"] == 0, res
    assert res["ok"] >= 2 and res["logins_per_s"] > 0
    assert res["t1_ns"] > res["t0_ns"]
    assert res["ok"] / res["duration_s"] == pytest.approx(res["logins_per_s"], rel=0.01)
