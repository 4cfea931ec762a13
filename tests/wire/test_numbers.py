"""parse_uint: the one reader of numbers that clients send (pure unit tests)."""

from __future__ import annotations

import pytest

from ircd.wire import parse_uint
from ircd.wire.numbers import MAX_UINT_DIGITS


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("7", 7), ("302", 302), ("007", 7), ("9" * MAX_UINT_DIGITS, 10**18 - 1)],
)
def test_ascii_digits_are_numbers(text: str, value: int) -> None:
    assert parse_uint(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "²",  # str.isdigit() is True, int() raises (CAP LS 3², PONG :ack-², DELAY CANCEL ²)
        "3²",
        "٣",  # Arabic-Indic three: int() would take it as 3
        "１２",  # full-width
        "+1",
        "-1",
        " 1",
        "1 ",
        "1_000",
        "1e3",
        "0x10",
        "9" * (MAX_UINT_DIGITS + 1),
        "9" * 5000,  # int() refuses more than 4300 digits
    ],
)
def test_everything_else_is_none(text: str) -> None:
    assert parse_uint(text) is None


def test_max_digits_is_a_parameter() -> None:
    assert parse_uint("123", max_digits=3) == 123
    assert parse_uint("1234", max_digits=3) is None
