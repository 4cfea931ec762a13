"""Tests for ircd.wire.framing: LineFramer and truncate_utf8."""

from __future__ import annotations

import random

import pytest

from ircd.wire import MAX_BODY, MAX_CLIENT_TAGS, MAX_TAGS, LineFramer, TooLong, truncate_utf8

LINE = TooLong("line")
TAGS = TooLong("tags")
PARTIAL_LIMIT = MAX_TAGS + MAX_BODY


def feed_all(chunks: list[bytes]) -> list[str | TooLong]:
    framer = LineFramer()
    out: list[str | TooLong] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def test_limits() -> None:
    assert (MAX_BODY, MAX_TAGS, MAX_CLIENT_TAGS) == (512, 8191, 4094)
    assert TooLong("line") == LINE
    assert TooLong("line") != TAGS


# --------------------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"NICK bob\r\n", ["NICK bob"]),
        (b"NICK bob\n", ["NICK bob"]),
        (b"NICK bob\r\nUSER u 0 * :R N\r\n", ["NICK bob", "USER u 0 * :R N"]),
        (b"A\nB\r\nC\n", ["A", "B", "C"]),
        (b"\r\n\r\n\n\nA\r\n\r\n", ["A"]),
        (b"\r\n", []),
        (b"", []),
        (b"A\r\r\n", ["A\r"]),  # only one CR is stripped
        (b"A\rB\r\n", ["A\rB"]),  # a lone CR is not a terminator
        (b"NICK bob", []),  # incomplete
        ("PRIVMSG #a :héllo ☃\r\n".encode(), ["PRIVMSG #a :héllo ☃"]),
        # invalid UTF-8: each bad byte as a lone surrogate (surrogateescape), to be refused
        (b"PRIVMSG #a :\xff\xfeok\r\n", ["PRIVMSG #a :\udcff\udcfeok"]),
        (b"A \xc3\r\nB\r\n", ["A \udcc3", "B"]),  # truncated sequence at end of line
        (b"PING :\xe2\x98\r\nPING :\xe2\x98\x83\r\n", ["PING :\udce2\udc98", "PING :☃"]),
    ],
)
def test_feed_single_chunk(data: bytes, expected: list[str | TooLong]) -> None:
    assert LineFramer().feed(data) == expected


def test_line_split_over_three_feeds() -> None:
    framer = LineFramer()
    assert framer.feed(b"PRIV") == []
    assert framer.feed(b"MSG #a :h") == []
    assert framer.buffered == len(b"PRIVMSG #a :h")
    assert framer.feed(b"i\r\nPI") == ["PRIVMSG #a :hi"]
    assert framer.buffered == 2
    assert framer.feed(b"NG :x\r\n") == ["PING :x"]
    assert framer.buffered == 0


def test_crlf_split_between_feeds() -> None:
    framer = LineFramer()
    assert framer.feed(b"NICK bob\r") == []
    assert framer.feed(b"\nUSER u 0 * :x\r") == ["NICK bob"]
    assert framer.feed(b"\n") == ["USER u 0 * :x"]
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n") == []  # empty line skipped


def test_utf8_character_split_between_feeds() -> None:
    framer = LineFramer()
    assert framer.feed(b"PRIVMSG #a :\xe2") == []
    assert framer.feed(b"\x98") == []
    assert framer.feed(b"\x83!\r\n") == ["PRIVMSG #a :☃!"]


def test_never_raises_on_garbage() -> None:
    rng = random.Random(1234)
    framer = LineFramer()
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 700)))
        for item in framer.feed(data):
            assert isinstance(item, (str, TooLong))
            if isinstance(item, str):
                assert item
                assert "\n" not in item


