"""Server configuration: defaults, ``messenger.toml`` and command-line overrides.

Precedence is: built-in defaults < TOML file < overrides (the command line). Every key is
validated and unknown sections/keys are rejected so typos do not silently fall back to a
default. All problems are reported as a :class:`ConfigError` whose text is a single line
naming the offending key, e.g.::

    messenger.toml: limits.period_seconds: must be a positive integer, got -5
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "AccountsConfig",
    "ChatConfig",
    "Config",
    "ConfigError",
    "LimitsConfig",
    "ModerationConfig",
    "OperatorConfig",
    "ServerConfig",
    "StorageConfig",
    "default_config",
    "load_config",
]

FSYNC_MODES = ("always", "everysec", "never")

DEFAULT_MOTD = (
    "Welcome to the Messenger IRC network. Everyone lands in #general. "
    "Type /msg Messenger help for delayed messages, complaints and more."
)


class ConfigError(Exception):
    """A bad configuration value. ``str(err)`` is one line naming the key and the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split("\n")).replace("\r", " "))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    name: str = "irc.messenger.local"
    network: str = "Messenger"
    motd: str = DEFAULT_MOTD
    max_clients_per_ip: int = 64
    ping_interval: float = 60.0
    ping_timeout: float = 120.0
    registration_timeout: float = 30.0
    sendq_bytes: int = 1_048_576
    max_channels_per_user: int = 50
    command_burst: int = 25
    commands_per_second: float = 5.0
    max_queued_commands: int = 100
    tls_cert: str = ""
    tls_key: str = ""
    tls_port: int = 0


@dataclass(frozen=True, slots=True)
class StorageConfig:
    state_file: str = "state.json"
    fsync: str = "everysec"
    snapshot_interval: float = 60.0


@dataclass(frozen=True, slots=True)
class ChatConfig:
    general_channel: str = "#general"
    backlog_on_join: int = 20
    max_unread_replay: int = 1000
    history_per_channel: int = 10000
    history_per_private: int = 2000
    chathistory_max: int = 100
    max_read_markers: int = 200


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    messages_per_period: int = 20
    period_seconds: int = 3600
    private_burst: int = 10
    private_per_second: float = 2.0
    max_delayed_per_user: int = 25
    max_delay_seconds: int = 604800


@dataclass(frozen=True, slots=True)
class ModerationConfig:
    complaints_to_ban: int = 3
    ban_seconds: int = 14400
    complaints_require_account: bool = True
    complaint_min_account_age: int = 86400
    same_address_counts_once: bool = True
    operators_immune: bool = True


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    auto_register: bool = True
    allow_guests: bool = True
    login_failures_per_minute: int = 5
    account_failures_per_minute: int = 20
    max_new_per_address: int = 10
    new_per_address_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    name: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    operators: tuple[OperatorConfig, ...] = ()


def default_config() -> Config:
    """The built-in defaults (what you get with no file and no flags)."""
    return Config()


# --------------------------------------------------------------------------------------------
# Validation rules
# --------------------------------------------------------------------------------------------

_SECTIONS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "storage": StorageConfig,
    "chat": ChatConfig,
    "limits": LimitsConfig,
    "moderation": ModerationConfig,
    "accounts": AccountsConfig,
}
_TOP_LEVEL = (*_SECTIONS, "operators")


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: type[Any]  # int, float, bool or str
    expect: str  # completes "must be ..."
    ok: Callable[[Any], bool] = lambda _value: True


def _int(lo: int, hi: int | None = None) -> _Rule:
    if hi is not None:
        expect = f"an integer {lo}-{hi}"
    elif lo == 0:
        expect = "a non-negative integer"
    elif lo == 1:
        expect = "a positive integer"
    else:
        expect = f"an integer >= {lo}"
    return _Rule(int, expect, lambda v: v >= lo and (hi is None or v <= hi))


def _positive_float(unit: str) -> _Rule:
    return _Rule(float, f"a positive number of {unit}", lambda v: math.isfinite(v) and v > 0)


def _no_space(s: str) -> bool:
    return bool(s) and not any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in s)


def _is_server_name(s: str) -> bool:
    return _no_space(s) and "." in s and not s.startswith((".", ":")) and not s.endswith(".")


def _is_channel(s: str) -> bool:
    return len(s) > 1 and s.startswith("#") and _no_space(s) and "," not in s


