"""parse_input: what the user types -> command values (pure, no sockets)."""

from __future__ import annotations

import pytest

from bridge.commands import (
    USAGE,
    Action,
    Cancel,
    Complaint,
    Delay,
    Delays,
    Delete,
    Help,
    History,
    Invalid,
    Join,
    Msg,
    Nickname,
    Nothing,
    Part,
    Priv,
    Quit,
    Raw,
    Say,
    Unread,
    Who,
    duration_seconds,
    help_lines,
    parse_input,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # plain text and the original commands
        ("hello", Say("hello")),
        ("  hello  world ", Say("  hello  world ")),
        ("hello\r\n", Say("hello")),
        ("//etc/passwd is a path", Say("/etc/passwd is a path")),
        ("", Nothing()),
        ("   ", Nothing()),
        ("quit", Quit()),
        ("QUIT", Quit()),
        (" quit ", Quit()),
        ("exit", Quit()),
        ("/quit", Quit()),
        ("/quit see you", Quit("see you")),
        ("/exit", Quit()),
        ("/QUIT", Quit()),
        ("/nickname bob", Nickname("bob")),
        ("/nick bob", Nickname("bob")),
        ("/nickname [away]_x", Nickname("[away]_x")),
        ("/priv bob hi there", Priv("bob", "hi there")),
        ("/priv bob   spaced   out", Priv("bob", "spaced   out")),
        ("/PRIV Bob hi", Priv("Bob", "hi")),
        ("/query bob hi", Priv("bob", "hi")),
        ("/msg bob hi", Msg("bob", "hi")),
        ("/msg #general hi all", Msg("#general", "hi all")),
        ("/me waves", Action("waves")),
        # delay: minutes or units, optional target, default #general
        ("/delay 5 hello", Delay("5", 300, "#general", "hello")),
        ("/delay 5 #general hello world", Delay("5", 300, "#general", "hello world")),
        ("/delay 90s #random hi", Delay("90s", 90, "#random", "hi")),
        ("/delay 1h30m #general later", Delay("1h30m", 5400, "#general", "later")),
        ("/delay 1d #general tomorrow", Delay("1d", 86400, "#general", "tomorrow")),
        ("/delay 1s #general soon", Delay("1s", 1, "#general", "soon")),
        ("/delay 2H #general caps", Delay("2H", 7200, "#general", "caps")),
        # a word that may be a nick: the server decides (a user -> private, else #general)
        ("/delay 10 bob see you", Delay("10", 600, None, "bob see you")),
        ("/delay 10 hello there world", Delay("10", 600, None, "hello there world")),
        ("/delays", Delays()),
        ("/delayed", Delays()),
        ("/cancel 7", Cancel("7")),
        ("/cancel #7", Cancel("7")),
        ("/complaint bob", Complaint("bob")),
        ("/complaint bob spamming the channel", Complaint("bob", "spamming the channel")),
        ("/complain bob rude", Complaint("bob", "rude")),
        ("/report bob", Complaint("bob")),
        ("/delete", Delete()),
        ("/delete #random", Delete("#random")),
        ("/undo bob", Delete("bob")),
        # channels and lists
        ("/join #random", Join("#random")),
        ("/join random", Join("#random")),
        ("/part", Part()),
        ("/part #random", Part("#random")),
        ("/part #random bye all", Part("#random", "bye all")),
        ("/part bye all", Part(None, "bye all")),
        ("/who", Who()),
        ("/who #general", Who("#general")),
        ("/who bob", Who("bob")),
        ("/names", Who()),
        ("/history", History()),
        ("/history 50", History(None, 50)),
        ("/history #random", History("#random")),
        ("/history bob 5", History("bob", 5)),
        ("/history #general 1000", History("#general", 1000)),
        ("/unread", Unread()),
        ("/help", Help()),
        ("/help delay", Help("delay")),
        ("/?", Help()),
        ("/quote PING :x", Raw("PING :x")),
        ("/raw MODE #general", Raw("MODE #general")),
    ],
)
def test_parse(line: str, expected: object) -> None:
    assert parse_input(line) == expected


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("/bogus", "Unknown command /bogus. Try /help"),
        ("/", "Type a command after '/', e.g. /help"),
        ("/ ", "Type a command after '/', e.g. /help"),
        ("/priv", "Usage: /priv <nick> <message>"),
        ("/priv bob", "Usage: /priv <nick> <message>"),
        ("/priv b@d hi", "Usage: /priv <nick> <message>"),
        (
            "/priv #general hi",
            "#general is a channel: type plain text there, or /msg #general <message>",
        ),
        ("/msg", "Usage: /msg <nick|#channel> <message>"),
        ("/me", "Usage: /me <action>"),
        ("/nickname", "Usage: /nickname <nick>"),
        ("/nickname two words", "Usage: /nickname <nick>"),
        ("/nickname 9lives", "Usage: /nickname <nick>"),
        ("/delay", f"Usage: {USAGE['delay']}"),
        ("/delay 5", f"Usage: {USAGE['delay']}"),
        ("/delay 5 #general", f"Usage: {USAGE['delay']}"),
        (
            "/delay soon hello",
            "'soon' is not a duration: use minutes (5) or 90s, 15m, 2h, 1h30m, 1d. "
            f"Usage: {USAGE['delay']}",
        ),
        (
            "/delay 5x hello",
            "'5x' is not a duration: use minutes (5) or 90s, 15m, 2h, 1h30m, 1d. "
            f"Usage: {USAGE['delay']}",
        ),
        ("/delay 0 hello", "The delay must be longer than zero"),
        ("/delay 0s #general hello", "The delay must be longer than zero"),
        ("/delay 5 #bad,chan hi", "#bad,chan is not a valid channel name"),
        ("/delays now", "Usage: /delays"),
        ("/cancel", "Usage: /cancel <id>"),
        ("/cancel abc", "Usage: /cancel <id>"),
        ("/cancel 1 2", "Usage: /cancel <id>"),
        ("/complaint", "Usage: /complaint <nick> [reason]"),
        ("/complaint #general bad", "Usage: /complaint <nick> [reason]"),
        ("/join", "Usage: /join <#channel>"),
        ("/join #a b", "Usage: /join <#channel>"),
        ("/who a b", "Usage: /who [<#channel|nick>]"),
        ("/history a b c", "Usage: /history [<#channel|nick>] [<count>]"),
        ("/history 5 #general", "Usage: /history [<#channel|nick>] [<count>]"),
        ("/history 0", "The count must be between 1 and 1000"),
        ("/history 1001", "The count must be between 1 and 1000"),
        ("/unread now", "Usage: /unread"),
        ("/delete #a b", "Usage: /delete [<#channel|nick>]"),
        ("/delete 1bad", "Usage: /delete [<#channel|nick>]"),
        ("/quote", "Usage: /quote <raw IRC line>"),
    ],
)
def test_wrong_input_gives_one_line_hint(line: str, hint: str) -> None:
    got = parse_input(line)
    assert got == Invalid(hint)
    assert "\n" not in hint


@pytest.mark.parametrize(
    ("word", "seconds"),
    [
        ("5", 300),
        ("1", 60),
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1d2h3m4s", 93784),
        ("0", 0),
        ("soon", None),
        ("", None),
        ("5x", None),
        ("m5", None),
        ("1m1h", None),  # units in order only
        ("-5", None),
        ("1.5", None),
    ],
)
def test_duration_seconds(word: str, seconds: int | None) -> None:
    assert duration_seconds(word) == seconds


def test_help_lists_every_command_once() -> None:
    lines = help_lines()
    assert lines[0].startswith("Commands")
    for usage in USAGE.values():
        assert sum(usage in line for line in lines) == 1


def test_help_for_one_command_and_aliases() -> None:
    assert help_lines("delay") == [
        f"{USAGE['delay']}  — have the server send a message later (default target #general; "
        "a bare number is minutes)"
    ]
    assert help_lines("/complain") == help_lines("complaint")
    assert help_lines("frobnicate") == ["No such command: /frobnicate. Try /help"]


@pytest.mark.parametrize(
    "line", ["/" + "x" * 500, "/priv " + "a" * 300, "\x00\x01", "/delay 9" * 50]
)
def test_never_raises(line: str) -> None:
    parse_input(line)
