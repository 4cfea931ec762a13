"""The bridge in a real terminal (tmux): the hidden password prompt, the input prompt, and an
incoming message shown above the line being typed without garbling it."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ircd.server import Server
from tests.conftest import RawClient

from .conftest import ROOT, TIMEOUT, bridge_config, bridge_env

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    async def run(self, *args: str, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            "tmux",
            "-L",
            self.socket,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {args}: {err.decode()}")
        return out.decode()

    async def screen(self) -> str:
        return await self.run("capture-pane", "-p", "-t", "t")

    async def wait_for(self, pred: Callable[[str], bool], timeout: float = TIMEOUT) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = await self.screen()
            if pred(text):
                return text
            if loop.time() > deadline:
                raise AssertionError("screen never matched; it shows:\n" + text)
            await asyncio.sleep(0.05)  # polling the screen: bounded by the deadline above

    async def alive(self) -> bool:
        return "t" in (await self.run("list-sessions", "-F", "#{session_name}", check=False))


@pytest.fixture
async def tmux(tmp_path: Path) -> AsyncIterator[Tmux]:
    t = Tmux(f"bridge-test-{os.getpid()}-{id(tmp_path)}")
    yield t
    await t.run("kill-server", check=False)


def last_line(screen: str) -> str:
    lines = [x for x in screen.splitlines() if x.strip()]
    return lines[-1] if lines else ""


async def test_prompt_and_incoming_message(
    server: Server, connect, tmux: Tmux, tmp_path: Path
) -> None:
    env = bridge_env(tmp_path)
    keep = ("PATH", "HOME", "XDG_CONFIG_HOME", "PYTHONPATH", "TZ", "LANG", "LC_ALL")
    assignments = " ".join(f"{k}={shlex.quote(env[k])}" for k in keep if k in env)
    command = (
        f"cd {shlex.quote(str(ROOT))} && env {assignments} TERM=xterm "
        f"{shlex.quote(sys.executable)} -m bridge --port {server.port} --nick alice"
    )
    await tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "30", command)

    # no --password and a terminal: a hidden question
    await tmux.wait_for(lambda s: "Password for alice" in s)
    await tmux.run("send-keys", "-t", "t", "secret-pw", "Enter")
    screen = await tmux.wait_for(
        lambda s: (
            "*** Connected to irc.messenger.local as alice" in s
            and "=== no stored messages for #general ===" in s
            and last_line(s) == "[#general] alice>"
        )
    )
    assert "secret-pw" not in screen

    bob: RawClient = await connect()
    await bob.registered_and_joined("bob")

    # typing sends to #general; the typed line is replaced by the server's echo
    await tmux.run("send-keys", "-t", "t", "hello from a terminal", "Enter")
    await bob.expect(
        lambda m: m.command == "PRIVMSG" and m.params == ("#general", "hello from a terminal")
    )
    await tmux.wait_for(lambda s: "#general <alice> hello from a terminal" in s)

    # a message arrives while alice is typing: shown above, her input line stays as it was
    await tmux.run("send-keys", "-t", "t", "-l", "half a thought")
    await tmux.wait_for(lambda s: last_line(s) == "[#general] alice> half a thought")
    bob.send("PRIVMSG #general :incoming while you type")
    screen = await tmux.wait_for(lambda s: "#general <bob> incoming while you type" in s)
    screen = await tmux.wait_for(lambda s: last_line(s) == "[#general] alice> half a thought")
    lines = screen.splitlines()
    incoming = next(i for i, x in enumerate(lines) if "incoming while you type" in x)
    prompt = max(i for i, x in enumerate(lines) if x.startswith("[#general] alice>"))
    assert incoming < prompt

    # finish the line, then leave
    await tmux.run("send-keys", "-t", "t", "-l", " finished")
    await tmux.run("send-keys", "-t", "t", "Enter")
    await bob.expect(
        lambda m: m.command == "PRIVMSG" and m.params == ("#general", "half a thought finished")
    )

    # the server goes away: typing still works, lines wait for the reconnection
    port = server.port
    await asyncio.wait_for(server.stop(), TIMEOUT)
    await tmux.wait_for(lambda s: "*** Disconnected: Closing link: Server shutting down" in s)
    await tmux.run("send-keys", "-t", "t", "-l", "typed while away")
    await tmux.run("send-keys", "-t", "t", "Enter")
    await tmux.wait_for(lambda s: "*** Not connected: it will be sent once reconnected" in s)
    await tmux.run("send-keys", "-t", "t", "-l", "/help quit")
    await tmux.run("send-keys", "-t", "t", "Enter")
    await tmux.wait_for(lambda s: "/quit [reason]  (or just: quit)  — leave" in s)
    again = Server(bridge_config(tmp_path, server={"port": port}))
    await again.start()
    try:
        await tmux.wait_for(lambda s: s.count("*** Connected to irc.messenger.local") == 2, 15)
        bob2 = await RawClient.connect(port)
        await bob2.registered_and_joined("bob2")  # a guest: sees recent #general, then live
        await bob2.expect(
            lambda m: m.command == "PRIVMSG" and m.params[-1].endswith("typed while away")
        )
        await tmux.run("send-keys", "-t", "t", "/quit", "Enter")
        await bob2.expect(lambda m: m.command == "QUIT" and (m.source or "").startswith("alice!"))
        await bob2.close()
    finally:
        await asyncio.wait_for(again.stop(), TIMEOUT)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while await tmux.alive():  # the session ends when the bridge exits
        assert loop.time() < deadline, "the bridge did not exit after /quit"
        await asyncio.sleep(0.05)
