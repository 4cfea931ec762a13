"""Tests for ircd.wire.message: parse / format / tag escaping."""

from __future__ import annotations

import pytest

from ircd.wire import (
    Message,
    Numeric,
    ParseError,
    escape_tag_value,
    format_line,
    parse,
    unescape_tag_value,
)

# --------------------------------------------------------------------------- parse

# (input, command, params, source, tags) — mostly the ircdocs/parser-tests
# msg-split vectors, plus a few server-specific ones.
PARSE_VECTORS: list[tuple[str, str, tuple[str, ...], str | None, dict[str, str] | None]] = [
    ("foo bar baz asdf", "FOO", ("bar", "baz", "asdf"), None, None),
    (":coolguy foo bar baz asdf", "FOO", ("bar", "baz", "asdf"), "coolguy", None),
    ("foo bar baz :asdf quux", "FOO", ("bar", "baz", "asdf quux"), None, None),
    ("foo bar baz :", "FOO", ("bar", "baz", ""), None, None),
    ("foo bar baz ::asdf", "FOO", ("bar", "baz", ":asdf"), None, None),
    (":coolguy foo bar baz :asdf quux", "FOO", ("bar", "baz", "asdf quux"), "coolguy", None),
    (":coolguy foo bar baz :  asdf quux ", "FOO", ("bar", "baz", "  asdf quux "), "coolguy", None),
    (":coolguy PRIVMSG bar :lol :) ", "PRIVMSG", ("bar", "lol :) "), "coolguy", None),
    (":coolguy foo bar baz :", "FOO", ("bar", "baz", ""), "coolguy", None),
    (":coolguy foo bar baz :  ", "FOO", ("bar", "baz", "  "), "coolguy", None),
    ("@a=b;c=32;k;rt=ql7 foo", "FOO", (), None, {"a": "b", "c": "32", "k": "", "rt": "ql7"}),
    (
        r"@a=b\\and\nk;c=72\s45;d=gh\:764 foo",
        "FOO",
        (),
        None,
        {"a": "b\\and\nk", "c": "72 45", "d": "gh;764"},
    ),
    ("@c;h=;a=b :quux ab cd", "AB", ("cd",), "quux", {"c": "", "h": "", "a": "b"}),
    (":src JOIN #chan", "JOIN", ("#chan",), "src", None),
    (":src JOIN :#chan", "JOIN", ("#chan",), "src", None),
    (":src AWAY", "AWAY", (), "src", None),
    (":src AWAY ", "AWAY", (), "src", None),
    (":cool\tguy foo bar baz", "FOO", ("bar", "baz"), "cool\tguy", None),
    (
        ":coolguy!ag@net\x035w\x03ork.admin PRIVMSG foo :bar baz",
        "PRIVMSG",
        ("foo", "bar baz"),
        "coolguy!ag@net\x035w\x03ork.admin",
        None,
    ),
    (
        "@tag1=value1;tag2;vendor1/tag3=value2;vendor2/tag4= :irc.example.com COMMAND param1"
        " param2 :param3 param3",
        "COMMAND",
        ("param1", "param2", "param3 param3"),
        "irc.example.com",
        {"tag1": "value1", "tag2": "", "vendor1/tag3": "value2", "vendor2/tag4": ""},
    ),
    ("COMMAND", "COMMAND", (), None, None),
    (r"@foo=\\\\\:\\s\s\r\n COMMAND", "COMMAND", (), None, {"foo": "\\\\;\\s \r\n"}),
    (
        ":gravel.mozilla.org 432  #momo :Erroneous Nickname: Illegal characters",
        "432",
        ("#momo", "Erroneous Nickname: Illegal characters"),
        "gravel.mozilla.org",
        None,
    ),
    (":gravel.mozilla.org MODE #tckk +n ", "MODE", ("#tckk", "+n"), "gravel.mozilla.org", None),
    (
        ":services.esper.net MODE #foo-bar +o foobar  ",
        "MODE",
        ("#foo-bar", "+o", "foobar"),
        "services.esper.net",
        None,
    ),
    (r"@tag1=value\\ntest COMMAND", "COMMAND", (), None, {"tag1": "value\\ntest"}),
    (r"@tag1=value\1 COMMAND", "COMMAND", (), None, {"tag1": "value1"}),
    ("@tag1=value1\\ COMMAND", "COMMAND", (), None, {"tag1": "value1"}),
    (
        "@tag1=1;tag2=3;tag3=4;tag1=5 COMMAND",
        "COMMAND",
        (),
        None,
        {"tag1": "5", "tag2": "3", "tag3": "4"},
    ),
    (":SomeOp MODE #channel :+i", "MODE", ("#channel", "+i"), "SomeOp", None),
    (
        ":SomeOp MODE #channel +oo SomeUser :AnotherUser",
        "MODE",
        ("#channel", "+oo", "SomeUser", "AnotherUser"),
        "SomeOp",
        None,
    ),
    # server-side extras
    ("privmsg #a :hi", "PRIVMSG", ("#a", "hi"), None, None),
    ("PrivMsg #a hi", "PRIVMSG", ("#a", "hi"), None, None),
    ("   NICK   bob  ", "NICK", ("bob",), None, None),
    ("NICK bob\r", "NICK", ("bob",), None, None),
    ("NICK bob\r\n", "NICK", ("bob",), None, None),
    ("PING\n", "PING", (), None, None),
    ("PRIVMSG #a b:c :d :e", "PRIVMSG", ("#a", "b:c", "d :e"), None, None),
    ("PRIVMSG #a   :  x", "PRIVMSG", ("#a", "  x"), None, None),
    ("PRIVMSG #a :", "PRIVMSG", ("#a", ""), None, None),
    ("PRIVMSG #a ::", "PRIVMSG", ("#a", ":"), None, None),
    ("PRIVMSG #a :\tx\xa0y", "PRIVMSG", ("#a", "\tx\xa0y"), None, None),
    ("PRIVMSG #a x\xa0y", "PRIVMSG", ("#a", "x\xa0y"), None, None),
    ("CAP LS 302", "CAP", ("LS", "302"), None, None),
    ("USER u 0 * :Real Name", "USER", ("u", "0", "*", "Real Name"), None, None),
    ("@+typing=active TAGMSG #a", "TAGMSG", ("#a",), None, {"+typing": "active"}),
    ("@a=1  :src   CMD  x", "CMD", ("x",), "src", {"a": "1"}),
    ("@ CMD", "CMD", (), None, None),
    ("@;=x;; CMD", "CMD", (), None, None),
    ("@a=b=c CMD", "CMD", (), None, {"a": "b=c"}),
    ("ßtraße x", "ßTRAßE", ("x",), None, None),
    ("1234 a", "1234", ("a",), None, None),
    ("PRIVMSG #ünï :cödé ☃", "PRIVMSG", ("#ünï", "cödé ☃"), None, None),
]


