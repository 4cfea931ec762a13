"""IRC message syntax: parsing and formatting of single lines (sans-I/O).

Lines handled here never include the CRLF terminator; framing is the job of
:mod:`ircd.wire.framing`.  The grammar follows the "modern IRC" client protocol
document and the IRCv3 message-tags specification:

    [@tags SPACE] [:source SPACE] command [params] [SPACE :trailing]

Parsing is lenient in the way real-world servers are (runs of spaces separate
params, leading spaces are ignored, a stray trailing CR/LF is dropped) and is
written without regular expressions because it runs once per received line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Message",
    "ParseError",
    "escape_tag_value",
    "format_line",
    "parse",
    "unescape_tag_value",
]


class ParseError(ValueError):
    """Raised by :func:`parse` for a line that has no command."""


# --------------------------------------------------------------------------- tag escaping

_UNESCAPES: dict[str, str] = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPES: dict[int, str] = {
    ord("\\"): "\\\\",
    ord(";"): "\\:",
    ord(" "): "\\s",
    ord("\r"): "\\r",
    ord("\n"): "\\n",
}


def escape_tag_value(v: str) -> str:
    """Escape a message-tag value (``;``→``\\:``, space→``\\s``, ``\\``→``\\\\``, CR, LF)."""
    if "\\" in v or ";" in v or " " in v or "\r" in v or "\n" in v:
        return v.translate(_ESCAPES)
    return v


def unescape_tag_value(v: str) -> str:
    """Undo :func:`escape_tag_value`.

    Per the IRCv3 spec, ``\\x`` for any other character ``x`` yields ``x`` and a
    lone backslash at the end of the value is dropped.  Decoding is done one
    escape at a time, so ``\\\\n`` is a backslash followed by ``n``.
    """
    i = v.find("\\")
    if i < 0:
        return v
    out: list[str] = []
    start = 0
    n = len(v)
    while i >= 0:
        out.append(v[start:i])
        if i + 1 >= n:  # lone trailing backslash: dropped
            start = n
            break
        c = v[i + 1]
        out.append(_UNESCAPES.get(c, c))
        start = i + 2
        i = v.find("\\", start)
    out.append(v[start:])
    return "".join(out)


# --------------------------------------------------------------------------- parsing

# ASCII-only upper-casing for the (rare) non-ASCII command.
_ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def _parse_tags(raw: str) -> dict[str, str] | None:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        key, _, value = item.partition("=")
        if not key:
            continue
        if "\\" in value:
            value = unescape_tag_value(value)
        tags[key] = value  # duplicate keys: the last one wins
    return tags or None


# Upper-case commands a server commonly receives, mapped to themselves: one dict
# lookup instead of isascii()+upper(), and the result is the interned constant.
_COMMON_COMMANDS = (
    "PRIVMSG NOTICE TAGMSG PING PONG JOIN PART QUIT NICK USER PASS CAP AUTHENTICATE MODE TOPIC "
    "NAMES LIST WHO WHOIS WHOWAS AWAY INVITE KICK MOTD LUSERS VERSION TIME ISON USERHOST HELP "
    "INFO ADMIN OPER KILL ERROR CHATHISTORY MARKREAD MONITOR BATCH SETNAME REGISTER WEBIRC"
)
_KNOWN_COMMANDS: dict[str, str] = {c: c for c in _COMMON_COMMANDS.split()}


def _skip_spaces(line: str, pos: int) -> int:
    n = len(line)
    while pos < n and line[pos] == " ":
        pos += 1
    return pos


def parse(line: str) -> Message:
    """Parse one IRC line (without CRLF; a stray trailing CR/LF is tolerated).

    Raises :class:`ParseError` if the line is empty, blank, or has tags and/or a
    source but no command.
    """
    if line[-1:] in "\r\n":  # also true for "", harmlessly
        line = line.rstrip("\r\n")
    pos = 0
    tags: dict[str, str] | None = None
    source: str | None = None
    c = line[:1]
    if c in " @:":  # also true for "": everything but a plain "COMMAND ..." line
        if c == " ":
            pos = _skip_spaces(line, 0)
            c = line[pos : pos + 1]
        if c == "@":
            sp = line.find(" ", pos)
            if sp < 0:
                raise ParseError("tags without a command")
            tags = _parse_tags(line[pos + 1 : sp])
            pos = sp + 1
            c = line[pos : pos + 1]
            if c == " ":
                pos = _skip_spaces(line, pos)
                c = line[pos : pos + 1]
        if c == ":":
            sp = line.find(" ", pos)
            if sp < 0:
                raise ParseError("source without a command")
            source = line[pos + 1 : sp]
            pos = sp + 1
            c = line[pos : pos + 1]
            if c == " ":
                pos = _skip_spaces(line, pos)
                c = line[pos : pos + 1]
        if not c or c == ":":
            raise ParseError("empty line" if not line.strip(" ") else "missing command")

    # line[pos:] starts with the command.  " :" can only introduce the trailing
    # param from here on: tags and source (which may contain ':') are behind us.
    t = line.find(" :", pos)
    if t < 0:
        parts = (line[pos:] if pos else line).split(" ")
    else:
        parts = line[pos:t].split(" ")
        parts.append(line[t + 2 :])
    if "" in parts:  # runs of spaces, or trailing spaces (never the trailing param itself)
        if t < 0:
            parts = [p for p in parts if p]
        else:
            trailing = parts.pop()
            parts = [p for p in parts if p]
            parts.append(trailing)

    command = parts[0]
    cmd = _KNOWN_COMMANDS.get(command)
    if cmd is None:
        if command.isspace():
            raise ParseError("empty line")
        cmd = command.upper() if command.isascii() else command.translate(_ASCII_UPPER)
    m: Message = _new_message(Message)  # see _set_command & co. below
    _set_command(m, cmd)
    if len(parts) > 1:
        del parts[0]
        _set_params(m, tuple(parts))
    else:
        _set_params(m, ())
    _set_source(m, source)
    _set_tags(m, tags)
    return m


# --------------------------------------------------------------------------- formatting

# For these commands the param at the given index (and anything after it) is
# free text, so it is always sent as a trailing param (":text").  Numerics
# ("000".."999") are treated the same way starting at index 1, i.e. whenever
# there are at least two params (the first one is always the target nick).
# Other well-formed commands map to _NOT_FORCED: being in this dict also means
# the command needs no validation.
_NOT_FORCED = 1 << 30
_TEXT_PARAM_INDEX: dict[str, int] = {c: _NOT_FORCED for c in _KNOWN_COMMANDS}
_TEXT_PARAM_INDEX |= {
    "PRIVMSG": 1,
    "NOTICE": 1,
    "TOPIC": 1,
    "PART": 1,
    "KICK": 2,
    "QUIT": 0,
    "ERROR": 0,
    "AWAY": 0,
    "PONG": 1,  # ":srv PONG srv :token", as HexChat and the brief expect
}
_TEXT_PARAM_INDEX.update({f"{i:03d}": 1 for i in range(1000)})


# Tag keys the server itself sends; known to be valid, so not re-checked.
_KNOWN_TAG_KEYS = frozenset(
    ("time", "msgid", "account", "batch", "label", "bot", "+draft/reply", "+typing")
)


def _format_tags(tags: Mapping[str, str]) -> str:
    items: list[str] = []
    for key, value in tags.items():
        if key not in _KNOWN_TAG_KEYS and (not key or "=" in key or ";" in key or " " in key):
            raise ValueError(f"invalid tag key: {key!r}")
        if value:
            items.append(f"{key}={escape_tag_value(value)}")
        else:
            items.append(key)
    return ";".join(items)


def format_line(
    command: str,
    params: Sequence[str],
    source: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Format one IRC line (without CRLF).

    Rules:

    * ``tags`` (if non-empty) are written first as ``@k=v;k2`` in mapping order,
      values escaped with :func:`escape_tag_value`; an empty value is written as
      the bare key.
    * ``source`` (if not None) is written as ``:source``.
    * All params except the last must be non-empty, contain no space and not start
      with ``:`` (otherwise :class:`ValueError`).
    * The last param gets a ``:`` prefix when it must (it is empty, contains a
      space, or starts with ``:``) **and also** when it is a free-text param, as
      real servers do and some clients expect:

      - ``PRIVMSG``/``NOTICE``/``TOPIC``/``PART``: from the 2nd param on
        (``PRIVMSG #a :hi``, but ``PART #a`` when there is no reason);
      - ``KICK``: from the 3rd param on (``KICK #a bob :reason``);
      - ``QUIT``/``ERROR``/``AWAY``: always (``QUIT :bye``);
      - 3-digit numerics: whenever there are at least two params
        (``001 bob :Welcome``, but ``451 *`` stays as is).

      Otherwise it is written bare (``NICK bob``, ``JOIN #a``, ``MODE #a +o bob``).
    * :class:`ValueError` if the command is empty/contains a space/starts with
      ``:``, the source is empty or contains a space, a tag key is invalid, or
      anything contains CR, LF or NUL (no line injection).
    """
    text_index = _TEXT_PARAM_INDEX.get(command)
    if text_index is None:
        if not command or " " in command or command[0] == ":":
            raise ValueError(f"invalid command: {command!r}")
        text_index = _NOT_FORCED
    if tags:
        head = f"@{_format_tags(tags)} "
        if source is not None:
            if not source or " " in source:
                raise ValueError(f"invalid source: {source!r}")
            head = f"{head}:{source} {command}"
        else:
            head = f"{head}{command}"
    elif source is not None:
        if not source or " " in source:
            raise ValueError(f"invalid source: {source!r}")
        head = f":{source} {command}"
    else:
        head = command

    n = len(params)
    if n == 0:
        line = head
    else:
        last_i = n - 1
        last = params[last_i]
        if last_i >= text_index or not last or " " in last or last[0] == ":":
            last = ":" + last
        if n == 1:
            line = f"{head} {last}"
        elif n == 2:
            p = params[0]
            if not p or " " in p or p[0] == ":":
                raise ValueError(f"invalid middle param 0: {p!r}")
            line = f"{head} {p} {last}"
        else:
            for i in range(last_i):
                p = params[i]
                if not p or " " in p or p[0] == ":":
                    raise ValueError(f"invalid middle param {i}: {p!r}")
            line = f"{head} {' '.join(params[:last_i])} {last}"

    if "\r" in line or "\n" in line or "\0" in line:
        raise ValueError(f"CR, LF or NUL in IRC line: {line!r}")
    return line


