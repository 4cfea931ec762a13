from __future__ import annotations

import dataclasses
import io
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from ircd.__main__ import main
from ircd.config import (
    Config,
    ConfigError,
    OperatorConfig,
    ServerConfig,
    default_config,
    load_config,
    render_toml,
    rules_from,
)
from ircd.messenger.model import Rules
from ircd.messenger.passwords import hash_password, verify_password

REPO_ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "messenger.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(path: str | None, overrides: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or {})
    message = str(info.value)
    assert "\n" not in message
    return message


# --- defaults / precedence -------------------------------------------------------------------


def test_defaults() -> None:
    config = default_config()
    assert config == Config()
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8000
    assert config.server.name == "irc.messenger.local"
    assert config.server.motd.startswith("Welcome to the Messenger IRC network.")
    assert config.storage.fsync == "everysec"
    assert config.chat.general_channel == "#general"
    assert config.limits.messages_per_period == 20
    assert config.limits.period_seconds == 3600
    assert config.moderation.complaints_require_account is True
    assert config.operators == ()
    assert load_config(None, {}) == config


def test_dataclasses_are_frozen_and_slotted() -> None:
    config = default_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]
    assert not hasattr(config.server, "__dict__")
    assert not hasattr(config, "__dict__")


def test_repo_messenger_toml_matches_defaults() -> None:
    assert load_config(str(REPO_ROOT / "messenger.toml"), {}) == default_config()


def test_repo_messenger_toml_is_what_the_schema_generates() -> None:
    # regenerate with: python -m ircd --print-config > messenger.toml
    text = (REPO_ROOT / "messenger.toml").read_text(encoding="utf-8")
    assert text == render_toml()


def test_rendered_toml_documents_every_setting_above_it() -> None:
    from ircd import config as config_module

    lines = render_toml().splitlines()
    for section, f, meta in config_module._schema():
        assert meta.doc.strip() and "\n" not in meta.doc, f"{section}.{f.name}"
        at = lines.index(f"{f.name} = {config_module._toml_value(f.default)}")
        assert lines[at - 1].startswith("# "), f"{section}.{f.name} has no comment"
    assert all(len(line) <= 100 for line in lines if line.startswith("#"))


@pytest.mark.parametrize(
    "value", ["", "plain", 'say "hi"', "back\\slash", "tab\tand\x7fdel", "\u00e9t\u00e9", "a\nb"]
)
def test_rendered_strings_read_back(tmp_path: Path, value: str) -> None:
    from ircd import config as config_module

    path = write(tmp_path, f"[server]\nmotd = {config_module._toml_value(value)}\n")
    assert load_config(path, {}).server.motd == value


def test_main_print_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[limits]\nperiod_seconds = -5\n")  # a broken ./messenger.toml is not read
    assert main(["--print-config"]) == 0
    captured = capsys.readouterr()
    assert captured.out == render_toml()
    assert captured.err == ""
    assert load_config(write(tmp_path, captured.out, name="out.toml"), {}) == default_config()


def test_schema_feeds_every_rules_field_once() -> None:
    from ircd import config as config_module

    fed = [meta.engine for _, _, meta in config_module._schema() if meta.engine]
    assert sorted(fed) == sorted(f.name for f in dataclasses.fields(Rules))
    # the engine's own defaults are what the default config gives it
    assert rules_from(default_config()) == Rules()


def test_rules_follow_the_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[chat]
general_channel = "#Lobby"
history_per_channel = 7
max_unread_replay = 0
[limits]
private_per_second = 0.5
max_delay_seconds = 60
[moderation]
operators_immune = false
[accounts]
max_new_per_address = 0
new_per_address_seconds = 90
""",
    )
    rules = rules_from(load_config(path, {}))
    assert rules == dataclasses.replace(
        Rules(),
        general_room="#lobby",
        history_per_room=7,
        max_unread_replay=0,
        private_per_second=0.5,
        max_delay_seconds=60,
        operators_immune=False,
        accounts_per_address=0,
        accounts_window_seconds=90,
    )
    import ircd.server

    assert ircd.server.rules_from is rules_from


def test_repo_messenger_toml_mentions_every_key() -> None:
    text = (REPO_ROOT / "messenger.toml").read_text(encoding="utf-8")
    for section in dataclasses.fields(Config):
        if section.name == "operators":
            assert "[[operators]]" in text
            continue
        assert f"[{section.name}]" in text
        for key in dataclasses.fields(getattr(default_config(), section.name)):
            assert f"\n{key.name} = " in text, f"{section.name}.{key.name} missing"


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
port = 6667
ping_interval = 30          # int accepted for a float
[limits]
messages_per_period = 5
[moderation]
complaints_require_account = false
""",
    )
    config = load_config(path, {})
    assert config.server.port == 6667
    assert config.server.ping_interval == 30.0
    assert isinstance(config.server.ping_interval, float)
    assert config.limits.messages_per_period == 5
    assert config.moderation.complaints_require_account is False
    # untouched keys keep their defaults
    assert config.server.host == "127.0.0.1"
    assert config.limits.period_seconds == 3600
    assert config.chat == default_config().chat