@pytest.mark.parametrize(("line", "command", "params", "source", "tags"), PARSE_VECTORS)
def test_parse_vectors(
    line: str,
    command: str,
    params: tuple[str, ...],
    source: str | None,
    tags: dict[str, str] | None,
) -> None:
    m = parse(line)
    assert m.command == command
    assert m.params == params
    assert m.source == source
    assert m.tags == tags
    assert m == Message(command, params, source, tags)
    assert type(m.params) is tuple


def test_parse_non_ascii_command_is_only_ascii_uppercased() -> None:
    assert parse("ßtraße x").command == "ßTRAßE"
    assert parse("privmsgé").command == "PRIVMSGé"


def test_parse_tag_order_preserved() -> None:
    m = parse("@z=1;a=2;m CMD")
    assert list(m.tags or {}) == ["z", "a", "m"]


@pytest.mark.parametrize(
    "line",
    [
        "",
        " ",
        "     ",
        "\r\n",
        "\n",
        "\t",
        "@a=b",
        "@a=b ",
        "@a=b    ",
        ":src",
        ":src ",
        ":src   ",
        "@a=b :src",
        "@a=b :src  ",
        ":src :text",
        "@a :x :y",
    ],
)
def test_parse_errors(line: str) -> None:
    with pytest.raises(ParseError):
        parse(line)


def test_parse_error_is_value_error() -> None:
    assert issubclass(ParseError, ValueError)
    with pytest.raises(ValueError):
        parse("")


# --------------------------------------------------------------------------- format


