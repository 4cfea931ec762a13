"""Splitting a received byte stream into IRC lines (sans-I/O).

Limits (IRCv3 message-tags + RFC 1459):

* :data:`MAX_BODY` — bytes of the untagged part of a line *including* CRLF,
  so at most 510 bytes of content;
* :data:`MAX_TAGS` — bytes of the whole tag section a server may send,
  including the leading ``@`` and the trailing space;
* :data:`MAX_CLIENT_TAGS` — bytes of tag data a client may send (without ``@``
  and the space).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_BODY",
    "MAX_CLIENT_TAGS",
    "MAX_TAGS",
    "LineFramer",
    "TooLong",
    "has_invalid_utf8",
    "truncate_utf8",
]

MAX_BODY = 512
MAX_TAGS = 8191
MAX_CLIENT_TAGS = 4094

_MAX_CONTENT = MAX_BODY - 2  # body bytes without CRLF
_MAX_PARTIAL = MAX_TAGS + MAX_BODY  # largest unterminated line we keep buffering


@dataclass(frozen=True, slots=True)
class TooLong:
    """Emitted by :class:`LineFramer` in place of a line that was too long.

    ``what`` is ``"line"`` (the body, or an unterminated line, is too long) or
    ``"tags"`` (the client tag section is too long).
    """

    what: str


_TOO_LONG_LINE = TooLong("line")
_TOO_LONG_TAGS = TooLong("tags")


def _check_long(raw: bytes | bytearray) -> TooLong | None:
    """Classify a complete line (no CR/LF) that is longer than the body limit."""
    body = len(raw)
    if raw[0] == 0x40:  # '@': tag section runs up to (and including) the first space
        sp = raw.find(b" ")
        if sp < 0:
            # Tags only, no command: too long, or let the parser reject it.
            return _TOO_LONG_TAGS if body - 1 > MAX_CLIENT_TAGS else None
        if sp - 1 > MAX_CLIENT_TAGS:
            return _TOO_LONG_TAGS
        body -= sp + 1
    return _TOO_LONG_LINE if body > _MAX_CONTENT else None


class LineFramer:
    """Incremental splitter of received bytes into decoded IRC lines.

    :meth:`feed` returns, in order, each complete non-empty line as a ``str``
    (without its ``\\n`` / ``\\r\\n`` terminator; never raising: a byte that is not valid
    UTF-8 is decoded as a lone surrogate U+DC80..U+DCFF, Python's ``surrogateescape``, so that
    the server can refuse the line, see :func:`has_invalid_utf8`) or a :class:`TooLong` marker
    in place of a line that
    exceeds the limits.  An unterminated line that grows beyond
    ``MAX_TAGS + MAX_BODY`` bytes is dropped with a single ``TooLong("line")``
    and the rest of it, up to the next ``\\n``, is discarded, so memory use per
    connection stays bounded.
    """

    __slots__ = ("_buf", "_discarding")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Number of bytes of the pending (unterminated) line."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[str | TooLong]:
        """Consume ``data`` and return the lines it completes."""
        chunk: bytes | bytearray = data
        if self._discarding:
            nl = chunk.find(b"\n")
            if nl < 0:
                return []
            self._discarding = False
            chunk = chunk[nl + 1 :]
        buf = self._buf
        if buf:
            nl = chunk.find(b"\n")
            if nl < 0:
                if len(buf) + len(chunk) > _MAX_PARTIAL:
                    buf.clear()
                    self._discarding = True
                    return [_TOO_LONG_LINE]
                buf += chunk
                return []
            nl += len(buf)
            buf += chunk
            chunk = buf
            self._buf = bytearray()
        else:
            nl = chunk.find(b"\n")
            if nl < 0:
                if len(chunk) > _MAX_PARTIAL:
                    self._discarding = True
                    return [_TOO_LONG_LINE]
                buf += chunk
                return []

        if nl == len(chunk) - 1:
            # Exactly one complete line: the usual case for interactive clients.
            if nl and chunk[nl - 1] == 0x0D:  # '\r'
                nl -= 1
            if not nl:
                return []
            raw = chunk[:nl]
            if nl > _MAX_CONTENT:
                too_long = _check_long(raw)
                if too_long is not None:
                    return [too_long]
            return [raw.decode("utf-8", "surrogateescape")]

        out: list[str | TooLong] = []
        if chunk.isascii():
            # Fast path: decode once and split the str; char counts == byte counts.
            text = chunk.decode("ascii")
            if nl and chunk[nl - 1] == 0x0D:  # the first line ends with CRLF, as is usual
                lines = text.split("\r\n")
                if len(lines) - 1 != text.count("\n"):  # ...but some end with a bare LF
                    lines = text.replace("\r\n", "\n").split("\n")
            elif "\r" in text:
                lines = text.replace("\r\n", "\n").split("\n")
            else:
                lines = text.split("\n")
            tail = lines.pop()
            if "" not in lines and (
                len(chunk) <= _MAX_CONTENT or max(map(len, lines), default=0) <= _MAX_CONTENT
            ):
                out += lines
            else:
                for line in lines:
                    if len(line) > _MAX_CONTENT:
                        too_long = _check_long(line.encode("ascii"))
                        if too_long is not None:
                            out.append(too_long)
                            continue
                    if line:
                        out.append(line)
            if tail:
                self._keep_tail(chunk[len(chunk) - len(tail) :], out)
        else:
            raw_lines = chunk.split(b"\n")
            raw_tail = raw_lines.pop()
            for raw in raw_lines:
                n = len(raw)
                if n and raw[-1] == 0x0D:  # '\r'
                    n -= 1
                    raw = raw[:n]
                if not n:
                    continue
                if n > _MAX_CONTENT:
                    too_long = _check_long(raw)
                    if too_long is not None:
                        out.append(too_long)
                        continue
                out.append(raw.decode("utf-8", "surrogateescape"))
            if raw_tail:
                self._keep_tail(raw_tail, out)
        return out

    def _keep_tail(self, tail: bytes | bytearray, out: list[str | TooLong]) -> None:
        if len(tail) > _MAX_PARTIAL:
            out.append(_TOO_LONG_LINE)
            self._discarding = True
        else:
            self._buf += tail


# spelled with chr(): a lone surrogate in a literal cannot be compiled (scripts/compile.sh)
_INVALID = re.compile(f"[{chr(0xDC80)}-{chr(0xDCFF)}]")


def has_invalid_utf8(text: str) -> bool:
    """Whether ``text`` (as :class:`LineFramer` decodes it) came from bytes that were not valid
    UTF-8."""
    return not text.isascii() and _INVALID.search(text) is not None


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Return the longest prefix of ``text`` whose UTF-8 encoding fits in ``max_bytes``.

    The cut never splits a character.
    """
    if max_bytes <= 0:
        return ""
    if text.isascii():
        return text[:max_bytes]
    if len(text) * 4 <= max_bytes:
        return text
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    # Only the cut-off tail can be an incomplete sequence; "ignore" drops it.
    return encoded[:max_bytes].decode("utf-8", "ignore")
