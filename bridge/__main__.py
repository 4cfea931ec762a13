"""``python -m bridge`` (or the ``messenger`` script): argv -> options -> ``App.run``.

The password comes from ``--password``, else ``$MESSENGER_PASSWORD``, else the remembered one
(``--remember``), else a hidden prompt when stdin is a terminal; without one you connect as a
guest. Without ``--nick``, a terminal asks for it and a script may start with
``/nickname <nick>``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys

from . import console as term
from . import credentials
from .app import App, Options
from .commands import DEFAULT_HISTORY, is_nick, parse_input
from .commands import Nickname as NicknameCommand

PASSWORD_ENV = "MESSENGER_PASSWORD"


def build_parser() -> argparse.ArgumentParser:
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    p = argparse.ArgumentParser(
        prog="messenger" if invoked == "messenger" else "python -m bridge",
        description="Terminal client for the messenger server (speaks IRC). "
        "Reads commands from the terminal, or line by line from stdin when it is not one.",
        epilog="Inside, type /help for the commands. Plain text goes to #general.",
    )
    p.add_argument("--host", default="127.0.0.1", help="server address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="server port (default: 8000)")
    p.add_argument("--nick", help="your nick (asked for when missing on a terminal)")
    p.add_argument(
        "--password",
        help=f"your password (or set ${PASSWORD_ENV}; a terminal asks when neither is given; "
        "the first login with a new nick registers it)",
    )
    p.add_argument(
        "--remember",
        action="store_true",
        help="remember the password for this nick and server in "
        f"{credentials.credentials_file()} (mode 0600)",
    )
    p.add_argument(
        "--forget", action="store_true", help="forget the remembered password, then continue"
    )
    p.add_argument("--log", metavar="FILE", help="also append everything shown to FILE")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="with --tls: do not verify the server certificate (self-signed test servers)",
    )
    p.add_argument(
        "--backlog",
        type=int,
        default=DEFAULT_HISTORY,
        metavar="N",
        help=f"messages of #general shown on start (default: {DEFAULT_HISTORY}; 0: none)",
    )
    p.add_argument("--debug", action="store_true", help="log the IRC traffic to stderr")
    return p


def _setup_logging(debug: bool) -> None:
    handler = term.StderrLogHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    if not debug:
        # pydle reports unexpected protocol situations as errors; the bridge shows them itself
        logging.getLogger("pydle").setLevel(logging.CRITICAL)
        for name in list(logging.root.manager.loggerDict):
            if name.startswith(("pydle", "BridgeClient")):
                logging.getLogger(name).setLevel(logging.CRITICAL)


def _default_nick() -> str:
    user = term.login_name()
    nick = re.sub(r"[^A-Za-z0-9_\-\[\]\\`^{|}]", "", user)
    if not nick or not is_nick(nick):
        nick = "guest"
    return nick[:30]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.debug)
    interactive = term.is_interactive()
    first_lines: list[str] = []

    nick: str | None = args.nick
    if nick is None:
        if interactive:
            nick = term.ask("Nick: ")
            if nick is None:
                return 1
        else:
            first = term.read_first_line()
            cmd = parse_input(first) if first is not None else None
            if isinstance(cmd, NicknameCommand):
                nick = cmd.nick
            else:
                if first is not None:
                    first_lines.append(first)
                nick = _default_nick()
    if not is_nick(nick):
        term.warn(f"error: {nick!r} is not a valid nick (letters, digits, -_[]{{}}\\|^`)")
        return 2

    if args.forget and credentials.forget_password(nick, args.host, args.port):
        term.warn(f"Forgot the password of {nick} for {args.host}:{args.port}.")

    password: str | None = args.password or os.environ.get(PASSWORD_ENV) or None
    if password is None:
        password = credentials.load_password(nick, args.host, args.port)
    if password is None and interactive:
        password = term.ask_password(
            f"Password for {nick} (a new nick is registered with it; empty: guest): "
        )
        if password is None:
            return 1
        password = password or None
    if args.remember:
        if password:
            path = credentials.save_password(nick, args.host, args.port, password)
            term.warn(f"Password remembered in {path}")
        else:
            term.warn("Nothing to remember: no password given.")

    options = Options(
        nick=nick,
        host=args.host,
        port=args.port,
        password=password,
        tls=args.tls,
        verify=not args.insecure,
        backlog=max(0, args.backlog),
    )

    async def run() -> int:
        console: term.PlainConsole | term.PromptConsole
        if first_lines or not interactive:
            console = term.PlainConsole(args.log, first_lines=first_lines)
        else:
            console = term.make_console(args.log)
        return await App(options, console).run()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:  # Ctrl-C before the app could install its handler
        return 130


if __name__ == "__main__":
    sys.exit(main())
