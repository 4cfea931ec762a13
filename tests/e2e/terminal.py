"""Harness for end-to-end tests with real terminal IRC clients (irssi, WeeChat) in tmux.

The server runs as a subprocess (``python -m ircd``) on a free port with its state in a temp
folder; each client runs in a detached tmux session on a private tmux server (``tmux -L
<unique>``, no user config) with a temp home, so nothing touches the user's irssi, WeeChat or
tmux. What a client shows is read with ``tmux capture-pane -p`` in a polling loop with a
deadline; every wait is bounded.

The scenarios at the bottom are shared by ``test_irssi.py`` and ``test_weechat.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ircd.wire import Message
from tests.conftest import RawClient

TMUX = shutil.which("tmux")
REPO = Path(__file__).resolve().parents[2]
PANE_TIMEOUT = 10.0  # clients react in well under a second; this is the CI ceiling
START_TIMEOUT = 10.0
STAMP = r"\[\d{4}-\d\d-\d\d \d\d:\d\d\] "  # the server's text time prefix on replayed lines

Match = Callable[[Message], bool]
_seq = itertools.count()


def token(label: str) -> str:
    """A unique message text, so a screen match can't come from anything else."""
    return f"{label}{next(_seq)}x{uuid.uuid4().hex[:6]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compact(screen: str) -> str:
    return "\n".join(line.rstrip() for line in screen.splitlines() if line.strip())