# --------------------------------------------------------------------------- Message


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message.

    ``command`` is upper-case when it comes from :func:`parse`.  ``tags`` is None
    when the message has no tags (:func:`parse` never returns an empty dict; an
    empty dict is formatted as no tags).  ``tags`` takes part in equality but
    not in the hash, so messages stay hashable.  :meth:`format` follows the rules
    of :func:`format_line`, including its always-trailing text params.
    """

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: dict[str, str] | None = field(default=None, compare=True, hash=False)

    def format(self) -> str:
        """Format as one line without CRLF; see :func:`format_line` for the rules."""
        return format_line(self.command, self.params, self.source, self.tags)


# Fast construction of Message instances for parse(): a frozen dataclass __init__
# goes through object.__setattr__ once per field, which costs about as much as the
# rest of a parse.  Writing the slots through their member descriptors is
# equivalent and ~2x faster.  (Fails loudly at import if Message loses its slots.)  The same
# holds compiled with mypyc (scripts/compile.sh): there Message.__new__ is its own (it refuses
# object.__new__) and does not run __init__, whose frozen-dataclass form stays as slow; and the
# class's dict is read with vars(), since mypyc refuses Message.__dict__ on the class.
_new_message: Callable[[type[Message]], Message] = Message.__new__
_slots: Any = vars(Message)
_set_command: Callable[[Message, str], None] = _slots["command"].__set__
_set_params: Callable[[Message, tuple[str, ...]], None] = _slots["params"].__set__
_set_source: Callable[[Message, str | None], None] = _slots["source"].__set__
_set_tags: Callable[[Message, dict[str, str] | None], None] = _slots["tags"].__set__
del _slots