def test_cli_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 6667\nhost = "0.0.0.0"\n')
    config = load_config(
        path, {"server.port": 7000, "storage.state_file": "other.json", "server.host": None}
    )
    assert config.server.port == 7000
    assert config.server.host == "0.0.0.0"  # None override = not given
    assert config.storage.state_file == "other.json"


def test_cli_string_values_are_converted() -> None:
    config = load_config(
        None,
        {"server.port": "0", "limits.private_per_second": "1.5", "accounts.allow_guests": "no"},
    )
    assert config.server.port == 0
    assert config.limits.private_per_second == 1.5
    assert config.accounts.allow_guests is False


# --- bad values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[limits]\nperiod_seconds = -5", "limits.period_seconds: must be a positive integer"),
        ("[limits]\nmessages_per_period = 0", "limits.messages_per_period: must be a positive"),
        ("[moderation]\nban_seconds = 0", "moderation.ban_seconds:"),
        ("[moderation]\ncomplaints_to_ban = 0", "moderation.complaints_to_ban:"),
        ("[chat]\nbacklog_on_join = -1", "chat.backlog_on_join: must be a non-negative integer"),
        ("[server]\nport = 65536", "server.port: must be an integer 0-65535, got 65536"),
        ("[server]\nport = -1", "server.port:"),
        ('[server]\nport = "8000"', "server.port: must be an integer 0-65535, got '8000'"),
        ("[server]\nport = 80.5", "server.port:"),
        ("[server]\nport = true", "server.port: must be an integer 0-65535, got true"),
        ("[limits]\nperiod_seconds = 1.5", "limits.period_seconds:"),
        ('[server]\nping_interval = "60"', "server.ping_interval: must be a positive number"),
        ("[server]\nping_interval = 0", "server.ping_interval:"),
        ("[server]\nping_timeout = nan", "server.ping_timeout:"),
        ("[server]\nping_timeout = true", "server.ping_timeout:"),
        ("[accounts]\nallow_guests = 1", "accounts.allow_guests: must be true or false, got 1"),
        ('[accounts]\nauto_register = "yes"', "accounts.auto_register:"),
        ("[server]\nmotd = 5", "server.motd: must be a string, got 5"),
        ('[server]\nname = "irc messenger.local"', "server.name:"),
        ('[server]\nname = "localhost"', "server.name:"),
        ('[server]\nnetwork = "My Net"', "server.network:"),
        ('[server]\ndescription = ""', "server.description: must be one line of at most 100"),
        ('[server]\ndescription = "two\\nlines"', "server.description:"),
        (f'[server]\ndescription = "{"x" * 101}"', "server.description:"),
        ('[chat]\ngeneral_channel = "general"', "chat.general_channel:"),
        ('[chat]\ngeneral_channel = "#gen eral"', "chat.general_channel:"),
        ('[chat]\ngeneral_channel = "#a,#b"', "chat.general_channel:"),
        ('[storage]\nfsync = "sometimes"', "storage.fsync: must be one of"),
        ('[storage]\nstate_file = ""', "storage.state_file:"),
        ("[storage]\nsnapshot_interval = -1", "storage.snapshot_interval:"),
        ("[limits]\nprivate_per_second = 0", "limits.private_per_second:"),
        ("server = 5", "server: must be a table"),
        ("[server]\nport = [1, 2]", "server.port: must be an integer 0-65535, got an array"),
        ('[server]\ntls_port = 6697\ntls_cert = ""', "server.tls_port:"),
        ('[server]\ntls_port = 8000\ntls_cert = "c.pem"', "server.tls_port: must differ"),
    ],
)
def test_bad_value_names_key(tmp_path: Path, toml: str, needle: str) -> None:
    path = write(tmp_path, toml + "\n")
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert needle in message


