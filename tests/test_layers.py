"""Architecture rules, checked on the source with ``ast``: the sans-I/O layers import no I/O,
only the entry point imports the server, only the clock reads the wall clock, and the command
table has the verbs we ship."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IRCD = ROOT / "ircd"

IO_MODULES = ("asyncio", "socket", "selectors", "ssl", "ircd.irc", "ircd.server", "ircd.storage")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in ``path``, relative ones resolved;
    ``from a import b`` yields both ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            yield node.lineno, mod
            for alias in node.names:
                yield node.lineno, f"{mod}.{alias.name}"


def _matches(module: str, banned: str) -> bool:
    return module == banned or module.startswith(banned + ".")


def _sources(*dirs: str) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        out.extend(sorted((IRCD / d).rglob("*.py")))
    assert out, f"no sources under {dirs}"
    return out


def _violations(paths: list[Path], banned: tuple[str, ...]) -> list[str]:
    bad = []
    for p in paths:
        for line, mod in imports_of(p):
            for b in banned:
                if _matches(mod, b):
                    bad.append(f"{p.relative_to(ROOT)}:{line} imports {mod}")
    return bad


def test_import_matching() -> None:
    assert _matches("ircd.irc.hub", "ircd.irc")
    assert _matches("asyncio", "asyncio")
    assert not _matches("ircd.irclib", "ircd.irc")
    assert not _matches("asyncio_extras", "asyncio")


def test_import_resolution_works() -> None:
    # guard for the checks below: relative imports are resolved to absolute names
    mods = {m for _, m in imports_of(IRCD / "messenger" / "engine.py")}
    assert "ircd.clock" in mods
    assert "ircd.messenger.errors" in mods
    mods = {m for _, m in imports_of(IRCD / "irc" / "hub.py")}
    assert "ircd.wire" in mods and "ircd.messenger" in mods


@pytest.mark.parametrize("layer", ["messenger", "wire"])
def test_sans_io_layers_import_no_io(layer: str) -> None:
    banned = IO_MODULES + (("ircd.wire",) if layer == "messenger" else ())
    assert _violations(_sources(layer), banned) == []


def test_wire_imports_nothing_else_from_ircd() -> None:
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {mod}"
        for p in _sources("wire")
        for line, mod in imports_of(p)
        if _matches(mod, "ircd") and not _matches(mod, "ircd.wire")
    ]
    assert bad == []


def test_adapter_does_no_io() -> None:
    assert _violations(_sources("irc"), ("asyncio", "socket", "ircd.server", "ircd.storage")) == []


def test_only_the_entry_point_imports_the_server() -> None:
    paths = [p for p in sorted(IRCD.rglob("*.py")) if p != IRCD / "__main__.py"]
    paths = [p for p in paths if p != IRCD / "server.py"]
    assert _violations(paths, ("ircd.server",)) == []
    assert any(_matches(m, "ircd.server") for _, m in imports_of(IRCD / "__main__.py"))


# ---------------------------------------------------------------------- the wall clock

WALL_CLOCK = {
    ("time", "time"),
    ("time", "time_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def wall_clock_reads(source: str, where: str) -> list[str]:
    """Every ``time.time()``/``datetime.now()``-like read in ``source`` (aliases included)."""
    tree = ast.parse(source, where)
    names = {"time": "time", "datetime": "datetime", "date": "date"}  # local name -> real
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("time", "datetime"):
                    names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module == "datetime":
            for alias in node.names:
                if alias.name in ("datetime", "date"):
                    names[alias.asname or alias.name] = alias.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            local = (
                owner.id
                if isinstance(owner, ast.Name)
                else owner.attr
                if isinstance(owner, ast.Attribute)
                else None
            )
            real = names.get(local or "")
            if (real, node.attr) in WALL_CLOCK:
                found.append(f"{where}:{node.lineno} {real}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            for alias in node.names:
                if alias.name in ("time", "time_ns"):
                    found.append(f"{where}:{node.lineno} from time import {alias.name}")
    return found


def test_wall_clock_checker_finds_reads() -> None:
    sample = (
        "import time, datetime as dt\n"
        "from datetime import datetime\n"
        "from time import time_ns\n"
        "a = time.time()\n"
        "b = datetime.now()\n"
        "c = dt.datetime.utcnow()\n"
        "d = datetime.fromtimestamp(0)\n"
        "import time as _t\n"
        "e = _t.time\n"
        "from datetime import date as D\n"
        "f = D.today()\n"
    )
    assert set(wall_clock_reads(sample, "x.py")) == {
        "x.py:3 from time import time_ns",
        "x.py:4 time.time",
        "x.py:5 datetime.now",
        "x.py:6 datetime.utcnow",
        "x.py:9 time.time",
        "x.py:11 date.today",
    }
    clock = IRCD / "clock.py"
    assert wall_clock_reads(clock.read_text(encoding="utf-8"), "clock.py")  # the one reader


def test_only_clock_reads_the_wall_clock() -> None:
    bad = []
    for p in sorted(IRCD.rglob("*.py")):
        if p == IRCD / "clock.py":
            continue
        bad.extend(wall_clock_reads(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT))))
    assert bad == []


# ---------------------------------------------------------------------- the command table

EXPECTED_VERBS = {
    # registration
    "CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT", "AUTHENTICATE", "REGISTER",
    # channels
    "JOIN", "PART", "TOPIC", "NAMES", "LIST", "KICK", "MODE", "INVITE",
    # messages
    "PRIVMSG", "NOTICE", "TAGMSG",
    # queries
    "WHO", "WHOIS", "WHOWAS", "ISON", "USERHOST", "AWAY", "MOTD", "LUSERS", "VERSION", "TIME",
    "USERS", "OPER", "MONITOR",
    # about the server
    "HELP", "HELPOP", "INFO", "LINKS",
    # identity and moderation
    "SETNAME", "CHGHOST", "REDACT", "KILL", "WALLOPS",
    # history
    "UNREAD", "CHATHISTORY", "MARKREAD",
    # the messenger's own verbs
    "DELAY", "COMPLAIN", "MESSENGER",
}  # fmt: skip

BEFORE_REGISTRATION = {
    "CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT", "AUTHENTICATE", "REGISTER",
}  # fmt: skip


def test_command_table_has_the_expected_verbs() -> None:
    from ircd.irc import COMMANDS

    assert set(COMMANDS) == EXPECTED_VERBS
    early = {name for name, spec in COMMANDS.items() if spec.before_registration}
    assert early == BEFORE_REGISTRATION
    for name, spec in COMMANDS.items():
        assert spec.name == name
        assert name == name.upper()
        assert spec.min_params >= 0