FORMAT_VECTORS: list[tuple[Message, str]] = [
    (Message("NICK", ("bob",)), "NICK bob"),
    (Message("PRIVMSG", ("#a", "hi there")), "PRIVMSG #a :hi there"),
    (Message("PRIVMSG", ("#a", "hi")), "PRIVMSG #a :hi"),
    (Message("NOTICE", ("bob", "x")), "NOTICE bob :x"),
    (Message("TOPIC", ("#a", "t")), "TOPIC #a :t"),
    (Message("TOPIC", ("#a",)), "TOPIC #a"),
    (Message("PART", ("#a",)), "PART #a"),
    (Message("PART", ("#a", "bye")), "PART #a :bye"),
    (Message("KICK", ("#a", "bob")), "KICK #a bob"),
    (Message("KICK", ("#a", "bob", "out")), "KICK #a bob :out"),
    (Message("QUIT", ("bye",)), "QUIT :bye"),
    (Message("QUIT", ()), "QUIT"),
    (Message("ERROR", ("Closing",)), "ERROR :Closing"),
    (Message("AWAY", ("gone",)), "AWAY :gone"),
    (Message("AWAY", ("",), "src"), ":src AWAY :"),
    (Message("AWAY", (), "src"), ":src AWAY"),
    (Message("001", ("bob", "Welcome")), "001 bob :Welcome"),
    (Message("451", ("*",)), "451 *"),
    (Message("005", ("bob", "CHANTYPES=#", "are supported")), "005 bob CHANTYPES=# :are supported"),
    (Message("JOIN", ("#a",), "bob!u@h"), ":bob!u@h JOIN #a"),
    (Message("MODE", ("#a", "+o", "bob")), "MODE #a +o bob"),
    (Message("MODE", ("#a", ":x")), "MODE #a ::x"),
    (Message("FOO", ("bar", "baz", "")), "FOO bar baz :"),
    (Message("FOO", ("bar", "baz", ":asdf")), "FOO bar baz ::asdf"),
    (Message("FOO", ("bar", "baz", "  ")), "FOO bar baz :  "),
    (Message("FOO", ("b\tar", "baz"), "coolguy"), ":coolguy FOO b\tar baz"),
    (Message("FOO", ("bar", "baz", "  "), "coolguy", {"asd": ""}), "@asd :coolguy FOO bar baz :  "),
    (
        Message("FOO", (), None, {"a": "b\\and\nk", "d": "gh;764"}),
        r"@a=b\\and\nk;d=gh\:764 FOO",
    ),
    (Message("COMMAND", (), None, {"foo": "\\\\;\\s \r\n"}), r"@foo=\\\\\:\\s\s\r\n COMMAND"),
    (
        Message("PRIVMSG", ("#a", "hi"), "n!u@h", {"time": "2024-01-01T00:00:00.000Z", "k": ""}),
        "@time=2024-01-01T00:00:00.000Z;k :n!u@h PRIVMSG #a :hi",
    ),
    (Message("PING", ("x",), None, {}), "PING x"),
]


@pytest.mark.parametrize(("msg", "line"), FORMAT_VECTORS)
def test_format_vectors(msg: Message, line: str) -> None:
    assert msg.format() == line
    assert format_line(msg.command, msg.params, msg.source, msg.tags) == line
    assert format_line(msg.command, list(msg.params), msg.source, msg.tags) == line


ROUND_TRIP = [m for m, _ in FORMAT_VECTORS if m.tags != {}] + [
    Message(command, params, source, tags) for _, command, params, source, tags in PARSE_VECTORS
]


@pytest.mark.parametrize("msg", ROUND_TRIP)
def test_round_trip(msg: Message) -> None:
    assert parse(msg.format()) == msg


@pytest.mark.parametrize("line", [v[0] for v in PARSE_VECTORS])
def test_reparse_is_stable(line: str) -> None:
    m = parse(line)
    assert parse(m.format()) == m


def test_format_numeric_enum() -> None:
    assert format_line(Numeric.RPL_WELCOME, ["bob", "Welcome"]) == "001 bob :Welcome"
    assert format_line(Numeric.ERR_NOTREGISTERED, ["*"]) == "451 *"
    assert Message(Numeric.RPL_TOPIC, ("bob", "#a", "t")).format() == "332 bob #a :t"


def test_format_line_forced_trailing_only_when_command_matches() -> None:
    assert format_line("PRIVMSG", ["#a", "x"], "s") == ":s PRIVMSG #a :x"
    assert format_line("JOIN", ["#a"]) == "JOIN #a"
    assert format_line("1234", ["a", "b"]) == "1234 a b"  # not a 3-digit numeric
    assert format_line("00A", ["a", "b"]) == "00A a b"


