"""The real server on port 0 (issue 9 §3, §4): password hashing runs in worker threads, never
on the event loop; a connection's lines after its password wait and then run in order;
flood control closes a flooder with "Excess flood" before its lines reach anyone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest

from ircd.irc.commands import queries, registration
from ircd.messenger import passwords
from tests.conftest import TIMEOUT, RawClient

from .conftest import StartServer


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the thread each real scrypt call runs in."""
    threads: list[str] = []
    real_hash, real_verify = passwords.hash_password, passwords.verify_password

    def hash_(pw: str) -> str:
        threads.append(threading.current_thread().name)
        return real_hash(pw)

    def verify(pw: str, stored: str) -> bool:
        threads.append(threading.current_thread().name)
        return real_verify(pw, stored)

    monkeypatch.setattr(registration, "hash_password", hash_)
    monkeypatch.setattr(registration, "verify_password", verify)
    monkeypatch.setattr(queries, "verify_password", verify)
    return threads


async def test_logins_hash_in_worker_threads_and_later_lines_keep_their_order(
    start_server: StartServer,
    clients: Callable[[int], Awaitable[RawClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads = _recording(monkeypatch)
    srv = await start_server()
    watcher = await clients(srv.port)
    await watcher.registered_and_joined("watcher")
    users = [await clients(srv.port) for _ in range(6)]
    for i, c in enumerate(users):  # everything in one write: the lines after PASS must wait
        c.send(
            f"PASS pw-{i}", f"NICK u{i}", f"USER u{i} 0 * :u", "JOIN #after", f"PRIVMSG #after :{i}"
        )
    for c in users:
        await c.expect("001")
        await c.expect(lambda m: m.command == "JOIN" and m.params[0] == "#after")
    await watcher.sync()
    assert sorted(p.text for p in srv.messenger.rooms["#after"].history) == [
        str(i) for i in range(6)
    ]
    assert len(threads) == 6 and all(t.startswith("ircd-hash") for t in threads), threads
    # a second login of each verifies off the loop too
    for c in users:
        await c.close()
    again = await clients(srv.port)
    again.send("PASS pw-3", "NICK u3", "USER u3 0 * :u")
    await again.expect("001")
    assert len(threads) == 7 and threads[-1].startswith("ircd-hash")
    assert threading.main_thread().name not in threads


async def test_the_loop_serves_others_while_hashes_are_computed(
    start_server: StartServer,
    clients: Callable[[int], Awaitable[RawClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hash that takes as long as we like (it waits for an event) blocks nobody else."""
    release = threading.Event()
    real_hash = passwords.hash_password

    def slow_hash(pw: str) -> str:
        release.wait(TIMEOUT)
        return real_hash(pw)

    monkeypatch.setattr(registration, "hash_password", slow_hash)
    srv = await start_server()
    watcher = await clients(srv.port)
    await watcher.registered_and_joined("watcher")
    slow = await clients(srv.port)
    slow.send("PASS slow-pw", "NICK slowpoke", "USER s 0 * :s", "PRIVMSG #general :after the hash")
    for i in range(20):  # answered while the hash is still running
        watcher.send(f"PING :p{i}")
        await watcher.expect(lambda m, i=i: m.command == "PONG" and m.params[-1] == f"p{i}")
    assert not any("after the hash" in line for line in watcher.lines)
    release.set()
    got = await watcher.expect("PRIVMSG")
    assert got.params == ("#general", "after the hash")


async def test_a_flood_of_topics_is_cut_off_with_excess_flood(
    start_server: StartServer, clients: Callable[[int], Awaitable[RawClient]]
) -> None:
    srv = await start_server(server={"command_burst": 10, "max_queued_commands": 50})
    watcher = await clients(srv.port)
    await watcher.registered_and_joined("watcher")
    flooder = await clients(srv.port)
    await flooder.registered_and_joined("flooder")
    flooder.send(*[f"AWAY :away {i}" for i in range(300)])
    got = await watcher.expect(lambda m: m.command == "QUIT")
    assert got.params[-1] == "Excess flood"
    err = await flooder.expect("ERROR")
    assert "Excess flood" in err.params[-1]
    # the channel saw nothing of it (AWAY is no broadcast without away-notify) and goes on
    watcher.send("PING :alive")
    await watcher.expect("PONG")
    assert srv.hub.session_by_nick("flooder") is None


async def test_flooded_lines_are_delayed_not_dropped(
    start_server: StartServer, clients: Callable[[int], Awaitable[RawClient]]
) -> None:
    srv = await start_server(
        server={"command_burst": 5, "commands_per_second": 50.0},
        limits={"private_burst": 1000},  # not the private anti-flood, the command budget
    )
    watcher = await clients(srv.port)
    await watcher.registered_and_joined("watcher")
    talker = await clients(srv.port)
    await talker.registered_and_joined("talker")
    talker.send(*[f"PRIVMSG watcher :line {i}" for i in range(40)])
    seen = []
    for _ in range(40):
        m = await watcher.expect("PRIVMSG")
        seen.append(m.params[-1])
    assert seen == [f"line {i}" for i in range(40)]
    await asyncio.wait_for(talker.sync(), TIMEOUT)
