"""Tests for ircd.wire.names: casefolding and name validation."""

from __future__ import annotations

import pytest

from ircd.wire import casefold, is_channel_name, is_valid_nick


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Bob", "bob"),
        ("BOB", "bob"),
        ("bob", "bob"),
        ("#General", "#general"),
        ("[]\\~^{}|", "[]\\~^{}|"),  # CASEMAPPING=ascii: no rfc1459 bracket folding
        ("ÄBC", "Äbc"),  # non-ASCII letters are never folded
        ("#ÜNÏ-Chan", "#ÜnÏ-chan"),
        ("İI", "İi"),
        ("ẞS", "ẞs"),
        ("", ""),
        ("AZaz09@", "azaz09@"),
    ],
)
def test_casefold(name: str, folded: str) -> None:
    assert casefold(name) == folded


@pytest.mark.parametrize(
    "nick",
    [
        "bob",
        "Bob",
        "b",
        "a1",
        "a-",
        "[bob]",
        "\\o",
        "`x",
        "_under_",
        "^caret",
        "{x}",
        "|pipe|",
        "x" * 30,
        "A-Z_09",
    ],
)
def test_valid_nicks(nick: str) -> None:
    assert is_valid_nick(nick) is True


@pytest.mark.parametrize(
    "nick",
    [
        "",
        "1bob",
        "-bob",
        "#bob",
        ":bob",
        "&bob",
        "bo b",
        " bob",
        "bob ",
        "bob,al",
        "bob!u",
        "bob@h",
        "bob*",
        "bob?",
        "bob.x",
        "\\o/",
        "bób",
        "é",
        "bob\r",
        "bob\n",
        "bob\0",
        "bob\t",
        "x" * 31,
        "~bob",
        "+bob",
        "@bob",
    ],
)
def test_invalid_nicks(nick: str) -> None:
    assert is_valid_nick(nick) is False


def test_nick_max_len() -> None:
    assert is_valid_nick("abcdefghij", max_len=10) is True
    assert is_valid_nick("abcdefghijk", max_len=10) is False
    assert is_valid_nick("a", max_len=1) is True
    assert is_valid_nick("a", max_len=0) is False


@pytest.mark.parametrize(
    "name",
    [
        "#a",
        "#general",
        "#General-Chat_2",
        "##",
        "#ünïcödé",
        "#☃",
        "#a.b!c@d*e?f",
        "#" + "x" * 49,
        "#tab\tok",
    ],
)
def test_valid_channel_names(name: str) -> None:
    assert is_channel_name(name) is True


@pytest.mark.parametrize(
    "name",
    [
        "",
        "#",
        "general",
        "&local",
        "+modeless",
        "!safe",
        "#a b",
        "#a,b",
        "#a\x07",
        "#a\0",
        "#a\r",
        "#a\n",
        "#a:b",
        "#" + "x" * 50,
        "#" + "é" * 25,  # 51 bytes
        " #a",
        "#\ud800",  # lone surrogate: not encodable
    ],
)
def test_invalid_channel_names(name: str) -> None:
    assert is_channel_name(name) is False


def test_channel_max_len() -> None:
    assert is_channel_name("#" + "é" * 24) is True  # 49 bytes
    assert is_channel_name("#abc", max_len=4) is True
    assert is_channel_name("#abcd", max_len=4) is False
    assert is_channel_name("#é", max_len=2) is False  # 3 bytes
