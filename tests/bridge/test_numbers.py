"""Numbers the bridge reads, from the user and from the server, are ASCII digits: "²" passes
``str.isdigit()`` and then breaks ``int()``, "٣" is read as 3 (pure, no sockets)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bridge import events as ev
from bridge.commands import Cancel, History, Invalid, duration_seconds, parse_input
from bridge.protocol import Translator, parse_line, parse_uint

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc)
SRV = ":irc.messenger.local"


@pytest.mark.parametrize("text", ["", "²", "3²", "٣", "１", "+1", "-1", " 1", "1_0", "9" * 19])
def test_parse_uint_refuses_what_is_not_ascii_digits(text: str) -> None:
    assert parse_uint(text) is None


def test_parse_uint_reads_ascii_digits() -> None:
    assert [parse_uint(x) for x in ("0", "7", "0042")] == [0, 7, 42]


@pytest.mark.parametrize("word", ["²", "٣", "٣m", "1٣m", "9" * 13])
def test_a_duration_is_ascii_digits(word: str) -> None:
    assert duration_seconds(word) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/cancel ²", Invalid("Usage: /cancel <id>")),
        ("/cancel ٣", Invalid("Usage: /cancel <id>")),
        ("/cancel #7", Cancel("7")),
        ("/history ²", Invalid("Usage: /history [<#channel|nick>] [<count>]")),  # was a crash
        ("/history #general ٣", Invalid("Usage: /history [<#channel|nick>] [<count>]")),
        ("/history #general 5", History("#general", 5)),
    ],
)
def test_typed_numbers(line: str, expected: object) -> None:
    assert parse_input(line) == expected


def feed(t: Translator, *lines: str) -> list[ev.Event]:
    out: list[ev.Event] = []
    for raw in lines:
        out += t.feed(parse_line(raw), NOW)
    return out


def test_numbers_from_the_server_that_are_not_ascii_digits_count_as_zero() -> None:
    t = Translator("carol")
    got = feed(
        t,
        f"{SRV} NOTE DELAY END ² :2 scheduled messages",
        f"{SRV} NOTE UNREAD PENDING ٣ :You had 3 unread messages",
        f"{SRV} ²²² carol :not a numeric",
    )
    assert got[0] == ev.DelayListEnd(0)
    assert isinstance(got[1], ev.UnreadPending) and got[1].count == 0
    assert len(got) == 2  # the line with a command of Unicode digits is not a numeric
