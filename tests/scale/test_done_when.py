"""Issue 14's "done when", end to end and as an operator would run it from docs/scale-out.md:
a real redis-server and two nodes (``python -m ircd --config nodeN.toml``, the doc's config
files) behind one address each for IRC and the web (a TCP balancer: ``Balancer`` below, in the
role of the doc's HAProxy, which sends a connection to the first node that accepts it);
irssi in tmux on node 1 and the bundled web messenger in the system's Chromium (Playwright) on
node 2 chat in #general and privately, with history and unread when either side comes back;
then ``kill -9`` of node 2: the web messenger reconnects through the same address to node 1
and nothing that was acknowledged (no message left pending on either side) is lost.

Marked ``browser`` like tests/web/test_browser.py (``-m browser`` / ``-m 'not browser'``);
skipped, with the reason, only where irssi, tmux, Chromium, Playwright or redis-server is
missing (scripts/test.sh installs them all)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.terminal import PANE_TIMEOUT, START_TIMEOUT, Irssi, Tmux, compact, token
from tests.scale.conftest import RedisProcess, free_port
from tests.web.test_browser import browser, expect, login, messages, new_page, say

__all__ = ["browser"]  # the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("irssi") is None or shutil.which("tmux") is None,
        reason="needs irssi and tmux (apt-get install irssi tmux)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
NODE_TIMEOUT = 2.0
SLOW = 15_000  # ms: a wait in the page for what crosses nodes (the suite runs on a busy machine)
IRSSI_CONFIG = 'settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n'


class Balancer:
    """A TCP balancer on one port: each connection goes to the first backend that accepts it
    (HAProxy ``mode tcp`` with health checks, and the others as backups), bytes copied both
    ways until either side closes."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = 0
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open.add(writer)
        for port in self.backends:
            try:
                up_r, up_w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            except (OSError, asyncio.TimeoutError):
                continue
            self.open.add(up_w)
            await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
            return
        writer.close()

    @staticmethod
    async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        with contextlib.suppress(OSError, ConnectionError):
            w.close()

    async def stop(self) -> None:
        for w in self.open:  # the copying ends with the connections
            w.close()
        await asyncio.sleep(0.1)
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), 2)


