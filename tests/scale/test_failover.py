"""A node killed with kill -9 in the middle of a flood (a real process, ``python -m ircd``):
nothing a client saw or was acknowledged is lost, its users' QUITs reach the other nodes
within ``node_timeout``, and each of them logging in on another node gets exactly its unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient
from tests.scale.conftest import RedisProcess, free_port
from tests.scale.test_redis_node import redis_config

ROOT = Path(__file__).resolve().parents[2]


async def _spawn_node(
    tmp_path: Path, r: RedisProcess, name: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(
        "[server]\n"
        f'port = {port}\nnode_name = "{name}"\nnode_timeout = 1.5\ncommands_per_second = 0\n'
        "[storage]\n"
        f'backend = "redis"\nredis_url = "{r.url}"\nstate_file = "{tmp_path / name}.json"\n'
        "[limits]\nmessages_per_period = 1000\n"
        "[web]\nport = 0\n"  # no web listener (the default port may be taken on this machine)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ircd", "--config", str(cfg), "--log-level", "WARNING"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.log", "wb"),  # noqa: SIM115 - the child keeps it
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        with contextlib.suppress(OSError):
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return proc, port
        assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()
        assert loop.time() < deadline, "the node did not start"
        await asyncio.sleep(0.05)


async def test_kill_9_of_a_node_mid_flood(tmp_path: Path, redis_server: RedisProcess) -> None:
    """Modern IRC, QUIT (https://modern.ircdocs.horse/#quit-message): a dead node's users quit
    for the others; what the others were shown stays."""
    sections = {"server": {"node_timeout": 1.5}, "limits": {"messages_per_period": 1000}}
    n1 = Server(redis_config(tmp_path / "a", redis_server, "n1", **sections))
    (tmp_path / "a").mkdir()
    await n1.start()
    n2 = Server(redis_config(tmp_path / "b", redis_server, "n2", **sections))
    (tmp_path / "b").mkdir()
    await n2.start()
    proc, port = await _spawn_node(tmp_path, redis_server, "n3")
    try:
        x = await RawClient.connect(port)
        await x.registered_and_joined("xavier", caps="draft/account-registration")
        x.send("REGISTER * * secret-x")
        await x.expect(lambda m: m.command == "REGISTER" and m.params[0] == "SUCCESS")
        alice = await RawClient.connect(n1.port)
        await alice.registered_and_joined("alice")

        async def flood() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                for i in range(0, 5000, 20):
                    x.send(*(f"PRIVMSG #general :flood {j}" for j in range(i, i + 20)))
                    await x.writer.drain()
                    await asyncio.sleep(0.01)

        flooding = asyncio.create_task(flood())
        await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "flood 100")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        flooding.cancel()
        loop = asyncio.get_running_loop()
        started = loop.time()
        quit_ = await alice.expect("QUIT", timeout=10)
        assert (quit_.source or "").startswith("xavier!")
        assert loop.time() - started < 1.5 + 3.5  # node_timeout, a heartbeat or two, a turn
        seen = [m for m in alice.lines if " PRIVMSG #general :flood " in m]
        shown = [line.rsplit(" :", 1)[-1] for line in seen]
        # nothing alice was shown is lost: both live nodes and a fresh load have it, in order
        for srv in (n1, n2):
            texts = [p.text for p in srv.messenger.rooms[srv.hub.general_key].history]
            assert (
                texts[: len(shown)] == shown
                or shown == texts[-len(shown) :]
                or set(shown) <= set(texts)
            )
            assert [t for t in texts if t.startswith("flood ")][: len(shown)] == shown
        # what xavier missed while away, and nothing else, is its unread on another node
        alice.send("PRIVMSG #general :for x 1", "PRIVMSG #general :for x 2")
        await alice.sync()
        x2 = await RawClient.connect(n2.port)
        await x2.registered_and_joined("xavier", password="secret-x", caps="server-time")
        await x2.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "for x 2")
        await x2.sync()
        unread = [line.rsplit(" :", 1)[-1] for line in x2.lines if " PRIVMSG #general :" in line]
        assert unread == ["for x 1", "for x 2"]  # not its own flood, nothing twice
        await x2.close()
        await alice.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        await asyncio.wait_for(n1.stop(), TIMEOUT)
        await asyncio.wait_for(n2.stop(), TIMEOUT)