class IrcdProcess:
    """``python -m ircd`` as a subprocess; ``start()``/``stop()`` can be repeated (a restart
    keeps the port and the state file)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "state.json"
        self.config = tmp / "empty.toml"
        self.config.write_text("")
        self.log = tmp / "ircd.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for _attempt in range(3):
            cmd = [sys.executable, "-m", "ircd", "--port", str(self.port), "--web-port", "0"]
            cmd += ["--state", str(self.state), "--config", str(self.config)]
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_listening():
                return
            self.stop()
            self.port = free_port()  # lost a race for the port: try another one
        raise AssertionError(f"ircd did not start:\n{self.log_tail()}")

    def _wait_listening(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 5 s; the exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def log_tail(self, n: int = 30) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])


class Tmux:
    """A private tmux server holding one client per session."""

    def __init__(self) -> None:
        assert TMUX is not None
        self.socket = f"e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "TERM": "xterm"}
        self.env.pop("TMUX", None)  # not nested in the caller's tmux
        self.socket_path: str | None = None

    def run(self, *args: str, check: bool = True) -> str:
        assert TMUX is not None
        res = subprocess.run(
            [TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=5,
            check=False,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"tmux {args}: {res.returncode} {res.stderr.strip()}")
        return res.stdout

    def start(self, session: str, cmd: list[str]) -> None:
        self.run("new-session", "-d", "-s", session, "-x", "200", "-y", "50", shlex.join(cmd))
        if self.socket_path is None:
            self.socket_path = self.run("display-message", "-p", "#{socket_path}").strip()

    def type(self, session: str, text: str) -> None:
        """Type one line and press Enter."""
        self.run("send-keys", "-t", session, "-l", text)
        self.run("send-keys", "-t", session, "Enter")

    def capture(self, session: str) -> str:
        return self.run("capture-pane", "-p", "-J", "-t", session)

    def kill(self) -> None:
        """Kill the sessions (and the clients in them), and remove the socket tmux leaves."""
        self.run("kill-server", check=False)
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)


class TerminalClient:
    """One IRC client in a tmux session. Subclasses say how to start, connect and switch
    windows, and what a message looks like on screen."""

    binary = ""

    def __init__(self, tmux: Tmux, home: Path, nick: str) -> None:
        self.tmux, self.home, self.nick, self.session = tmux, home, nick, nick

    def start(self, port: int, password: str | None = None) -> None:
        raise NotImplementedError

    def connect_command(self, port: int, password: str | None) -> str:
        raise NotImplementedError

    def disconnect_command(self) -> str:
        raise NotImplementedError

    def goto_command(self, name: str) -> str:
        raise NotImplementedError

    def active_pattern(self, name: str) -> str:
        """A regex that is on screen when window/buffer ``name`` is the active one."""
        raise NotImplementedError

    def said(self, nick: str, text: str, stamp: str = "") -> str:
        """A regex for ``nick`` saying ``text`` (``stamp``: a regex for a text prefix)."""
        raise NotImplementedError

    def replayed(self, nick: str, text: str) -> str:
        """A replayed line, with or without the server's ``[YYYY-MM-DD HH:MM]`` prefix."""
        return self.said(nick, text, f"(?:{STAMP})?")

    def type(self, text: str) -> None:
        self.tmux.type(self.session, text)

    def screen(self) -> str:
        return self.tmux.capture(self.session)

    async def show_window(self, name: str, pattern: str, timeout: float = PANE_TIMEOUT) -> str:
        """Switch to window ``name`` (a channel or query, which the client may still have to
        create) and poll every 0.1 s until it shows ``pattern``; the screen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        active = re.compile(self.active_pattern(name), re.M)
        last_goto = -1.0
        while True:
            screen = self.screen()
            if not active.search(screen):
                if loop.time() - last_goto > 0.5:
                    self.type(self.goto_command(name))
                    last_goto = loop.time()
            elif re.search(pattern, screen):
                return screen
            if loop.time() > deadline:
                raise AssertionError(
                    f"{self.binary}: window {name} never showed {pattern!r}:\n{compact(screen)}"
                )
            await asyncio.sleep(0.1)


class Irssi(TerminalClient):
    binary = "irssi"

    def start(self, port: int, password: str | None = None) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = ["irssi", f"--home={self.home}", "-n", self.nick, "-c", "127.0.0.1", "-p", str(port)]
        if password is not None:
            cmd += ["-w", password]
        self.tmux.start(self.session, cmd)

    def connect_command(self, port: int, password: str | None) -> str:
        return f"/connect 127.0.0.1 {port} {password or ''} {self.nick}"

    def disconnect_command(self) -> str:
        return "/disconnect"

    def goto_command(self, name: str) -> str:
        return f"/window goto {name}"

    def active_pattern(self, name: str) -> str:
        return rf"^\[{re.escape(name)}\]"  # the prompt names the active window

    def said(self, nick: str, text: str, stamp: str = "") -> str:
        # default theme: "< bob> text" in a channel, "<bob> text" in a query
        return rf"<[ @+%]?{re.escape(nick)}> {stamp}{re.escape(text)}"


class WeeChat(TerminalClient):
    binary = "weechat"
    server = "e2e"

    def start(self, port: int, password: str | None = None, *settings: str) -> None:
        """``settings``: commands run before connecting (``/set ...``)."""
        self.home.mkdir(parents=True, exist_ok=True)
        pw = f" -password={password}" if password is not None else ""
        run = "; ".join(
            [
                *settings,
                f"/server add {self.server} 127.0.0.1/{port} -notls{pw}",
                f"/set irc.server.{self.server}.nicks {self.nick}",
                f"/connect {self.server}",
            ]
        )
        self.tmux.start(self.session, ["weechat", "--dir", str(self.home), "-r", run])

    def connect_command(self, port: int, password: str | None) -> str:
        return f"/connect {self.server}"

    def disconnect_command(self) -> str:
        return f"/disconnect {self.server}"

    def goto_command(self, name: str) -> str:
        return f"/buffer {name}"

    def active_pattern(self, name: str) -> str:
        # the status bar: "[irc/e2e] 2:#general(+nt){1}" or "[irc/e2e] 3:bob"
        return rf"\[irc/{self.server}\] \d+:{re.escape(name)}(?=[({{\s]|$)"

    def said(self, nick: str, text: str, stamp: str = "") -> str:
        # default layout: "16:55:59      bob | text"
        return rf"(?<![\w])[@+%]?{re.escape(nick)} [|│] {stamp}{re.escape(text)}"


# ---------------------------------------------------------------------- peer helpers


async def bob_joins(port: int, peers: list[RawClient]) -> RawClient:
    bob = await RawClient.connect(port)
    peers.append(bob)
    await bob.registered_and_joined("bob")
    return bob


def joined(nick: str) -> Match:
    return lambda m: (
        m.command == "JOIN" and m.source.startswith(f"{nick}!") and m.params[0] == "#general"
    )


def quit_(nick: str) -> Match:
    return lambda m: m.command == "QUIT" and m.source.startswith(f"{nick}!")


def privmsg(source: str, target: str, text: str) -> Match:
    return lambda m: (
        m.command == "PRIVMSG" and m.source.startswith(f"{source}!") and m.params == (target, text)
    )


# ---------------------------------------------------------------------- shared scenarios


async def chat_scenario(client: TerminalClient, ircd: IrcdProcess, bob: RawClient) -> None:
    """Lands in #general, sends and receives a channel and a private message."""
    nick = client.nick
    client.start(ircd.port)
    # lands in #general: the server relays the JOIN, the client has a #general window
    await bob.expect(joined(nick), timeout=START_TIMEOUT)
    await client.show_window("#general", rf"{nick}\b.*\bjoined #general")

    # client -> channel
    text = token(f"hello from {client.binary} ")
    client.type(text)
    await bob.expect(privmsg(nick, "#general", text), timeout=PANE_TIMEOUT)

    # peer -> channel, shown in the #general window
    text = token(f"hi {nick} ")
    bob.send(f"PRIVMSG #general :{text}")
    await client.show_window("#general", client.said("bob", text))

    # peer -> private: the client opens a query window for bob
    text = token("psst ")
    bob.send(f"PRIVMSG {nick} :{text}")
    await client.show_window("bob", client.said("bob", text))

    # client -> private
    text = token("hi ")
    client.type(f"/msg bob {text}")
    await bob.expect(privmsg(nick, "bob", text), timeout=PANE_TIMEOUT)


