"""The framer keeps invalid UTF-8 recognisable, so that the server can refuse it (ircv3.net
UTF8ONLY: servers "MUST NOT relay content ... containing non-UTF-8 data"), and valid text
passes unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ircd.wire import LineFramer, has_invalid_utf8

_BODY = st.binary(min_size=1, max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b)


def _valid(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@given(_BODY)
def test_a_line_is_flagged_exactly_when_its_bytes_are_not_utf8(raw: bytes) -> None:
    """Any bytes: the framed line is flagged iff they are not UTF-8; valid text is decoded as
    it is; flagged text maps back to the very bytes received (nothing silently altered)."""
    out = LineFramer().feed(raw + b"\r\n")
    if raw.strip(b" ") == b"" or not out:
        return
    (line,) = out
    assert isinstance(line, str)
    assert has_invalid_utf8(line) == (not _valid(raw))
    assert line.encode("utf-8", "surrogateescape") == raw


@given(st.text(max_size=200))
def test_text_of_valid_characters_is_never_flagged(text: str) -> None:
    """Text a client can send as UTF-8 (no lone surrogates) is never taken for invalid."""
    clean = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)
    assert not has_invalid_utf8(clean)


def test_flagged_examples() -> None:
    """Latin-1 "café", a cut-off sequence, an overlong encoding: all flagged."""
    for raw in (b"caf\xe9", b"\xe2\x98", b"\xc0\xaf", b"\xff"):
        (line,) = LineFramer().feed(b"PRIVMSG #a :" + raw + b"\r\n")
        assert isinstance(line, str) and has_invalid_utf8(line), raw