@pytest.mark.parametrize(
    ("command", "params", "source", "tags"),
    [
        ("PRIVMSG", ("", "x"), None, None),
        ("PRIVMSG", ("a b", "x"), None, None),
        ("PRIVMSG", (":a", "x"), None, None),
        ("MODE", ("#a", "", "x"), None, None),
        ("PRIVMSG", ("#a", "hi\r\nQUIT :pwned"), None, None),
        ("PRIVMSG", ("#a", "hi\nQUIT"), None, None),
        ("PRIVMSG", ("#a", "hi\rQUIT"), None, None),
        ("PRIVMSG", ("#a", "nul\0"), None, None),
        ("PRIVMSG", ("#a\r\n", "x"), None, None),
        ("PRIV\nMSG", ("#a", "x"), None, None),
        ("", ("#a",), None, None),
        ("PRIV MSG", ("#a",), None, None),
        (":PRIVMSG", ("#a",), None, None),
        ("PRIVMSG", ("#a", "x"), "evil\r\nQUIT", None),
        ("PRIVMSG", ("#a", "x"), "a b", None),
        ("PRIVMSG", ("#a", "x"), "", None),
        ("PRIVMSG", ("#a", "x"), None, {"a\r\nb": "1"}),
        ("PRIVMSG", ("#a", "x"), None, {"a b": "1"}),
        ("PRIVMSG", ("#a", "x"), None, {"a=b": "1"}),
        ("PRIVMSG", ("#a", "x"), None, {"a;b": "1"}),
        ("PRIVMSG", ("#a", "x"), None, {"": "1"}),
        ("PRIVMSG", ("#a", "x"), None, {"a": "nul\0"}),
    ],
)
def test_format_rejects(
    command: str,
    params: tuple[str, ...],
    source: str | None,
    tags: dict[str, str] | None,
) -> None:
    with pytest.raises(ValueError):
        format_line(command, params, source, tags)
    with pytest.raises(ValueError):
        Message(command, params, source, tags).format()


def test_tag_values_with_crlf_are_escaped_not_rejected() -> None:
    line = format_line("TAGMSG", ["#a"], None, {"+x": "a\r\nb c;d\\"})
    assert line == r"@+x=a\r\nb\sc\:d\\ TAGMSG #a"
    assert parse(line).tags == {"+x": "a\r\nb c;d\\"}


# --------------------------------------------------------------------------- Message


def test_message_defaults_and_equality() -> None:
    m = Message("PING")
    assert m.params == ()
    assert m.source is None
    assert m.tags is None
    assert m == Message("PING", (), None, None)
    assert m != Message("PING", (), None, {})
    assert Message("X", (), None, {"a": "1"}) != Message("X", (), None, {"a": "2"})
    assert Message("X", (), None, {"a": "1"}) == Message("X", (), None, {"a": "1"})


def test_message_is_frozen_and_hashable() -> None:
    m = parse("@a=1 :s PRIVMSG #a :x")
    with pytest.raises(AttributeError):
        m.command = "NOTICE"  # type: ignore[misc]
    assert hash(m) == hash(Message("PRIVMSG", ("#a", "x"), "s", {"a": "1"}))
    assert len({m, parse("@a=1 :s PRIVMSG #a :x")}) == 1
    assert not hasattr(m, "__dict__")


# --------------------------------------------------------------------------- tag escaping

ESCAPES = [
    ("", ""),
    ("plain", "plain"),
    ("a b", r"a\sb"),
    ("a;b", r"a\:b"),
    ("a\\b", r"a\\b"),
    ("a\rb\nc", r"a\rb\nc"),
    ("\\s", r"\\s"),
    (" ; \\ \r \n", r"\s\:\s\\\s\r\s\n"),
    ("ünï☃", "ünï☃"),
    ("a=b:c", "a=b:c"),
]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPES)
def test_escape_tag_value(raw: str, escaped: str) -> None:
    assert escape_tag_value(raw) == escaped
    assert unescape_tag_value(escaped) == raw
    assert unescape_tag_value(escape_tag_value(raw)) == raw


@pytest.mark.parametrize(
    ("escaped", "raw"),
    [
        ("value\\", "value"),  # lone trailing backslash dropped
        ("\\", ""),
        (r"value\1", "value1"),  # unknown escape: backslash dropped
        (r"\a\b\c", "abc"),
        (r"value\\ntest", "value\\ntest"),  # decoded one escape at a time
        (r"\\\\", "\\\\"),
        (r"\:\s\r\n\\", "; \r\n\\"),
        ("a\\\\", "a\\"),
    ],
)
def test_unescape_tag_value(escaped: str, raw: str) -> None:
    assert unescape_tag_value(escaped) == raw
