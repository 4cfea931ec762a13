"""Lines that carry client text, made sendable in one place.

``format_line`` refuses what is not a valid IRC line (a middle param with a space, an empty or
':'-prefixed middle param, CR/LF/NUL anywhere), and it never shortens anything. A reply that
echoes what a client typed (``MARKREAD :a b``, ``WHOWAS :a b``, ``CAP :a b``, a 500-byte
unknown command) can be either. :func:`safe_line` formats such lines so that they always go
out, well-formed and within the 512 bytes a line may have (modern.ircdocs.horse, "Message
format": "SHALL NOT exceed 512 bytes in length, counting all characters including the trailing
CR-LF"; tags have their own budget, ircv3.net message-tags "Size limit"):

* a middle param has its spaces, CR, LF and NUL replaced by ``?`` and leading ':' removed, and
  an empty one becomes ``*``; the last param keeps its spaces;
* if the line is still too long, the longest param is cut (at a character boundary), then the
  next longest, until it fits: the echoed text goes before the server's own words.

The adapter's other line formatters are here too: ``add_tag``, the one BATCH framing
(``batch``), a live post as relayed (``post_line``) and a stored post as replayed
(``stored_line``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from ..messenger.model import Post
from ..wire import MAX_BODY, format_line, truncate_utf8
from .session import ACCOUNT, TAGS, TIME
from .timefmt import iso_time

__all__ = [
    "MAX_CONTENT",
    "add_tag",
    "batch",
    "post_line",
    "safe_line",
    "sendable_param",
    "stored_line",
]

MAX_CONTENT = MAX_BODY - 2  # bytes of a line without its tags and CRLF


def sendable_param(p: str, text: bool = False) -> str:
    """``p`` with CR, LF and NUL (and, unless ``text``, spaces and a leading ':') replaced."""
    bad = "\r\n\0" if text else " \r\n\0"
    if any(ch in p for ch in bad):
        p = "".join("?" if ch in bad else ch for ch in p)
    return p if text else (p.lstrip(":") or "*")


def _body_bytes(line: str) -> int:
    """Bytes of ``line`` without its tag section."""
    if line.startswith("@"):
        line = line[line.find(" ") + 1 :]
    return len(line) if line.isascii() else len(line.encode("utf-8", "replace"))


def safe_line(
    command: str,
    params: Sequence[str],
    source: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """``format_line`` for a line that may carry client text: never raises for what is in
    ``params``, and the untagged part of the result fits in 510 bytes (512 with CRLF).

    ``command``, ``source`` and ``tags`` are the server's own and must be valid."""
    try:
        line = format_line(command, params, source, tags)
    except ValueError:
        if not params:
            raise
        *mid, last = params
        params = [sendable_param(p) for p in mid] + [sendable_param(last, text=True)]
        line = format_line(command, params, source, tags)
    if len(line) <= MAX_CONTENT // 4 or _body_bytes(line) <= MAX_CONTENT:
        return line
    return _shorten(command, list(params), source, tags, line)


def _shorten(
    command: str,
    params: list[str],
    source: str | None,
    tags: Mapping[str, str] | None,
    line: str,
) -> str:
    last_i = len(params) - 1
    for _ in range(2 * len(params) if params else 0):
        excess = _body_bytes(line) - MAX_CONTENT
        if excess <= 0:
            return line
        sizes = [len(p.encode("utf-8", "replace")) for p in params]
        i = max(range(len(params)), key=lambda k: (sizes[k], k))  # the longest; ties: the last
        cut = truncate_utf8(params[i], max(0, sizes[i] - excess))
        if i < last_i and not cut:
            cut = "*"  # a middle param stays a valid one
        params[i] = cut
        line = format_line(command, params, source, tags)
    if _body_bytes(line) <= MAX_CONTENT:
        return line
    # the server's own parts alone are too long: cannot happen with valid nicks and names
    raise ValueError(f"line cannot be made to fit: {line[:80]!r}...")