@pytest.mark.parametrize("seed", range(20))
def test_chunking_does_not_change_result(seed: int) -> None:
    rng = random.Random(seed)
    lines = [
        b"PRIVMSG #general :hello there",
        "PRIVMSG #ünï :cödé ☃".encode(),
        b"@+typing=active TAGMSG #a",
        b"PING :" + b"x" * 504,  # 510 bytes: fits
        b"PING :" + b"x" * 505,  # 511 bytes: too long
        b"@" + b"t" * 4095 + b" PING",  # tags too long
        b"bad \xff utf8",
        b"",
        b"A" * (PARTIAL_LIMIT + 50),  # exceeds the buffer limit
        b"NICK bob",
    ]
    stream = b"".join(line + rng.choice([b"\r\n", b"\n"]) for line in lines * 3)
    whole = LineFramer().feed(stream)
    assert (
        whole
        == [
            "PRIVMSG #general :hello there",
            "PRIVMSG #ünï :cödé ☃",
            "@+typing=active TAGMSG #a",
            "PING :" + "x" * 504,
            LINE,
            TAGS,
            "bad \udcff utf8",
            LINE,
            "NICK bob",
        ]
        * 3
    )
    chunks: list[bytes] = []
    pos = 0
    while pos < len(stream):
        n = rng.choice([1, 2, 3, 7, 64, 511, 512, 513, 4096, 10000])
        chunks.append(stream[pos : pos + n])
        pos += n
    assert feed_all(chunks) == whole


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("prefix", ["", "é"])
def test_body_limit_exactly(prefix: str) -> None:
    """510 bytes of content are fine, 511 are not (ASCII and UTF-8 paths)."""
    head = f"PRIVMSG #a :{prefix}".encode()
    ok = head + b"x" * (510 - len(head))
    bad = head + b"x" * (511 - len(head))
    assert len(ok) == 510
    assert len(bad) == 511
    assert LineFramer().feed(ok + b"\r\n") == [ok.decode()]
    assert LineFramer().feed(ok + b"\n") == [ok.decode()]
    assert LineFramer().feed(bad + b"\r\n") == [LINE]
    assert LineFramer().feed(bad + b"\n") == [LINE]
    assert LineFramer().feed(b"PING :1\r\n" + bad + b"\r\nPING :2\r\n") == [
        "PING :1",
        LINE,
        "PING :2",
    ]


def test_body_limit_counts_bytes_not_characters() -> None:
    text = "PRIVMSG #a :" + "é" * 250  # 262 chars, 512 bytes
    assert LineFramer().feed(text.encode() + b"\r\n") == [LINE]
    text = "PRIVMSG #a :" + "é" * 249  # 510 bytes
    assert LineFramer().feed(text.encode() + b"\r\n") == [text]


def test_tag_section_limits() -> None:
    tags_ok = b"@" + b"a" * MAX_CLIENT_TAGS + b" "
    tags_bad = b"@" + b"a" * (MAX_CLIENT_TAGS + 1) + b" "
    body_ok = b"PING :" + b"x" * 504
    body_bad = b"PING :" + b"x" * 505
    assert LineFramer().feed(tags_ok + body_ok + b"\r\n") == [(tags_ok + body_ok).decode()]
    assert LineFramer().feed(tags_bad + b"PING\r\n") == [TAGS]
    assert LineFramer().feed(tags_bad + body_bad + b"\r\n") == [TAGS]
    assert LineFramer().feed(tags_ok + body_bad + b"\r\n") == [LINE]
    # UTF-8 in tag values goes through the non-ASCII path
    utf8_tags = b"@a=" + "é".encode() * 2046 + b" "  # 2 + 4092 = 4094 bytes of tag data
    assert LineFramer().feed(utf8_tags + body_ok + b"\n") == [(utf8_tags + body_ok).decode()]
    assert LineFramer().feed(utf8_tags[:-1] + b"x " + body_ok + b"\n") == [TAGS]


def test_tags_only_line() -> None:
    assert LineFramer().feed(b"@" + b"a" * 600 + b"\r\n") == ["@" + "a" * 600]
    assert LineFramer().feed(b"@" + b"a" * (MAX_CLIENT_TAGS + 1) + b"\r\n") == [TAGS]


