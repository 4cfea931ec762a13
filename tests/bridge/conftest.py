"""Fixtures for driving the real bridge (``python -m bridge``) as a subprocess against the
in-process server: the server runs in the test's event loop, so the bridge runs as an asyncio
subprocess and every wait is bounded."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ircd.config import Config
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0

# generous limits: these tests are about the bridge, not the quotas
LIMITS: dict[str, Any] = {
    "messages_per_period": 1000,
    "private_burst": 200,
    "private_per_second": 100.0,
}


def bridge_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    return make_config(tmp_path, limits=LIMITS, **sections)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return bridge_config(tmp_path)


def bridge_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MESSENGER_PASSWORD", None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no remembered passwords leak in
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["TZ"] = "UTC"
    return env


class Bridge:
    """A running ``python -m bridge`` with piped stdin and stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._pos = 0
        self._stderr: list[bytes] = []
        assert proc.stderr is not None
        self._stderr_task = asyncio.create_task(self._drain_stderr(proc.stderr))

    @classmethod
    async def start(cls, port: int, *args: str, env: dict[str, str]) -> Bridge:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge",
            "--port",
            str(port),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        return cls(proc)

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            self._stderr.append(chunk)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    async def send(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        for line in lines:
            self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def _read_line(self, timeout: float) -> str | None:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            return None
        line = raw.decode(errors="replace").rstrip("\n")
        self.lines.append(line)
        return line

    async def expect(self, pattern: str | Callable[[str], bool], timeout: float = TIMEOUT) -> str:
        """The next output line (after the last one expected) matching a regex or predicate."""
        pred = (
            (lambda s: re.search(pattern, s) is not None) if isinstance(pattern, str) else pattern
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._pos < len(self.lines):
                line = self.lines[self._pos]
                self._pos += 1
                if pred(line):
                    return line
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                got = await self._read_line(left)
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines[-40:])
                ) from None
            if got is None:
                raise AssertionError(
                    f"bridge exited before {pattern!r}; output:\n"
                    + "\n".join(self.lines[-40:])
                    + "\nstderr:\n"
                    + self.stderr
                )

    async def collect_until(self, pattern: str, timeout: float = TIMEOUT) -> list[str]:
        """The lines up to and including the next one matching ``pattern``."""
        start = self._pos
        await self.expect(pattern, timeout)
        return self.lines[start : self._pos]

    async def finish(self, timeout: float = TIMEOUT) -> int:
        """Close stdin (end of input), read the rest of the output, return the exit status."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self._read_line(max(0.01, deadline - loop.time())) is not None:
            pass
        rc = await asyncio.wait_for(self.proc.wait(), max(0.01, deadline - loop.time()))
        await asyncio.wait_for(self._stderr_task, TIMEOUT)
        return rc

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        self._stderr_task.cancel()


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await bridge(port, "--nick", "alice", ...)`` -> a running :class:`Bridge`."""
    started: list[Bridge] = []

    async def _start(port: int, *args: str) -> Bridge:
        b = await Bridge.start(port, *args, env=bridge_env(tmp_path))
        started.append(b)
        return b

    yield _start
    for b in started:
        await b.kill()


async def run_script(
    port: int, args: list[str], script: str, env: dict[str, str], timeout: float = 30
) -> tuple[int, str, str]:
    """Run the bridge with ``script`` piped to stdin; (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "--port",
        str(port),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(script.encode()), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"bridge did not exit:\n{out.decode()}\n{err.decode()}") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
