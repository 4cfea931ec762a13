"""Sans-I/O IRC syntax: message parsing/formatting, line framing, numerics, names.

Pure standard library; imports nothing from asyncio, sockets or the rest of ``ircd``.
"""

from ircd.wire.framing import (
    MAX_BODY,
    MAX_CLIENT_TAGS,
    MAX_TAGS,
    LineFramer,
    TooLong,
    has_invalid_utf8,
    truncate_utf8,
)
from ircd.wire.glob import glob_match, has_wildcards
from ircd.wire.message import (
    Message,
    ParseError,
    escape_tag_value,
    format_line,
    parse,
    unescape_tag_value,
)
from ircd.wire.names import casefold, is_channel_name, is_valid_nick
from ircd.wire.numbers import parse_uint
from ircd.wire.numerics import Numeric

__all__ = [
    "MAX_BODY",
    "MAX_CLIENT_TAGS",
    "MAX_TAGS",
    "LineFramer",
    "Message",
    "Numeric",
    "ParseError",
    "TooLong",
    "casefold",
    "escape_tag_value",
    "format_line",
    "glob_match",
    "has_invalid_utf8",
    "has_wildcards",
    "is_channel_name",
    "is_valid_nick",
    "parse",
    "parse_uint",
    "truncate_utf8",
    "unescape_tag_value",
]
