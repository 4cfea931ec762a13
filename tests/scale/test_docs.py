"""docs/scale-out.md as an operator follows it: its node config (node1 as written, node2 with
the edits the doc names) and its HAProxy config, with the ports moved to free ones, run as
written (``python -m ircd --config``, ``haproxy -f``) in front of a real redis-server. Users
connecting through the balancer's one IRC address land on both nodes and chat; the web
messenger's WebSocket works through its web address."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TIMEOUT, RawClient
from tests.scale.conftest import RedisProcess, free_port
from tests.scale.test_devices import until
from tests.scale.test_network import said
from tests.web.conftest import WSClient

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "scale-out.md"
HAPROXY = shutil.which("haproxy")


def blocks(lang: str) -> list[str]:
    return [b for k, b in re.findall(r"```(\w*)\n(.*?)```", DOC.read_text(), re.S) if k == lang]


def haproxy_config() -> str:
    found = [b for b in blocks("") if b.startswith("defaults")]
    assert len(found) == 1, "docs/scale-out.md has one HAProxy config"
    return found[0]


def node_configs() -> tuple[str, str]:
    """node1.toml as the doc shows it; node2.toml with the edits it names."""
    found = [b for b in blocks("toml") if 'node_name = "node1"' in b]
    assert len(found) == 1, "docs/scale-out.md has node1.toml"
    node1 = found[0]
    node2 = node1.replace("port = 8001", "port = 8002").replace('"node1"', '"node2"')
    node2 = node2.replace("port = 8081", "port = 8082")
    assert "port = 8002" in node2 and "port = 8082" in node2, "the doc's edits apply"
    return node1, node2


def test_the_docs_haproxy_config_is_valid(tmp_path: Path) -> None:
    if HAPROXY is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(haproxy_config())
    res = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    made: list[subprocess.Popen[bytes]] = []
    yield made
    for p in made:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


async def listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")
        with contextlib.suppress(OSError):
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        assert loop.time() < deadline, log.read_text(errors="replace")
        await asyncio.sleep(0.05)


async def test_two_nodes_behind_the_docs_haproxy(
    tmp_path: Path, redis_server: RedisProcess, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Modern IRC, PRIVMSG and NAMES (https://modern.ircdocs.horse/#privmsg-message,
    #names-message) through the doc's balancer: two users, one per node (leastconn), and a
    web user over the web address, are one network."""
    if HAPROXY is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    ports = {p: free_port() for p in (8001, 8002, 8081, 8082, 6667, 8080)}

    def moved(text: str) -> str:
        text = text.replace("127.0.0.1:6379", f"127.0.0.1:{redis_server.port}")
        return re.sub(r"\b(8001|8002|8081|8082|6667|8080)\b", lambda m: str(ports[int(m[1])]), text)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, text in zip(("node1", "node2"), node_configs(), strict=True):
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(moved(text))
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ircd", "--config", str(cfg)],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(proc)
        port = ports[8001 if name == "node1" else 8002]
        await listening(port, proc, log)
        await listening(ports[8081 if name == "node1" else 8082], proc, log)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(moved(haproxy_config()))
    log = tmp_path / "haproxy.log"
    with log.open("wb") as out:
        lb = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=out, stderr=out)
    processes.append(lb)
    await listening(ports[6667], lb, log)
    made: list[RawClient] = []
    try:
        alice = await RawClient.connect(ports[6667])
        made.append(alice)
        await alice.registered_and_joined("alice", password="pw-a")
        bob = await RawClient.connect(ports[6667])  # leastconn: the other node
        made.append(bob)
        await bob.registered_and_joined("bob", password="pw-b")
        web = await WSClient.open(ports[8080], subprotocols=["text.ircv3.net"])
        made.append(web)
        await web.registered_and_joined("carol", password="pw-c")
        for c in (alice, bob):
            await c.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("carol!"))
        alice.send("PRIVMSG #general :through the balancer")
        await bob.expect(said(bob, "through the balancer"))
        await web.expect(said(web, "through the balancer"))
        bob.send("PRIVMSG alice :privately")
        await alice.expect(said(alice, "privately"))
        web.send("NAMES #general")
        names = await web.collect_until("366")
        got = [n for m in names if m.command == "353" for n in m.params[-1].split()]
        assert sorted(got) == ["alice", "bob", "carol"]
        logs = [tmp_path / f"node{i}.log" for i in (1, 2)]
        await until(
            lambda: all("registered" in x.read_text() for x in logs),
            "each node has users (leastconn)",
        )
    finally:
        for c in made:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.close(), TIMEOUT)
