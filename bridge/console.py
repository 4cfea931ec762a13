"""The only terminal I/O: reading what the user types and showing lines.

Two consoles share one small interface (``read_line``, ``show``, ``set_prompt``, used inside
``async with console:``):

* :class:`PromptConsole` when stdin and stdout are terminals: prompt_toolkit's prompt with
  ``patch_stdout``, so lines arriving while the user types appear above the input line and
  never garble it.
* :class:`PlainConsole` otherwise (pipes, files, tests): stdin is read line by line and each
  event is one line on stdout.

Both append every shown line to the ``--log`` file when there is one. The start-up questions
(nick, password) are asked here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import sys
import threading
from datetime import datetime
from types import TracebackType
from typing import IO, Any, Protocol


class Console(Protocol):
    interactive: bool

    async def __aenter__(self) -> Console: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def read_line(self) -> str | None:
        """The next line typed (without the newline); None when input ends (EOF, Ctrl-D,
        Ctrl-C)."""
        ...

    def show(self, line: str) -> None: ...

    def set_prompt(self, text: str) -> None: ...


class _Log:
    """Appends shown lines to a file, with the date and time they were shown."""

    def __init__(self, path: str | None) -> None:
        self._file: IO[str] | None = None
        if path:
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, line: str) -> None:
        if self._file is not None:
            stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
            self._file.write(f"{stamp} {line}\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class PlainConsole:
    """Line-by-line stdin, one line per event on stdout."""

    interactive = False

    def __init__(
        self,
        log_path: str | None = None,
        *,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        first_lines: list[str] | None = None,
    ) -> None:
        self._stdin = stdin if stdin is not None else sys.stdin
        self._stdout = stdout if stdout is not None else sys.stdout
        self._log = _Log(log_path)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        for line in first_lines or []:
            self._queue.put_nowait(line)
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> PlainConsole:
        loop = asyncio.get_running_loop()

        def pump() -> None:
            # A daemon thread: a blocked read never keeps the process alive at exit, and it
            # works for pipes, files and terminals alike.
            try:
                for raw in self._stdin:
                    loop.call_soon_threadsafe(self._queue.put_nowait, raw.rstrip("\r\n"))
            except (OSError, ValueError):
                pass
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(self._queue.put_nowait, None)

        self._thread = threading.Thread(target=pump, name="stdin-reader", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._log.close()

    async def read_line(self) -> str | None:
        return await self._queue.get()

    def show(self, line: str) -> None:
        try:
            self._stdout.write(line + "\n")
            self._stdout.flush()
        except (OSError, ValueError):  # stdout closed (e.g. piped into head)
            pass
        self._log.write(line)

    def set_prompt(self, text: str) -> None:
        pass


class PromptConsole:
    """prompt_toolkit input line; output goes above it."""

    interactive = True

    def __init__(self, log_path: str | None = None) -> None:
        self._log = _Log(log_path)
        self._prompt = "> "
        self._session: Any = None
        self._patch: Any = None

    async def __aenter__(self) -> PromptConsole:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.patch_stdout import patch_stdout

        # Entered inside the running loop: prompt_toolkit schedules printing on it.
        self._patch = patch_stdout()
        self._patch.__enter__()
        self._session = PromptSession(erase_when_done=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._patch is not None:
            self._patch.__exit__(None, None, None)
            self._patch = None
        self._log.close()

    async def read_line(self) -> str | None:
        try:
            line: str = await self._session.prompt_async(lambda: self._prompt)
        except (EOFError, KeyboardInterrupt):
            return None
        return line

    def show(self, line: str) -> None:
        print(line, flush=True)
        self._log.write(line)

    def set_prompt(self, text: str) -> None:
        self._prompt = text


def make_console(log_path: str | None = None) -> PlainConsole | PromptConsole:
    """The right console for how we were started."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return PromptConsole(log_path)
    return PlainConsole(log_path)


def is_interactive() -> bool:
    return sys.stdin.isatty()


def ask(question: str) -> str | None:
    """A visible question on the terminal; None if aborted."""
    try:
        return input(question).strip()
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None


def ask_password(question: str) -> str | None:
    """A hidden question on the terminal; None if aborted."""
    try:
        return getpass.getpass(question)
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None


def read_first_line() -> str | None:
    """One line from a non-interactive stdin, read before the app starts (None at EOF)."""
    raw = sys.stdin.readline()
    if not raw:
        return None
    return raw.rstrip("\r\n")


def warn(text: str) -> None:
    """A start-up problem, before the console runs."""
    print(text, file=sys.stderr)


def login_name() -> str:
    """The user's login name ('' if unknown)."""
    try:
        return getpass.getuser()
    except Exception:
        return ""


class StderrLogHandler(logging.Handler):
    """Logging to whatever ``sys.stderr`` is now (prompt_toolkit patches it while running, so
    log lines also appear above the input line)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never break the app
            self.handleError(record)
