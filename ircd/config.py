"""Server configuration: one schema, ``messenger.toml`` and command-line overrides.

Every setting is declared exactly once, as a field of one of the section dataclasses below,
with :func:`setting`: its type (the annotation), default, validation rule, the one-line
documentation that becomes its comment in ``messenger.toml``, and, when the messenger engine
needs it, the :class:`~ircd.messenger.model.Rules` field it feeds. Everything else is derived
from that one declaration: validation (``_RULES``), the documented file (:func:`render_toml`,
``python -m ircd --print-config > messenger.toml``; a test checks the file is exactly that) and
the engine's rules (:func:`rules_from`). The ``[[operators]]`` array is parsed by hand.

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
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ircd.wire import casefold

if TYPE_CHECKING:
    from ircd.messenger.model import Rules

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
    "WebConfig",
    "default_config",
    "load_config",
    "render_toml",
    "rules_from",
]

FSYNC_MODES = ("always", "everysec", "never")

DEFAULT_MOTD = (
    "Welcome to the Messenger IRC network. "
    "Type /msg Messenger help for delayed messages, complaints and more."
)


class ConfigError(Exception):
    """A bad configuration value. ``str(err)`` is one line naming the key and the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split("\n")).replace("\r", " "))


# --------------------------------------------------------------------------------------------
# Validation rules (what a value must be), used by the schema below
# --------------------------------------------------------------------------------------------


def _anything(_value: Any) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: type[Any]  # int, float, bool or str: the type of the default
    expect: str  # completes "must be ..."
    ok: Callable[[Any], bool] = _anything


@dataclass(frozen=True, slots=True)
class _Check:
    """A rule without its type (the setting's default gives that)."""

    expect: str
    ok: Callable[[Any], bool] = _anything


def _int(lo: int, hi: int | None = None) -> _Check:
    if hi is not None:
        expect = f"an integer {lo}-{hi}"
    elif lo == 0:
        expect = "a non-negative integer"
    elif lo == 1:
        expect = "a positive integer"
    else:
        expect = f"an integer >= {lo}"
    return _Check(expect, lambda v: v >= lo and (hi is None or v <= hi))


def _positive_float(unit: str) -> _Check:
    return _Check(f"a positive number of {unit}", lambda v: math.isfinite(v) and v > 0)


def _no_space(s: str) -> bool:
    return bool(s) and not any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in s)


def _one_short_line(s: str) -> bool:
    return 0 < len(s) <= 100 and s.strip() == s and not any(ord(c) < 32 or c == "\x7f" for c in s)


def _is_server_name(s: str) -> bool:
    return _no_space(s) and "." in s and not s.startswith((".", ":")) and not s.endswith(".")


def _is_channel(s: str) -> bool:
    return len(s) > 1 and s.startswith("#") and _no_space(s) and "," not in s


_PORT = _int(0, 65535)
_SECONDS = _positive_float("seconds")
# what a value of a type must be when the setting states nothing more
_PLAIN: dict[type[Any], _Check] = {bool: _Check("true or false"), str: _Check("a string")}


# --------------------------------------------------------------------------------------------
# The schema: every setting, declared once
# --------------------------------------------------------------------------------------------

_T = TypeVar("_T")
_SCHEMA_KEY = "ircd.config"


@dataclass(frozen=True, slots=True)
class _Meta:
    """What the schema knows about a setting besides its name, type and default."""

    check: _Check | None  # None: any value of the type (see _PLAIN)
    doc: str  # its comment in messenger.toml (one paragraph, wrapped when rendered)
    engine: str  # the Rules field it feeds ("": the engine does not read it)
    to_engine: Callable[[Any], Any] | None  # how the value becomes that field (None: as is)


