"""Command-line entry point: ``python -m ircd`` (or the ``messenger-ircd`` script).

Settings come from built-in defaults, then ``messenger.toml`` (or ``--config PATH``), then
flags. ``--hash-password`` prints a password hash for an ``[[operators]]`` entry and exits;
``--print-config`` prints the documented default ``messenger.toml`` (generated from the schema in
``ircd/config.py``) and exits.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.machinery
import logging
import os
import sys

from ircd.config import ConfigError, load_config, render_toml

DEFAULT_CONFIG_PATH = "messenger.toml"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Dotted config key -> the flag that sets it (so errors name what the user typed).
_FLAG_KEYS = {
    "server.host": "--host",
    "server.port": "--port",
    "storage.state_file": "--state",
    "web.port": "--web-port",
}

log = logging.getLogger("ircd")


def _log_compiled() -> None:
    """Say which modules run compiled (the optional mypyc build, scripts/compile.sh), and warn
    about one older than its source: Python would import the stale extension, not the edit."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    compiled = []
    for name, mod in sorted(sys.modules.items()):
        path = getattr(mod, "__file__", None) or ""
        if not name.startswith("ircd.") or name.endswith("__mypyc") or not path.endswith(suffixes):
            continue
        compiled.append(name)
        src = path[: -len(next(s for s in suffixes if path.endswith(s)))] + ".py"
        if os.path.exists(src) and os.path.getmtime(src) > os.path.getmtime(path):
            log.warning("%s is compiled from an older %s: run scripts/compile.sh", name, src)
    if compiled:
        log.info("compiled with mypyc: %s", ", ".join(compiled))


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ircd",
        description="A messenger server that speaks IRC.",
    )
    parser.add_argument("--host", metavar="ADDR", help="address to listen on (server.host)")
    # Parsed as a string on purpose: load_config validates it and reports a one-line error.
    parser.add_argument("--port", metavar="PORT", help="TCP port, 0 = any free port (server.port)")
    parser.add_argument(
        "--web-port",
        metavar="PORT",
        help="port of the web messenger and IRC over WebSocket, 0 = off (web.port)",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"TOML config file (default: ./{DEFAULT_CONFIG_PATH} if it exists)",
    )
    parser.add_argument("--state", metavar="PATH", help="state file (storage.state_file)")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="INFO",
        help="logging verbosity (default: INFO)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the documented default messenger.toml (every setting with its comment) "
        "and exit",
    )
    parser.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password (prompt, or one line on stdin), print its hash for "
        "[[operators]] password_hash, and exit",
    )
    return parser


def _read_password() -> str | None:
    """Prompt twice on a terminal, else read one line from stdin. None if aborted."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            first = getpass.getpass("Password: ")
            second = getpass.getpass("Repeat password: ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return None
        if first != second:
            print("error: passwords do not match", file=sys.stderr)
            return None
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")


def _hash_password_command() -> int:
    from ircd.messenger.passwords import hash_password

    password = _read_password()
    if password is None:
        return 1
    if not password:
        print("error: empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)

    if args.print_config:
        sys.stdout.write(render_toml())
        return 0

    if args.hash_password:
        # Works even when the config file is broken: you may need a hash to fix it.
        return _hash_password_command()

    config_path: str | None = args.config
    if config_path is None and os.path.isfile(DEFAULT_CONFIG_PATH):
        config_path = DEFAULT_CONFIG_PATH
    overrides = {
        "server.host": args.host,
        "server.port": args.port,
        "storage.state_file": args.state,
        "web.port": args.web_port,
    }
    try:
        config = load_config(config_path, overrides, flag_names=_FLAG_KEYS)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    log.info("configuration: %s", config_path or "built-in defaults")

    from ircd.server import run

    _log_compiled()
    exit_code: int = run(config)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