def add_tag(line: str, tag: str) -> str:
    """Prepend one already-escaped ``key=value`` tag to a formatted line."""
    if line.startswith("@"):
        return f"@{tag};{line[1:]}"
    return f"@{tag} {line}"


def _has_batch_tag(line: str) -> bool:
    """Whether ``line`` already carries a ``batch`` tag (it is inside a nested batch)."""
    if not line.startswith("@"):
        return False
    tags = line[1 : line.find(" ")] if " " in line else line[1:]
    return any(t.partition("=")[0] == "batch" for t in tags.split(";"))


def batch(
    server: str,
    ref: str,
    kind: str,
    params: Sequence[str],
    lines: Iterable[str],
    tag: str | None = None,
) -> Iterator[str]:
    """The one BATCH framing (ircv3.net batch): ``BATCH +ref kind params...`` (carrying the
    already-escaped ``tag``, e.g. a label, when given), each line with ``batch=ref`` (a line
    that already carries a batch tag belongs to a nested batch and is left as it is), then
    ``BATCH -ref``. ``lines`` is taken lazily, one line per line sent."""
    opener = format_line("BATCH", (f"+{ref}", kind, *params), server)
    yield add_tag(opener, tag) if tag else opener
    inner = f"batch={ref}"
    for line in lines:
        yield line if _has_batch_tag(line) else add_tag(line, inner)
    yield format_line("BATCH", (f"-{ref}",), server)


def post_line(post: Post, bits: int, target: str, extra: str = "") -> str:
    """A live post relayed to ``target``, for a connection with capability bits ``bits``."""
    if not bits:
        # no tags (the common client): the line safe_line makes, when it needs no repair
        # (format_line accepts it: a valid source and middle param, no CR, LF or NUL; a
        # post's kind, PRIVMSG or NOTICE, always writes its text as a trailing param) and
        # it fits in 512 bytes
        origin, kind = post.origin, post.kind
        line = f":{origin} {kind} {target} :{extra}{post.text}"
        if (
            (kind == "PRIVMSG" or kind == "NOTICE")
            and origin
            and target
            and target[0] != ":"
            and " " not in target
            and " " not in origin
            and "\r" not in line
            and "\n" not in line
            and "\0" not in line
            and (len(line) <= MAX_CONTENT // 4 or _body_bytes(line) <= MAX_CONTENT)
        ):
            return line
        return safe_line(kind, (target, extra + post.text), origin)
    tags: dict[str, str] = {}
    if bits & TAGS and post.tags:
        tags.update(post.tags)
    if bits & TIME:
        tags["time"] = iso_time(post.time)
    if bits & TAGS:
        tags["msgid"] = post.msgid
    if bits & ACCOUNT and post.account:
        tags["account"] = post.account
    return safe_line(post.kind, (target, extra + post.text), post.origin, tags)


def stored_line(p: Post, bits: int, target: str, prefix: str = "") -> str:
    """A stored post replayed (backlog, unread, CHATHISTORY) to ``target``, for a connection with
    capability bits ``bits``: its original source, time and msgid; ``prefix`` (a date, a
    ``[repeat?]`` mark) goes before the text, inside a CTCP ACTION."""
    text = p.text
    if prefix and text.startswith("\x01ACTION ") and text.endswith("\x01"):
        text = "\x01ACTION " + prefix + text[8:]
        prefix = ""
    tags: dict[str, str] = {}
    if bits & TIME:
        tags["time"] = iso_time(p.time)
    if bits & TAGS:
        tags["msgid"] = p.msgid
        if p.tags:
            tags.update(p.tags)
    if bits & ACCOUNT and p.account:
        tags["account"] = p.account
    # the [time] prefix, or a peer's longer nick, can push a stored line over 512 bytes
    return safe_line(p.kind, (target, prefix + text), p.origin, tags)