def test_example_message_exact(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nperiod_seconds = -5\n")
    assert error_of(path) == f"{path}: limits.period_seconds: must be a positive integer, got -5"


def test_bad_override_names_key() -> None:
    message = error_of(None, {"server.port": "abc"})
    assert message == "command line: server.port: must be an integer 0-65535, got 'abc'"
    with pytest.raises(ConfigError, match=r"^--port: must be an integer 0-65535, got 'abc'$"):
        load_config(None, {"server.port": "abc"}, flag_names={"server.port": "--port"})


def test_unknown_override_key() -> None:
    assert "server.prot: unknown setting" in error_of(None, {"server.prot": 1})
    assert "unknown setting" in error_of(None, {"port": 1})


def test_tls_enabled_ok(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\ntls_port = 6697\ntls_cert = "cert.pem"\n')
    assert load_config(path, {}).server.tls_port == 6697


# --- unknown keys / file problems ------------------------------------------------------------


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nprot = 6667\n")
    message = error_of(path)
    assert message.startswith(f"{path}: server.prot: unknown key")
    assert "port" in message  # suggestion


def test_unknown_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[sevrer]\nport = 6667\n")
    message = error_of(path)
    assert message.startswith(f"{path}: sevrer: unknown section")
    assert "server" in message


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = \n")
    message = error_of(path)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line" in message


def test_missing_file_given_explicitly(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.toml")
    assert error_of(path) == f"{path}: config file not found"


def test_directory_and_binary_file(tmp_path: Path) -> None:
    assert "is a directory" in error_of(str(tmp_path))
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert error_of(str(binary)).startswith(f"{binary}: invalid TOML")


# --- operators -------------------------------------------------------------------------------


def test_operators_parse(tmp_path: Path) -> None:
    h1 = hash_password("one", salt=b"saltsaltsaltsalt")
    h2 = hash_password("two", salt=b"SALTSALTSALTSALT")
    path = write(
        tmp_path,
        f"""
[[operators]]
name = "alice"
password_hash = "{h1}"

[[operators]]
name = "bob"
password_hash = "{h2}"
""",
    )
    config = load_config(path, {})
    assert config.operators == (
        OperatorConfig(name="alice", password_hash=h1),
        OperatorConfig(name="bob", password_hash=h2),
    )
    assert verify_password("one", config.operators[0].password_hash)


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[[operators]]\nname = "a"\npassword_hash = "plain"', "operators[0].password_hash:"),
        ('[[operators]]\nname = "a"', "operators[0].password_hash: missing"),
        ('[[operators]]\npassword_hash = "x"', "operators[0].name: missing"),
        ('[[operators]]\nname = "a b"\npassword_hash = "x"', "operators[0].name:"),
        ('[[operators]]\nname = "a"\npassword_hash = "x"\npasword = 1', "operators[0].pasword:"),
        ('[operators]\nname = "a"', "operators: must be an array of tables"),
    ],
)
def test_bad_operators(tmp_path: Path, toml: str, needle: str) -> None:
    assert needle in error_of(write(tmp_path, toml + "\n"))


def test_duplicate_operator(tmp_path: Path) -> None:
    h = hash_password("x", salt=b"saltsaltsaltsalt")
    entry = f'[[operators]]\nname = "op"\npassword_hash = "{h}"\n'
    assert "operators[1].name: duplicate" in error_of(write(tmp_path, entry + entry))


# --- python -m ircd --------------------------------------------------------------------------


def assert_one_line_error(err: str, needle: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert needle in lines[0]


def test_main_bad_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--port", "abc"]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "--port: must be an integer 0-65535, got 'abc'")


def test_main_bad_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "[limits]\nperiod_seconds = -5\n", name="bad.toml")
    assert main(["--config", path]) == 2
    assert_one_line_error(capsys.readouterr().err, "limits.period_seconds")

    broken = write(tmp_path, "[server\n", name="broken.toml")
    assert main(["--config", broken]) == 2
    assert_one_line_error(capsys.readouterr().err, "invalid TOML")

    assert main(["--config", str(tmp_path / "missing.toml")]) == 2
    assert_one_line_error(capsys.readouterr().err, "not found")


def test_main_argparse_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--log-level", "LOUD"])
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def _fake_server(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    seen: list[Config] = []

    def run(config: Config) -> int:
        seen.append(config)
        return 0

    module = types.ModuleType("ircd.server")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ircd.server", module)
    return seen


def test_main_flags_override_file_and_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seen = _fake_server(monkeypatch)
    write(tmp_path, '[server]\nport = 6667\nhost = "0.0.0.0"\n[chat]\nbacklog_on_join = 5\n')
    # ./messenger.toml is picked up automatically; flags win over it.
    assert main(["--port", "7001", "--state", "s.json", "--log-level", "debug"]) == 0
    (config,) = seen
    assert config.server.port == 7001
    assert config.server.host == "0.0.0.0"
    assert config.chat.backlog_on_join == 5
    assert config.storage.state_file == "s.json"


def test_main_without_config_uses_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seen = _fake_server(monkeypatch)
    assert main(["--host", "::1"]) == 0
    assert seen == [dataclasses.replace(default_config(), server=ServerConfig(host="::1"))]


def test_main_hash_password_from_pipe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hunter2 with spaces\n"))
    assert main(["--hash-password"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("scrypt$16384$8$1$")
    assert verify_password("hunter2 with spaces", out)
    assert not verify_password("hunter2", out)


def test_main_hash_password_empty(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["--hash-password"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: empty password" in captured.err


def test_every_field_has_a_rule() -> None:
    from ircd import config as config_module

    rules = config_module._RULES
    expected: set[str] = set()
    for section in dataclasses.fields(Config):
        if section.name == "operators":
            continue
        for f in dataclasses.fields(getattr(default_config(), section.name)):
            key = f"{section.name}.{f.name}"
            expected.add(key)
            default = getattr(getattr(default_config(), section.name), f.name)
            assert rules[key].kind is type(default), key
            assert rules[key].ok(default), key
    assert set(rules) == expected