async def replay_scenario(client: TerminalClient, ircd: IrcdProcess, bob: RawClient) -> None:
    """issue 3's "done when": a user with a password leaves, bob writes in #general and
    privately, the user reconnects and sees all of it once; the next reconnect replays none
    of it."""
    nick, password = client.nick, "secret"
    client.start(ircd.port, password=password)
    await bob.expect(joined(nick), timeout=START_TIMEOUT)

    bob.send(f"WHOIS {nick}")  # a password makes the nick an account
    acct = await bob.expect(lambda m: m.command in ("330", "318"))
    assert acct.command == "330" and acct.params[1:3] == (nick, nick), acct

    client.type(client.disconnect_command())
    await bob.expect(quit_(nick))
    in_channel, in_private = token("while you were away "), token("dm while away ")
    bob.send(f"PRIVMSG #general :{in_channel}", f"PRIVMSG {nick} :{in_private}")
    await bob.sync()

    client.type(client.connect_command(ircd.port, password))
    await bob.expect(joined(nick), timeout=START_TIMEOUT)
    screen = await client.show_window("#general", client.replayed("bob", in_channel))
    assert screen.count(in_channel) == 1, compact(screen)
    screen = await client.show_window("bob", client.replayed("bob", in_private))
    assert screen.count(in_private) == 1, compact(screen)

    # next reconnect: nothing again. A fresh line from bob after the JOIN is the barrier:
    # any replay would come before it. The client reuses its windows, so the old line stays
    # visible exactly once.
    client.type(client.disconnect_command())
    await bob.expect(quit_(nick))
    client.type(client.connect_command(ircd.port, password))
    await bob.expect(joined(nick), timeout=START_TIMEOUT)
    after_c, after_p = token("welcome back "), token("dm welcome back ")
    bob.send(f"PRIVMSG #general :{after_c}", f"PRIVMSG {nick} :{after_p}")
    screen = await client.show_window("#general", client.said("bob", after_c))
    assert screen.count(in_channel) <= 1, compact(screen)
    screen = await client.show_window("bob", client.said("bob", after_p))
    assert screen.count(in_private) <= 1, compact(screen)