def test_short_tagged_line_passes() -> None:
    assert LineFramer().feed(b"@a=b :src PRIVMSG #x :y\r\n") == ["@a=b :src PRIVMSG #x :y"]


# --------------------------------------------------------------------------- buffer guard


def test_partial_line_at_limit_is_kept() -> None:
    framer = LineFramer()
    assert framer.feed(b"A" * PARTIAL_LIMIT) == []
    assert framer.buffered == PARTIAL_LIMIT
    assert framer.feed(b"\r\n") == [LINE]
    assert framer.buffered == 0


def test_unbounded_partial_line_is_dropped_once() -> None:
    framer = LineFramer()
    assert framer.feed(b"A" * 8000) == []
    assert framer.feed(b"A" * 8000) == [LINE]
    assert framer.buffered == 0
    for _ in range(100):  # the rest of that line is discarded without growth
        assert framer.feed(b"B" * 10_000) == []
        assert framer.buffered == 0
    assert framer.feed(b"BBB\r\nPING :1\r\nPI") == ["PING :1"]
    assert framer.feed(b"NG :2\n") == ["PING :2"]


def test_unbounded_partial_in_single_chunk() -> None:
    framer = LineFramer()
    assert framer.feed(b"A" * (PARTIAL_LIMIT + 1)) == [LINE]
    assert framer.buffered == 0
    assert framer.feed(b"more\nNICK bob\n") == ["NICK bob"]


def test_unbounded_tail_after_complete_lines() -> None:
    framer = LineFramer()
    assert framer.feed(b"PING :1\r\n" + b"A" * (PARTIAL_LIMIT + 1)) == ["PING :1", LINE]
    assert framer.buffered == 0
    assert framer.feed(b"A" * 100) == []
    assert framer.feed(b"A\r\nPONG :2\r\n") == ["PONG :2"]


def test_unbounded_tail_non_ascii() -> None:
    framer = LineFramer()
    tail = "é".encode() * (PARTIAL_LIMIT // 2 + 1)
    assert framer.feed("PING :☃\r\n".encode() + tail) == ["PING :☃", LINE]
    assert framer.buffered == 0
    assert framer.feed(b"x\nPONG :2\n") == ["PONG :2"]


def test_complete_huge_line() -> None:
    assert LineFramer().feed(b"A" * 100_000 + b"\r\nB\r\n") == [LINE, "B"]
    assert LineFramer().feed(b"@" + b"t" * 100_000 + b" B\r\n") == [TAGS]


def test_newline_right_after_drop_resumes() -> None:
    framer = LineFramer()
    assert framer.feed(b"A" * (PARTIAL_LIMIT + 1)) == [LINE]
    assert framer.feed(b"\n") == []
    assert framer.feed(b"NICK bob\r\n") == ["NICK bob"]


# --------------------------------------------------------------------------- truncate_utf8


@pytest.mark.parametrize(
    ("text", "max_bytes", "expected"),
    [
        ("hello", 10, "hello"),
        ("hello", 5, "hello"),
        ("hello", 3, "hel"),
        ("hello", 0, ""),
        ("hello", -1, ""),
        ("", 5, ""),
        ("héllo", 1, "h"),
        ("héllo", 2, "h"),
        ("héllo", 3, "hé"),
        ("héllo", 6, "héllo"),
        ("héllo", 5, "héll"),
        ("☃☃", 5, "☃"),
        ("☃☃", 6, "☃☃"),
        ("a😀b", 4, "a"),
        ("a😀b", 5, "a😀"),
        ("😀", 3, ""),
        ("é" * 10, 40, "é" * 10),
    ],
)
def test_truncate_utf8(text: str, max_bytes: int, expected: str) -> None:
    result = truncate_utf8(text, max_bytes)
    assert result == expected
    assert len(result.encode()) <= max(max_bytes, 0)
    assert text.startswith(result)