def setting(
    default: _T,
    check: _Check | None = None,
    *,
    doc: str,
    engine: str = "",
    to_engine: Callable[[_T], Any] | None = None,
) -> _T:
    """Declare one setting: a dataclass field with ``default`` whose metadata holds the rest.

    ``check`` is what a value must be beyond its type; ``doc`` is its comment in
    ``messenger.toml``; ``engine`` names the :class:`Rules` field it feeds (through
    ``to_engine`` when the engine wants it in another form)."""
    meta = _Meta(check, doc, engine, to_engine)
    return field(default=default, metadata={_SCHEMA_KEY: meta})


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = setting(
        "127.0.0.1",
        _Check("a host name or address without spaces", _no_space),
        doc='Address to listen on for plain-text IRC (use "0.0.0.0" or "::" for all interfaces).',
    )
    port: int = setting(8000, _PORT, doc="TCP port for plain-text IRC; 0 picks any free port.")
    name: str = setting(
        "irc.messenger.local",
        _Check("a server name without spaces containing a '.'", _is_server_name),
        doc="This server's name as shown to clients (no spaces, must contain a '.').",
    )
    network: str = setting(
        "Messenger",
        _Check("a network name without spaces", _no_space),
        doc="Network name advertised to clients (RPL_ISUPPORT NETWORK=); no spaces.",
    )
    description: str = setting(
        "A messenger server that speaks IRC",
        _Check("one line of at most 100 characters", _one_short_line),
        doc="One line about this server, shown by LINKS (RPL_LINKS) and INFO.",
    )
    motd: str = setting(
        DEFAULT_MOTD, doc="Message of the day, sent after registration and on /MOTD."
    )
    max_clients_per_ip: int = setting(
        64, _int(1), doc="Maximum simultaneous connections from one IP address (connections)."
    )
    ping_interval: float = setting(
        60.0, _SECONDS, doc="Send a PING to a client that has been idle this long (seconds)."
    )
    ping_timeout: float = setting(
        120.0, _SECONDS, doc="Disconnect a client that has sent nothing for this long (seconds)."
    )
    registration_timeout: float = setting(
        30.0,
        _SECONDS,
        doc="Disconnect a connection that has not finished NICK/USER registration within "
        "this time (seconds).",
    )
    sendq_bytes: int = setting(
        1_048_576,
        _int(1),
        doc="Maximum output queued for one slow client before it is disconnected (bytes).",
    )
    max_channels_per_user: int = setting(
        50, _int(1), doc="Maximum number of channels one user may be in at once (channels)."
    )
    monitor_limit: int = setting(
        100,
        _int(1),
        doc="MONITOR: nicks one connection may watch for coming online and going offline "
        "(ISUPPORT MONITOR=; nicks).",
    )
    whowas_history: int = setting(
        1000,
        _int(1),
        doc="WHOWAS: how many quit or renamed nicks the server remembers (the oldest are "
        "forgotten first; in memory only; entries).",
    )
    command_burst: int = setting(
        25, _int(1), doc="Flood control: commands a connection may send in a burst (commands)..."
    )
    commands_per_second: float = setting(
        5.0,
        _Check("a non-negative number of commands per second (0 = no limit)", lambda v: v >= 0),
        doc="...and after the burst, commands per second; faster lines wait (0 = no limit).",
    )
    max_queued_commands: int = setting(
        100,
        _int(1),
        doc='A connection with more lines than this waiting is closed with "Excess flood" (lines).',
    )
    tls_cert: str = setting("", doc='TLS certificate chain file (PEM path); "" = no TLS.')
    tls_key: str = setting(
        "", doc='TLS private key file (PEM path); "" = the key is inside tls_cert.'
    )
    tls_port: int = setting(
        0, _PORT, doc="TCP port for TLS IRC; 0 = TLS disabled (requires tls_cert when set)."
    )


def _is_origin_list(s: str) -> bool:
    """``*``, or origins (``https://chat.example.com``) separated by spaces or commas."""
    words = s.replace(",", " ").split()
    if words == ["*"]:
        return True
    return all("://" in w and not w.endswith("/") for w in words)