_ANY_STR = _Rule(str, "a string")
_PORT = _int(0, 65535)

_RULES: dict[str, _Rule] = {
    "server.host": _Rule(str, "a host name or address without spaces", _no_space),
    "server.port": _PORT,
    "server.name": _Rule(str, "a server name without spaces containing a '.'", _is_server_name),
    "server.network": _Rule(str, "a network name without spaces", _no_space),
    "server.motd": _ANY_STR,
    "server.max_clients_per_ip": _int(1),
    "server.ping_interval": _positive_float("seconds"),
    "server.ping_timeout": _positive_float("seconds"),
    "server.registration_timeout": _positive_float("seconds"),
    "server.sendq_bytes": _int(1),
    "server.max_channels_per_user": _int(1),
    "server.command_burst": _int(1),
    "server.commands_per_second": _Rule(
        float, "a non-negative number of commands per second (0 = no limit)", lambda v: v >= 0
    ),
    "server.max_queued_commands": _int(1),
    "server.tls_cert": _ANY_STR,
    "server.tls_key": _ANY_STR,
    "server.tls_port": _PORT,
    "storage.state_file": _Rule(str, "a non-empty file path", bool),
    "storage.fsync": _Rule(str, "one of 'always', 'everysec', 'never'", FSYNC_MODES.__contains__),
    "storage.snapshot_interval": _positive_float("seconds"),
    "chat.general_channel": _Rule(
        str, "a channel name starting with '#' without spaces or commas", _is_channel
    ),
    "chat.backlog_on_join": _int(0),
    "chat.max_unread_replay": _int(0),
    "chat.history_per_channel": _int(1),
    "chat.history_per_private": _int(1),
    "chat.chathistory_max": _int(1),
    "chat.max_read_markers": _int(1),
    "limits.messages_per_period": _int(1),
    "limits.period_seconds": _int(1),
    "limits.private_burst": _int(1),
    "limits.private_per_second": _positive_float("messages per second"),
    "limits.max_delayed_per_user": _int(0),
    "limits.max_delay_seconds": _int(1),
    "moderation.complaints_to_ban": _int(1),
    "moderation.ban_seconds": _int(1),
    "moderation.complaints_require_account": _Rule(bool, "true or false"),
    "moderation.complaint_min_account_age": _int(0),
    "moderation.same_address_counts_once": _Rule(bool, "true or false"),
    "moderation.operators_immune": _Rule(bool, "true or false"),
    "accounts.auto_register": _Rule(bool, "true or false"),
    "accounts.allow_guests": _Rule(bool, "true or false"),
    "accounts.login_failures_per_minute": _int(1),
    "accounts.account_failures_per_minute": _int(1),
    "accounts.max_new_per_address": _int(0),
    "accounts.new_per_address_seconds": _int(1),
}