class Node:
    """One node as the doc starts it: its own config file, ``python -m ircd --config``."""

    def __init__(self, folder: Path, name: str, redis_url: str) -> None:
        self.folder, self.name = folder, name
        self.port, self.web_port = free_port(), free_port()
        self.config = folder / f"{name}.toml"
        # docs/scale-out.md, "Running Redis and two nodes on one machine"
        self.config.write_text(
            "[server]\n"
            f"port = {self.port}\n"
            f'node_name = "{name}"\n'
            f"node_timeout = {NODE_TIMEOUT}\n"
            "\n[storage]\n"
            'backend = "redis"\n'
            f'redis_url = "{redis_url}"\n'
            'redis_key = "messenger"\n'
            "\n[web]\n"
            f"port = {self.web_port}\n"
        )
        self.log = folder / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ircd", "--config", str(self.config)],
                cwd=self.folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def listening(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT + 5
        for port in (self.port, self.web_port):
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.log_text()
                with contextlib.suppress(OSError):
                    _r, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                assert loop.time() < deadline, f"{self.name} did not start:\n{self.log_text()}"
                await asyncio.sleep(0.05)

    def kill_9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def network(tmp_path: Path, redis_server: RedisProcess) -> Iterator[list[Node]]:
    nodes = [Node(tmp_path, f"node{i}", redis_server.url) for i in (1, 2)]
    try:
        yield nodes
    finally:
        for n in nodes:
            n.stop()


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()


@pytest.fixture
async def balancers() -> AsyncIterator[list[Balancer]]:
    made: list[Balancer] = []
    yield made
    for b in made:
        await b.stop()


async def on_screen(client: Irssi, pattern: str, timeout: float = PANE_TIMEOUT) -> str:
    """Poll irssi's screen (no window switch) until ``pattern`` shows; the screen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        screen = client.screen()
        if re.search(pattern, screen):
            return screen
        assert loop.time() < deadline, f"irssi never showed {pattern!r}:\n{compact(screen)}"
        await asyncio.sleep(0.1)


async def irssi_says(alice: Irssi, window: str, text: str, typed: str = "") -> None:
    """Type ``typed`` (default: ``text``) in ``window`` and wait for irssi's own echo of
    ``text``."""
    await alice.show_window(window, "")
    alice.type(typed or text)
    await on_screen(alice, alice.said("alice", text))


async def settled(page: Any) -> None:
    """Every message the web messenger sent was acknowledged (none left pending)."""
    await expect(page.locator("#messages li.msg.pending")).to_have_count(0, timeout=SLOW)


async def open_conv(page: Any, name: str) -> None:
    await page.click(f"#conv-list button:has-text('{name}')")
    await expect(page.locator("#conv-title")).to_have_text(name, timeout=SLOW)


async def test_irssi_on_node1_and_the_web_on_node2(
    network: list[Node], balancers: list[Balancer], tmux: Tmux, browser: Any, tmp_path: Path
) -> None:
    node1, node2 = network
    node1.start()
    await node1.listening()
    node2.start()
    await node2.listening()
    # the operator's view (docs/scale-out.md, "What each node logs"): how far behind a node
    # was when it started and how long catching up took
    assert re.search(
        r"node node2: loaded from redis://\S+: .*caught up to \S+ in", node2.log_text()
    )
    irc = Balancer([node1.port, node2.port])  # irssi lands on node 1 ...
    web = Balancer([node2.web_port, node1.web_port])  # ... the browser on node 2
    for b in (irc, web):
        await b.start()
        balancers.append(b)
    url = f"http://127.0.0.1:{web.port}/"

    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text(IRSSI_CONFIG)
    alice = Irssi(tmux, home, "alice")
    alice.start(irc.port, password="alice-pw")
    await alice.show_window("#general", r"alice\b.*\bjoined #general")
    bob = await new_page(browser)
    await login(bob, url, "bob", "bob-pw")
    await alice.show_window("#general", r"bob\b.*\bjoined #general")
    await expect(bob.locator("#members button", has_text="alice")).to_have_count(1, timeout=SLOW)

    # 1. chat in #general, both ways, across the nodes
    hello = token("hello from irssi ")
    await irssi_says(alice, "#general", hello)
    await expect(messages(bob).last).to_have_text(hello, timeout=SLOW)
    hi = token("hi from the web ")
    await say(bob, hi)
    await settled(bob)
    await alice.show_window("#general", alice.said("bob", hi))

    # 2. privately, both ways
    await bob.click("#members button:has-text('alice')")
    await expect(bob.locator("#conv-title")).to_have_text("alice", timeout=SLOW)
    psst = token("psst ")
    await say(bob, psst)
    await settled(bob)
    await alice.show_window("bob", alice.said("bob", psst))
    back = token("psst back ")
    await irssi_says(alice, "bob", back, f"/msg bob {back}")
    await expect(messages(bob).last).to_have_text(back, timeout=SLOW)

    # 3. the web side leaves; irssi writes; the web comes back and is shown its unread
    await bob.click("#logout")
    await expect(bob.locator("#login")).to_be_visible(timeout=SLOW)
    await alice.show_window("#general", r"bob\b.*\bhas quit")
    away_c, away_p = token("while you were out "), token("dm while you were out ")
    await irssi_says(alice, "#general", away_c)
    await irssi_says(alice, "bob", away_p, f"/msg bob {away_p}")
    await login(bob, url, "bob", "bob-pw")
    await open_conv(bob, "#general")
    await expect(bob.locator("#messages li.unread-sep")).to_have_text(
        "Unread since your last visit", timeout=SLOW
    )
    after = bob.locator("#messages li.unread-sep ~ li.msg:not(.system) .text")
    await expect(after).to_have_text([away_c], timeout=SLOW)
    texts = await messages(bob).all_text_contents()
    assert [t for t in texts if t in (hello, hi, away_c)] == [hello, hi, away_c]  # history
    badge = bob.locator("#conv-list button", has_text="alice").locator(".badge")
    await expect(badge).to_have_text("1", timeout=SLOW)
    await open_conv(bob, "alice")
    await expect(messages(bob)).to_have_text([psst, back, away_p], timeout=SLOW)

    # 4. irssi leaves; the web writes; irssi comes back and is replayed what it missed
    await open_conv(bob, "#general")
    alice.type("/disconnect")
    await expect(bob.locator("#members button", has_text="alice")).to_have_count(0, timeout=SLOW)
    while_c, while_p = token("while irssi was away "), token("dm while irssi was away ")
    await say(bob, while_c)
    await settled(bob)
    await open_conv(bob, "alice")
    await say(bob, while_p)
    await settled(bob)
    await open_conv(bob, "#general")
    await settled(bob)
    alice.type(f"/connect 127.0.0.1 {irc.port} alice-pw alice")
    screen = await alice.show_window("#general", alice.replayed("bob", while_c))
    assert screen.count(while_c) == 1, compact(screen)
    screen = await alice.show_window("bob", alice.replayed("bob", while_p))
    assert screen.count(while_p) == 1, compact(screen)

    # 5. kill -9 of node 2 (the web messenger's) in the middle of the chat
    acked = [token(f"acked {i} ") for i in range(3)]
    for text in acked:
        await say(bob, text)
    await settled(bob)  # each was acknowledged: it must survive whatever happens next
    node2.kill_9()
    for text in acked:
        await alice.show_window("#general", alice.said("bob", text))
    # node 1 takes node 2 as dead within node_timeout (a heartbeat or two, and a turn) ...
    loop = asyncio.get_running_loop()
    deadline = loop.time() + NODE_TIMEOUT + 8
    dead = r"node node2/\S+ has not heartbeaten for [\d.]+ s: taken as dead"
    while not re.search(dead, node1.log_text()):
        assert loop.time() < deadline, node1.log_text()
        await asyncio.sleep(0.1)
    # ... and the browser reconnects by itself, through the same address, to node 1: after
    # that (irssi sees bob quit, "Node gone", and join again) or before (bob never left: his
    # new device took over, and irssi sees neither)
    await expect(bob.locator("#status")).to_have_text("online", timeout=30_000)
    screen = alice.screen()
    if re.search(r"bob\b.*\bhas quit.*Node gone", screen):
        await alice.show_window("#general", r"Node gone[\s\S]*bob\b.*\bhas joined #general")
    texts = await messages(bob).all_text_contents()
    for text in (hello, hi, away_c, while_c, *acked):
        assert texts.count(text) == 1, (text, texts)
    late = token("after the failover ")
    await irssi_says(alice, "#general", late)
    await expect(messages(bob).last).to_have_text(late, timeout=SLOW)
    reply = token("still here ")
    await say(bob, reply)
    await settled(bob)
    await alice.show_window("#general", alice.said("bob", reply))
    assert bob.js_errors == []