def _is_address_list(s: str) -> bool:
    """IP addresses or networks (``10.0.0.0/8``) separated by spaces or commas."""
    import ipaddress

    try:
        for w in s.replace(",", " ").split():
            ipaddress.ip_network(w, strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class WebConfig:
    host: str = setting(
        "127.0.0.1",
        _Check("a host name or address without spaces", _no_space),
        doc="Address of the web listener: the web messenger at / and IRC over WebSocket at "
        '/irc (use "0.0.0.0" or "::" for all interfaces).',
    )
    port: int = setting(
        8080,
        _PORT,
        doc="TCP port of the web listener (http://host:port/, ws://host:port/irc); 0 = no web "
        "listener. With server.tls_cert set it speaks TLS (https://, wss://).",
    )
    allowed_origins: str = setting(
        "",
        _Check(
            'origins like "https://chat.example.com" separated by spaces, or "*"',
            _is_origin_list,
        ),
        doc="Web pages (origins) whose scripts may open /irc, separated by spaces: "
        '"" = only pages served by this listener, "*" = any page. Clients that send no '
        "Origin (non-browser clients) are always allowed; other browsers get 403.",
    )
    trusted_proxies: str = setting(
        "",
        _Check('IP addresses or networks like "10.0.0.0/8", separated by spaces', _is_address_list),
        doc="Reverse proxies (addresses or networks, separated by spaces) whose "
        "X-Forwarded-For header gives the client's address (and X-Forwarded-Proto: https "
        "marks it secure); from anyone else these headers are ignored.",
    )


@dataclass(frozen=True, slots=True)
class StorageConfig:
    state_file: str = setting(
        "state.json",
        _Check("a non-empty file path", bool),
        doc="File where accounts, history and queued messages are persisted (path).",
    )
    fsync: str = setting(
        "everysec",
        _Check("one of 'always', 'everysec', 'never'", FSYNC_MODES.__contains__),
        doc='When to fsync the state journal: "always" (every write), "everysec" (at most '
        'once a second) or "never" (leave it to the OS).',
    )
    snapshot_interval: float = setting(
        60.0,
        _SECONDS,
        doc="How often the full state is rewritten as a compact snapshot (seconds).",
    )


@dataclass(frozen=True, slots=True)
class ChatConfig:
    auto_join: bool = setting(
        True,
        doc="Put everyone into the general channel on connect, where the newest get its recent "
        "messages; it has no channel operator and always stays (true/false). Off: a plain IRC "
        "server, where the general channel is an ordinary channel.",
        engine="auto_join",
    )
    general_channel: str = setting(
        "#general",
        _Check("a channel name starting with '#' without spaces or commas", _is_channel),
        doc="The channel every user joins automatically, with auto_join (must start with '#', "
        "no spaces or commas).",
        engine="general_room",
        to_engine=casefold,
    )
    unpulled_push_seconds: float = setting(
        10.0,
        _SECONDS,
        doc="A client that pulls history itself (draft/chathistory) is told of its unread "
        "messages, not sent them; a conversation with unread messages it has not pulled "
        "this long after connecting (no UNREAD, CHATHISTORY TARGETS or CHATHISTORY for it: "
        "Kiwi IRC never pulls private ones) is then sent to it (seconds).",
    )
    backlog_on_join: int = setting(
        20, _int(0), doc="Recent messages replayed when joining a channel (messages; 0 = none)."
    )
    max_unread_replay: int = setting(
        1000,
        _int(0),
        doc="Maximum unread messages replayed to a returning account on login (messages; "
        "0 = none).",
        engine="max_unread_replay",
    )
    history_per_channel: int = setting(
        10000, _int(1), doc="Messages kept per channel (messages).", engine="history_per_room"
    )
    history_per_private: int = setting(
        2000,
        _int(1),
        doc="Messages kept per private conversation (messages).",
        engine="history_per_private",
    )
    chathistory_max: int = setting(
        100, _int(1), doc="Maximum messages returned by one CHATHISTORY request (messages)."
    )
    max_read_markers: int = setting(
        200,
        _int(1),
        doc="Read markers (draft/read-marker) kept per user (markers). A marker only moves "
        "forward, also across a PART; beyond this number the oldest ones are forgotten.",
        engine="max_read_markers",
    )


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    messages_per_period: int = setting(
        20,
        _int(1),
        doc="Channel messages a user may send per period (messages).",
        engine="messages_per_period",
    )
    period_seconds: int = setting(
        3600,
        _int(1),
        doc="Length of that rate-limit period (seconds; 3600 = one hour).",
        engine="period_seconds",
    )
    private_burst: int = setting(
        10,
        _int(1),
        doc="Private messages a user may send in a quick burst (messages).",
        engine="private_burst",
    )
    private_per_second: float = setting(
        2.0,
        _positive_float("messages per second"),
        doc="Sustained private-message rate after the burst is used up (messages per second).",
        engine="private_per_second",
    )
    max_delayed_per_user: int = setting(
        25,
        _int(0),
        doc="Maximum delayed (scheduled) messages pending per user (messages; 0 disables them).",
        engine="max_delayed_per_user",
    )
    max_delay_seconds: int = setting(
        604800,
        _int(1),
        doc="Furthest in the future a message may be scheduled (seconds; 604800 = one week).",
        engine="max_delay_seconds",
    )


@dataclass(frozen=True, slots=True)
class ModerationConfig:
    complaints_to_ban: int = setting(
        3,
        _int(1),
        doc="Complaints from distinct users needed to ban someone (complaints).",
        engine="complaints_to_ban",
    )
    ban_seconds: int = setting(
        14400,
        _int(1),
        doc="How long such a ban lasts (seconds; 14400 = four hours).",
        engine="ban_seconds",
    )
    complaints_require_account: bool = setting(
        True,
        doc="Only users logged in to an account may file complaints (true/false).",
        engine="complaints_require_account",
    )
    complaint_min_account_age: int = setting(
        86400,
        _int(0),
        doc="Complainers whose accounts are younger than this when they complain, and were "
        "created from the same address, count as one complainer together (seconds; 86400 = "
        "one day; 0 = no account is young). A guest (complaints_require_account = false) is "
        "always young.",
        engine="complaint_min_account_age",
    )
    same_address_counts_once: bool = setting(
        True,
        doc="Whether the rule above applies: young accounts from one address count once "
        "(true/false).",
        engine="same_address_counts_once",
    )
    operators_immune: bool = setting(
        True,
        doc="Complaints never mute a server operator: a connection that did OPER, or an "
        "account that did OPER as an operator still listed below (true/false). Their "
        "complaints are kept.",
        engine="operators_immune",
    )


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    auto_register: bool = setting(
        True,
        doc="Create an account automatically the first time a nick logs in with a password "
        "(true/false).",
        engine="auto_register",
    )
    allow_guests: bool = setting(
        True,
        doc="Allow users without an account (guests) to connect (true/false).",
        engine="allow_guests",
    )
    login_failures_per_minute: int = setting(
        5,
        _int(1),
        doc="Failed logins allowed per minute for one account from one address; then that "
        "address is refused for that account, for 1 minute, doubling with each lockout up to "
        "1 hour (attempts).",
    )
    account_failures_per_minute: int = setting(
        20,
        _int(1),
        doc="Failed logins allowed per minute for one account from all addresses; then "
        "addresses that already failed for it are refused (a correct password from elsewhere "
        "still works) (attempts).",
    )
    max_new_per_address: int = setting(
        10,
        _int(0),
        doc="Accounts that may be created from one address per new_per_address_seconds "
        "(0 = no limit).",
        engine="accounts_per_address",
    )
    new_per_address_seconds: int = setting(
        3600, _int(1), doc="The period of that limit (seconds).", engine="accounts_window_seconds"
    )
    max_devices: int = setting(
        5,
        _int(1),
        doc="Connections one account may have at once (devices: a phone, a browser, irssi); "
        "they share one nick and one unread memory. Another login beyond it is refused "
        "(connections).",
    )
    register_before_connect: bool = setting(
        True,
        doc="REGISTER (draft/account-registration) is accepted before connection registration "
        "is complete; advertised as 'before-connect' (true/false).",
    )
    register_email_required: bool = setting(
        False,
        doc="REGISTER needs an email address (kept with the account; no mail is sent); "
        "advertised as 'email-required' (true/false).",
    )
    register_custom_account_name: bool = setting(
        False,
        doc="REGISTER may name an account other than the current nick; advertised as "
        "'custom-account-name' (true/false).",
    )


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    name: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    web: WebConfig = field(default_factory=WebConfig)
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
# What the schema derives: sections, validation rules, the engine's rules, messenger.toml
# --------------------------------------------------------------------------------------------

# section name -> its dataclass, in Config's order ("operators" is not a section of settings)
_SECTIONS: dict[str, type[Any]] = {
    f.name: cast("type[Any]", f.default_factory)
    for f in fields(Config)
    if f.default_factory is not MISSING
}
_TOP_LEVEL = (*_SECTIONS, "operators")


def _schema() -> Iterator[tuple[str, Field[Any], _Meta]]:
    """(section, field, metadata) of every setting, in file order."""
    for section, cls in _SECTIONS.items():
        for f in fields(cls):
            yield section, f, f.metadata[_SCHEMA_KEY]


def _rule(f: Field[Any], meta: _Meta) -> _Rule:
    kind = type(f.default)
    check = meta.check or _PLAIN[kind]
    return _Rule(kind, check.expect, check.ok)


# "section.key" -> what its value must be
_RULES: dict[str, _Rule] = {f"{s}.{f.name}": _rule(f, meta) for s, f, meta in _schema()}
# Rules field -> ("section", "key", conversion) of the one setting that feeds it
_ENGINE: dict[str, tuple[str, str, Callable[[Any], Any] | None]] = {
    meta.engine: (s, f.name, meta.to_engine) for s, f, meta in _schema() if meta.engine
}


def rules_from(config: Config) -> Rules:
    """The messenger engine's rules for ``config``, as the schema maps settings onto them."""
    # Imported here, not at module level: reading the config (the command line, tools) need
    # not load the engine.
    from ircd.messenger.model import Rules

    kwargs: dict[str, Any] = {}
    for name, (section, key, convert) in _ENGINE.items():
        value = getattr(getattr(config, section), key)
        kwargs[name] = convert(value) if convert is not None else value
    return Rules(**kwargs)


TOML_WIDTH = 96  # comment lines of messenger.toml are wrapped to this width

_TOML_HEADER = """\
# Messenger IRC server configuration.
#
# Every value below is the built-in default; edit what you need. Precedence:
# built-in defaults < this file < command-line flags (--host, --port, --state).
# Unknown sections or keys are an error, so typos are caught at startup.
# Use another file with: python -m ircd --config PATH
#
# This file is generated from the settings schema in ircd/config.py; regenerate it with:
#   python -m ircd --print-config > messenger.toml
"""

_TOML_OPERATORS = """\
# IRC operators (/OPER name password). Add one [[operators]] table per operator.
# Generate password_hash with:   python -m ircd --hash-password
# (it prompts for the password, or reads one line from stdin, and prints the hash).
#
# [[operators]]
# name = "admin"
# password_hash = "scrypt$16384$8$1$<salt>$<hash>"
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(c if ord(c) >= 32 and c != "\x7f" else f"\\u{ord(c):04x}" for c in text)
    return f'"{text}"'


def render_toml() -> str:
    """The documented ``messenger.toml``: every setting with its comment and default."""
    out = [_TOML_HEADER]
    for section, cls in _SECTIONS.items():
        out.append(f"\n[{section}]\n")
        for f in fields(cls):
            meta: _Meta = f.metadata[_SCHEMA_KEY]
            for line in textwrap.wrap(meta.doc, TOML_WIDTH - 2):
                out.append(f"# {line}\n")
            out.append(f"{f.name} = {_toml_value(f.default)}\n")
    out.append("\n" + _TOML_OPERATORS)
    return "".join(out)


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
    web: WebConfig = sections["web"]
    if web.port and web.port in (server.port, server.tls_port):
        web_label = settings["web.port"].label if "web.port" in settings else "web.port"
        which = "server.port" if web.port == server.port else "server.tls_port"
        raise ConfigError(f"{web_label}: must differ from {which} ({web.port})")

    return Config(**sections, operators=_parse_operators(source, raw_operators))