_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def _show(value: Any) -> str:
    """Render a bad value for an error message (TOML-ish, short, one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (known: {', '.join(choices)})"


def _from_text(kind: type[Any], text: str) -> Any:
    """Convert a command-line string to ``kind``; returns ``text`` unchanged if impossible."""
    stripped = text.strip()
    try:
        if kind is bool:
            if stripped.lower() in _TRUE_WORDS:
                return True
            if stripped.lower() in _FALSE_WORDS:
                return False
            return text
        if kind is int:
            return int(stripped)
        if kind is float:
            return float(stripped)
    except ValueError:
        return text
    return text


def _check(label: str, rule: _Rule, value: Any, *, from_text: bool) -> Any:
    """Type-check/normalise one value; raise ConfigError mentioning ``label``."""
    if from_text and isinstance(value, str) and rule.kind is not str:
        value = _from_text(rule.kind, value)
    if rule.kind is bool:
        good = isinstance(value, bool)
    elif rule.kind is int:
        good = isinstance(value, int) and not isinstance(value, bool)
    elif rule.kind is float:
        good = isinstance(value, (int, float)) and not isinstance(value, bool)
        if good:
            value = float(value)
    else:
        good = isinstance(value, str)
    if not good or not rule.ok(value):
        raise ConfigError(f"{label}: must be {rule.expect}, got {_show(value)}")
    return value


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Setting:
    value: Any
    label: str  # what to call it in an error message
    from_text: bool  # came from the command line as a string: allow "8000" -> 8000


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: file is not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _collect_file(path: str, data: dict[str, Any], settings: dict[str, _Setting]) -> list[Any]:
    """Flatten the TOML document into ``settings``; return the raw ``operators`` array."""
    operators: list[Any] = []
    for section, body in data.items():
        if section not in _TOP_LEVEL:
            raise ConfigError(
                f"{path}: {section}: unknown section{_suggest(section, list(_TOP_LEVEL))}"
            )
        if section == "operators":
            if not isinstance(body, list):
                raise ConfigError(
                    f"{path}: operators: must be an array of tables ([[operators]]), "
                    f"got {_show(body)}"
                )
            operators = body
            continue
        if not isinstance(body, dict):
            raise ConfigError(
                f"{path}: {section}: must be a table ([{section}]), got {_show(body)}"
            )
        known = [f.name for f in fields(_SECTIONS[section])]
        for key, value in body.items():
            if key not in known:
                raise ConfigError(f"{path}: {section}.{key}: unknown key{_suggest(key, known)}")
            settings[f"{section}.{key}"] = _Setting(value, f"{path}: {section}.{key}", False)
    return operators


def _parse_operators(path: str, raw: list[Any]) -> tuple[OperatorConfig, ...]:
    if not raw:
        return ()
    # Imported here, not at module level: ircd.messenger's package __init__ may import this
    # module, and config must stay importable first without a cycle.
    from ircd.messenger.passwords import is_password_hash

    result: list[OperatorConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"{path}: operators[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table with name and password_hash")
        for key in entry:
            if key not in ("name", "password_hash"):
                raise ConfigError(
                    f"{where}.{key}: unknown key{_suggest(key, ['name', 'password_hash'])}"
                )
        for key in ("name", "password_hash"):
            if key not in entry:
                raise ConfigError(f"{where}.{key}: missing")
        name = entry["name"]
        if not isinstance(name, str) or not _no_space(name):
            raise ConfigError(f"{where}.name: must be a name without spaces, got {_show(name)}")
        if name.casefold() in seen:
            raise ConfigError(f"{where}.name: duplicate operator name {name!r}")
        seen.add(name.casefold())
        pw_hash = entry["password_hash"]
        if not isinstance(pw_hash, str) or not is_password_hash(pw_hash):
            raise ConfigError(
                f"{where}.password_hash: must be a hash from 'python -m ircd --hash-password', "
                f"got {_show(pw_hash)}"
            )
        result.append(OperatorConfig(name=name, password_hash=pw_hash))
    return tuple(result)


def load_config(
    path: str | None,
    overrides: Mapping[str, Any],
    *,
    flag_names: Mapping[str, str] | None = None,
) -> Config:
    """Load ``path`` (if given), apply ``overrides`` and validate everything.

    ``overrides`` maps dotted keys (``"server.port"``) to values; ``None`` values are ignored
    and string values are converted for numeric/boolean keys (they come from the command
    line). ``flag_names`` optionally maps a dotted key to the flag that set it (``"--port"``)
    so errors name what the user actually typed.
    """
    settings: dict[str, _Setting] = {}
    raw_operators: list[Any] = []
    source = path or "<defaults>"
    if path is not None:
        raw_operators = _collect_file(path, _read_toml(path), settings)

    names = flag_names or {}
    for key, value in overrides.items():
        if value is None:
            continue
        label = names.get(key, f"command line: {key}")
        if key not in _RULES:
            raise ConfigError(f"{label}: unknown setting{_suggest(key, list(_RULES))}")
        settings[key] = _Setting(value, label, True)

    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            key = f"{section}.{f.name}"
            setting = settings.get(key)
            if setting is not None:
                kwargs[f.name] = _check(
                    setting.label, _RULES[key], setting.value, from_text=setting.from_text
                )
        sections[section] = cls(**kwargs)

    server: ServerConfig = sections["server"]
    if server.tls_port:
        tls_label = settings["server.tls_port"].label
        if not server.tls_cert:
            raise ConfigError(f"{tls_label}: TLS is enabled but server.tls_cert is empty")
        if server.tls_port == server.port:
            raise ConfigError(f"{tls_label}: must differ from server.port ({server.port})")

    return Config(**sections, operators=_parse_operators(source, raw_operators))
