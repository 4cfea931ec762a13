from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ircd.messenger.durations import (
    MAX_TIME,
    MIN_TIME,
    format_duration,
    parse_duration,
    parse_iso_time,
)
from ircd.messenger.errors import InvalidDuration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 300),
        ("1", 60),
        ("90", 5400),
        (" 5 ", 300),
        ("90s", 90),
        ("1s", 1),
        ("15m", 900),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),
        ("2H", 7200),
        ("0h5m", 300),
        ("120s", 120),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        "00",
        "0s",
        "0h0m",
        "5x",
        "1h1h",
        "1h30",
        "-5",
        "+5",
        "m",
        "h5",
        "1.5h",
        "1 h",
        "5m ago",
        "1e3",
        "²",  # a digit to str.isdigit(), not to int()
        "5²",
        pytest.param("9" * 5000, id="5000-digits"),  # beyond int()'s digit limit
        pytest.param("1" + "0" * 5000 + "s", id="5000-digit-seconds"),
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


def test_parse_duration_error_names_the_input() -> None:
    with pytest.raises(InvalidDuration, match="'5x'"):
        parse_duration("5x")


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T12:05Z", _utc(2026, 5, 1, 12, 5)),
        ("2026-05-01T12:05:00.000Z", _utc(2026, 5, 1, 12, 5)),
        ("2026-05-01T12:05:30z", _utc(2026, 5, 1, 12, 5, 30)),
        ("2026-05-01T12:05", _utc(2026, 5, 1, 12, 5)),  # naive: UTC
        ("2026-05-01 12:05", _utc(2026, 5, 1, 12, 5)),
        ("2026-05-01T14:05+02:00", _utc(2026, 5, 1, 12, 5)),
        ("2026-05-01T07:05-05:00", _utc(2026, 5, 1, 12, 5)),
        ("  2026-05-01T12:05Z  ", _utc(2026, 5, 1, 12, 5)),
        ("2026-05-01", _utc(2026, 5, 1)),
    ],
)
def test_parse_iso_time(text: str, expected: float) -> None:
    assert parse_iso_time(text) == expected


@pytest.mark.parametrize(
    "text", ["", "tomorrow", "12:05", "2026-13-01T00:00Z", "2026-05-01T25:00Z", "5m"]
)
def test_parse_iso_time_rejects(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_iso_time(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", MIN_TIME),
        ("9999-12-31T23:59:59Z", MAX_TIME),
        ("1970-01-01T01:00:00+01:00", MIN_TIME),
    ],
)
def test_parse_iso_time_accepts_the_whole_range(text: str, expected: float) -> None:
    assert parse_iso_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+23:59",  # year 0 in UTC: no datetime can show it (issue 9)
        "1969-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59",  # year 10000 in UTC
        "２０２６-05-01T12:05Z",  # full-width digits
        "2026-05-01T12:05Z" + " " * 60 + "x",
        "2" * 5000,
    ],
)
def test_parse_iso_time_rejects_times_it_cannot_show(text: str) -> None:
    with pytest.raises(InvalidDuration) as e:
        parse_iso_time(text)
    assert len(str(e.value)) < 120  # the error names the input, cut short


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (3725, "1h2m5s"),
        (86400, "1d"),
        (7 * 86400, "7d"),
        (90061, "1d1h1m1s"),
        (59.6, "1m"),
        (-5, "0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["5", "90s", "15m", "2h", "1h30m", "1d", "1d2h3m4s"])
def test_format_parses_back(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == seconds
