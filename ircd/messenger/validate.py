"""Checks on persisted state before the engine builds on it.

A snapshot (``Messenger.to_dict()`` as read back from disk) and every journaled event are
checked for the shapes, types and ranges the engine and the IRC adapter rely on, so that a
corrupt or hand-edited state file is refused at start with one line saying where and what,
instead of starting on state that fails later (a traceback at the next login, a line that
cannot be sent).

What "valid" means here:

- times are numbers from 0 to the end of year 9999 (what ``datetime`` can show a client);
  NaN and infinities are not;
- counters and ids are integers from 0 (or 1) to 2**53 - 1 (exact in every JSON reader);
- keys, names and origins are non-empty words (no space, CR, LF or NUL, no leading ``:``)
  because they go out as IRC parameters; free text has no CR, LF or NUL;
- a room's history holds that room's posts and a private history private posts, each in
  increasing ``seq`` order and none newer than the snapshot's ``seq``;
- a delivery hold is a range ``[lo, hi]`` of seqs with ``lo <= hi``;
- a complaint group (``complaint_groups``) belongs to a complaint the snapshot has.

Unknown keys are ignored (newer code may add optional fields), optional keys may be missing,
and event types this module does not know are left to ``Messenger._apply`` (which refuses
them).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from typing import Any

__all__ = ["MAX_INT", "MAX_TIME", "StateError", "check_event", "check_snapshot"]

MAX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z, the last second datetime can represent
# the schema of a snapshot whose posts are in the store's segments (snapshot.dump_segmented)
SEGMENTED_SCHEMA = 2
MAX_INT = 2**53 - 1  # the largest integer every JSON reader keeps exactly
POST_KINDS = ("PRIVMSG", "NOTICE")
FLAG_MODES = "imnst"  # channel modes without a parameter
LIST_KINDS = "beI"  # channel list modes


class StateError(ValueError):
    """Persisted state the engine cannot use. ``str(e)`` is one line: where (a path such as
    ``users[2].rooms``) and what is wrong."""


Check = Callable[[Any, str], None]


def _clip(s: str, limit: int = 40) -> str:
    r = repr(s)
    return r if len(r) <= limit else r[: limit - 4] + "...'"


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"the string {_clip(v)}"
    if isinstance(v, int):
        text = str(v) if abs(v) < 10**30 else f"an integer of {len(str(abs(v)))} digits"
        return text
    return _clip(repr(v))


def _at(path: str, problem: str) -> StateError:
    return StateError(f"{path}: {problem}" if path else problem)


def _fail(path: str, expected: str, v: Any) -> StateError:
    return _at(path, f"expected {expected}, got {_show(v)}")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- scalars -----------------------------------------------------------------------------------


def _integer(lo: int = 0) -> Check:
    def check(v: Any, path: str) -> None:
        if type(v) is not int or not lo <= v <= MAX_INT:
            raise _fail(path, f"an integer from {lo} to 2**53-1", v)

    return check


_count = _integer(0)
_id = _integer(1)


def _time(v: Any, path: str) -> None:
    # NaN fails both comparisons; bool is excluded by the exact type test.
    if type(v) not in (int, float) or not 0 <= v <= MAX_TIME:
        raise _fail(path, "a time (seconds since 1970, up to year 9999)", v)


def _marker(v: Any, path: str) -> None:
    # A read marker is the client's own claim, and before times were checked a client could
    # store year 1 (MARKREAD ... timestamp=0001-01-01T00:00:00+23:59): such a state must still
    # load, so any finite number is kept (the adapter shows it clamped to 1970..9999).
    if type(v) not in (int, float) or not -1e300 <= v <= 1e300:
        raise _fail(path, "a time (seconds since 1970)", v)


def _bool(v: Any, path: str) -> None:
    if type(v) is not bool:
        raise _fail(path, "true or false", v)


def _string(v: Any, path: str) -> None:
    if type(v) is not str:
        raise _fail(path, "a string", v)


def _text(v: Any, path: str) -> None:
    if type(v) is not str or "\r" in v or "\n" in v or "\0" in v:
        raise _fail(path, "a string without CR, LF or NUL", v)


def _is_word(v: Any) -> bool:
    return type(v) is str and v != "" and v[0] != ":" and not any(c in v for c in " \r\n\0")


def _word(v: Any, path: str) -> None:
    if not _is_word(v):
        raise _fail(path, "a non-empty word (no spaces, CR, LF or NUL, no leading ':')", v)


def _word_or_empty(v: Any, path: str) -> None:
    if v != "":
        _word(v, path)


def _address(v: Any, path: str) -> None:
    if type(v) is not str or v == "" or "\r" in v or "\n" in v or "\0" in v:
        raise _fail(path, "a non-empty string without CR, LF or NUL", v)


def _tag_key(v: Any, path: str) -> None:
    if type(v) is not str or not v or any(c in v for c in "=; \r\n\0"):
        raise _fail(path, "a message tag name", v)


def _tag_value(v: Any, path: str) -> None:
    if type(v) is not str or "\0" in v:  # CR and LF are escaped in tag values; NUL cannot be
        raise _fail(path, "a string without NUL", v)


def _kind(v: Any, path: str) -> None:
    if v not in POST_KINDS or type(v) is not str:
        raise _fail(path, " or ".join(POST_KINDS), v)


def _pair_key(v: Any, path: str) -> None:
    parts = v.split("\t") if type(v) is str else []
    if len(parts) != 2 or not all(map(_is_word, parts)):
        raise _fail(path, "two user keys separated by a tab", v)


# -- containers --------------------------------------------------------------------------------


def _nullable(check: Check) -> Check:
    def nullable(v: Any, path: str) -> None:
        if v is not None:
            check(v, path)

    return nullable


def _list_of(item: Check) -> Check:
    def check(v: Any, path: str) -> None:
        if type(v) is not list:
            raise _fail(path, "a list", v)
        for i, x in enumerate(v):
            item(x, f"{path}[{i}]")

    return check


def _map_of(key: Check, value: Check) -> Check:
    def check(v: Any, path: str) -> None:
        if type(v) is not dict:
            raise _fail(path, "an object", v)
        for k, x in v.items():
            where = f"{path}[{_clip(k)}]"
            key(k, f"{where} (the key)")
            value(x, where)

    return check


def _pair(first: Check, second: Check) -> Check:
    def check(v: Any, path: str) -> None:
        if type(v) is not list or len(v) != 2:
            raise _fail(path, "a list of two values", v)
        first(v[0], f"{path}[0]")
        second(v[1], f"{path}[1]")

    return check


def _ban(v: Any, path: str) -> None:
    """``[until, reason]``, optionally followed by the muted user's name and address."""
    if type(v) is not list or not 2 <= len(v) <= 4:
        raise _fail(path, "a list [until, reason, name, address] (name and address optional)", v)
    _time(v[0], f"{path}[0]")
    for i in range(1, len(v)):
        _text(v[i], f"{path}[{i}]")


def _hold(v: Any, path: str) -> None:
    """A range ``[lo, hi]`` of seqs still unread below a user's delivery cursor (holds.py)."""
    if type(v) is not list or len(v) != 2:
        raise _fail(path, "a range [lo, hi]", v)
    _count(v[0], f"{path}[0]")
    _count(v[1], f"{path}[1]")
    if v[0] > v[1]:
        raise _at(path, f"a range [lo, hi] needs lo <= hi, got [{v[0]}, {v[1]}]")


def _record(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    """An object with these keys (``optional`` ones may be missing); other keys are ignored."""
    opt = optional or {}

    def check(v: Any, path: str) -> None:
        if type(v) is not dict:
            raise _fail(path, "an object", v)
        for key, sub in required.items():
            if key not in v:
                raise _at(path, f"missing {key!r}")
            sub(v[key], _child(path, key))
        for key, sub in opt.items():
            if key in v:
                sub(v[key], _child(path, key))

    return check


# -- the domain's records ----------------------------------------------------------------------

_post_fields = _record(
    {
        "seq": _id,
        "id": _word,
        "ts": _time,
        "k": _kind,
        "s": _word,
        "sn": _word,
        "o": _word,
        "txt": _text,
    },
    {
        "a": _nullable(_word),
        "r": _nullable(_word),
        "to": _nullable(_word),
        "tn": _nullable(_word),
        "tags": _nullable(_map_of(_tag_key, _tag_value)),
    },
)


def _post(v: Any, path: str) -> None:
    _post_fields(v, path)
    room, to = v.get("r"), v.get("to")
    if (room is None) == (to is None):
        raise StateError(f"{path}: a post needs exactly one of 'r' (a room) and 'to' (a user)")


_POST_WORDS = ("id", "s", "sn", "o")
_POST_OPTIONAL_WORDS = ("a", "r", "to", "tn")


def _plain_post(p: Any) -> bool:
    """True if ``p`` is certainly a valid post without tags: the common case, checked in one
    tight pass without building a path for every field. It accepts only what ``_post`` accepts
    (anything else, tags included, goes to ``_post``, which says what is wrong)."""
    if type(p) is not dict:
        return False
    try:
        seq, ts, kind, txt = p["seq"], p["ts"], p["k"], p["txt"]
        words = [p["id"], p["s"], p["sn"], p["o"]]
    except KeyError:
        return False
    if type(seq) is not int or not 1 <= seq <= MAX_INT:
        return False
    if type(ts) not in (int, float) or not 0 <= ts <= MAX_TIME:
        return False
    if type(kind) is not str or kind not in POST_KINDS:
        return False
    if type(txt) is not str or "\r" in txt or "\n" in txt or "\0" in txt:
        return False
    if p.get("tags") is not None:
        return False
    room, to = p.get("r"), p.get("to")
    if (room is None) == (to is None):
        return False
    for key in _POST_OPTIONAL_WORDS:
        v = p.get(key)
        if v is not None:
            words.append(v)
    for w in words:
        if (
            type(w) is not str
            or not w
            or w[0] == ":"
            or " " in w
            or "\r" in w
            or "\n" in w
            or "\0" in w
        ):
            return False
    return True


def check_post(v: Any, path: str) -> None:
    """``StateError`` unless ``v`` is a valid post (its journal/snapshot dict form)."""
    _post(v, path)


def bad_word(w: Any) -> bool:
    """True unless ``w`` is a word: a non-empty str without space, CR, LF, NUL or a leading ':'."""
    return (
        type(w) is not str
        or not w
        or w[0] == ":"
        or " " in w
        or "\r" in w
        or "\n" in w
        or "\0" in w
    )


def _posts(v: Any, path: str) -> None:
    """A list of posts: each one through the fast check, a doubtful one through ``_post``."""
    if type(v) is not list:
        raise _fail(path, "a list", v)
    plain = _plain_post
    for i, x in enumerate(v):
        if not plain(x):
            _post(x, f"{path}[{i}]")


_scheduled = _record(
    {
        "id": _id,
        "owner": _word,
        "owner_name": _word,
        "target": _word,
        "target_name": _word,
        "private": _bool,
        "text": _text,
        "created": _time,
        "due": _time,
        "origin": _word,
    }
)

_user = _record(
    {
        "key": _word,
        "name": _word,
        "pw": _string,
        "created": _time,
        "delivered": _count,
        "seen": _bool,
        "rooms": _map_of(_word, _count),
        "settings": _map_of(_word, _text),
        "markers": _map_of(_word, _marker),
    },
    {
        "since": _count,
        "address": _text,
        "oper": _word_or_empty,  # the operator name it last OPERed as ("": never)
        "holds": _list_of(_hold),
    },
)


def _flags(v: Any, path: str) -> None:
    if type(v) is not str or not set(v) <= set(FLAG_MODES) or len(set(v)) != len(v):
        raise _fail(path, f"channel modes out of {FLAG_MODES!r}, each once", v)


def _flag_mode(v: Any, path: str) -> None:
    if type(v) is not str or len(v) != 1 or v not in FLAG_MODES + "kl":
        raise _fail(path, f"a channel mode out of {FLAG_MODES + 'kl'!r}", v)


def _list_kind(v: Any, path: str) -> None:
    if type(v) is not str or len(v) != 1 or v not in LIST_KINDS:
        raise _fail(path, f"a list mode out of {LIST_KINDS!r}", v)


def _limit(v: Any, path: str) -> None:
    if type(v) is not int or not 0 <= v <= 9999999:
        raise _fail(path, "a channel limit from 0 to 9999999", v)


def _list_entry(v: Any, path: str) -> None:
    """``[mask, by, time]``."""
    if type(v) is not list or len(v) != 3:
        raise _fail(path, "a list entry [mask, by, time]", v)
    _word(v[0], f"{path}[0]")
    _word_or_empty(v[1], f"{path}[1]")
    _time(v[2], f"{path}[2]")


_room_fields = _record(
    {
        "key": _word,
        "name": _word,
        "created": _time,
        "topic": _text,
        "topic_by": _word_or_empty,
        "topic_time": _time,
        "members": _list_of(_word),
        "ops": _list_of(_word),
        "history": _posts,
    },
    {
        "voiced": _list_of(_word),
        "modes": _flags,
        "chan_key": _word_or_empty,  # +k ("key" is the room's own key)
        "limit": _limit,
        "lists": _map_of(_list_kind, _list_of(_list_entry)),
        "invited": _list_of(_word),
    },
)


def _room(v: Any, path: str) -> None:
    _room_fields(v, path)
    if v.get("topic") and not v.get("topic_by"):
        raise StateError(f"{path}: a topic without 'topic_by' (who set it)")


def _segment_ref(v: Any, path: str) -> None:
    """``[lo, hi, n, holes]``: a history's posts in the store's segments (snapshot.py)."""
    if type(v) is not list or len(v) != 4:
        raise _fail(path, "a list [lo, hi, count, holes]", v)
    for i in range(3):
        _integer(1)(v[i], f"{path}[{i}]")
    if v[0] > v[1]:
        raise StateError(f"{path}: lo {v[0]} is after hi {v[1]}")
    if v[2] > v[1] - v[0] + 1:
        raise StateError(f"{path}: {v[2]} posts cannot have seqs from {v[0]} to {v[1]}")
    _list_of(_integer(1))(v[3], f"{path}[3]")


_segmented = _record(
    {"rooms": _map_of(_word, _segment_ref), "private": _map_of(_pair_key, _segment_ref)}
)


_snapshot_fields = _record(
    {
        "schema": _integer(0),
        "server_id": _word,
        "seq": _count,
        "next_sched_id": _id,
        "users": _list_of(_user),
        "rooms": _list_of(_room),
        "private": _map_of(_pair_key, _posts),
        "windows": _map_of(_word, _pair(_time, _count)),
        "complaints": _map_of(_word, _map_of(_word, _text)),
        "bans": _map_of(_word, _ban),
        "scheduled": _list_of(_scheduled),
    },
    # target -> complainer -> the address its complaint counts together with others from
    {
        "complaint_groups": _map_of(_word, _map_of(_word, _address)),
        # a snapshot whose posts are in the store's segments (histories empty here)
        "segmented": _segmented,
    },
)


def _check_history(posts: list[dict[str, Any]], path: str, top: int, room: str | None) -> None:
    prev = 0
    for i, p in enumerate(posts):
        if p.get("r") == room and prev < p["seq"] <= top:
            prev = p["seq"]
            continue
        where = f"{path}[{i}]"
        if p.get("r") != room:
            if room is None:
                raise StateError(f"{where}: a channel post in a private history")
            raise StateError(f"{where}: a post of {_clip(str(p.get('r')))} in this room's history")
        if p["seq"] <= prev:
            raise StateError(f"{where}.seq: {p['seq']} is not after the previous post's {prev}")
        if p["seq"] > top:
            raise StateError(f"{where}.seq: {p['seq']} is after the snapshot's seq {top}")
        prev = p["seq"]


def check_snapshot(data: Any, schema: int) -> None:
    """Raise ``StateError`` unless ``data`` is a usable snapshot of schema version ``schema``."""
    if type(data) is not dict:
        raise _fail("", "an object", data)  # "expected an object, got a list"
    if "segmented" in data:
        schema = SEGMENTED_SCHEMA  # its posts are elsewhere: older servers must refuse it
    if data.get("schema") != schema or type(data.get("schema")) is not int:
        raise StateError(
            f"schema: unsupported state schema {_show(data.get('schema'))} "
            f"(this server reads {schema})"
        )
    _snapshot_fields(data, "")
    top = data["seq"]
    seen: set[str] = set()
    for i, u in enumerate(data["users"]):
        if u["key"] in seen:
            raise StateError(f"users[{i}].key: {_clip(u['key'])} appears twice")
        seen.add(u["key"])
    seen.clear()
    for i, r in enumerate(data["rooms"]):
        if r["key"] in seen:
            raise StateError(f"rooms[{i}].key: {_clip(r['key'])} appears twice")
        seen.add(r["key"])
        _check_history(r["history"], f"rooms[{i}].history", top, r["key"])
    for k, posts in data["private"].items():
        _check_history(posts, f"private[{_clip(k)}]", top, None)
    seg = data.get("segmented")
    if seg is not None:
        for key, ref in seg["rooms"].items():
            if key not in seen:
                raise StateError(f"segmented.rooms[{_clip(key)}]: no such room")
            if ref[1] > top:
                raise StateError(f"segmented.rooms[{_clip(key)}]: hi {ref[1]} is after seq {top}")
        for key, ref in seg["private"].items():
            if key not in data["private"]:
                raise StateError(f"segmented.private[{_clip(key)}]: no such conversation")
            if ref[1] > top:
                raise StateError(f"segmented.private[{_clip(key)}]: hi {ref[1]} is after {top}")
    for target, groups in data.get("complaint_groups", {}).items():
        made = data["complaints"].get(target, {})
        for by in groups:
            if by not in made:
                raise StateError(
                    f"complaint_groups[{_clip(target)}][{_clip(by)}]: "
                    f"no complaint by {_clip(by)} about {_clip(target)}"
                )
    ids: set[int] = set()
    for i, item in enumerate(data["scheduled"]):
        if item["id"] in ids:
            raise StateError(f"scheduled[{i}].id: {item['id']} appears twice")
        if item["id"] >= data["next_sched_id"]:
            raise StateError(
                f"scheduled[{i}].id: {item['id']} is not below next_sched_id "
                f"{data['next_sched_id']}"
            )
        ids.add(item["id"])


# -- journal events ----------------------------------------------------------------------------

_u = {"u": _word}
# where a guest's channel posts are counted (its nick, as windows keys are); "": its own key
_quota = _word_or_empty
_rename_now = _record({**_u, "n": _word}, {"q": _quota, "oq": _quota})
_rename_old = _record({"old": _word, "new": _word}, {"n": _word})  # journals of version 0.1


def _rename(v: Any, path: str) -> None:
    (_rename_now if "u" in v else _rename_old)(v, path)


_cmode_fields = _record({"r": _word, "m": _flag_mode, "on": _bool}, {"arg": _word_or_empty})


def _cmode(v: Any, path: str) -> None:
    """A channel mode set or unset; +l's limit in digits ("" and +k's "": none)."""
    _cmode_fields(v, path)
    arg = v.get("arg", "")
    if arg and v["m"] == "l" and not (arg.isascii() and arg.isdigit() and len(arg) <= 7):
        raise _fail(_child(path, "arg"), "+l's limit, 1 to 7 digits", arg)


_EVENTS: dict[str, Check] = {
    "post": _record({"p": _post}, {"q": _nullable(_quota)}),
    "redact": _record({"s": _count, "by": _word}, {"r": _word, "pk": _pair_key, "why": _text}),
    "ack": _record({**_u, "s": _count}, {"hold": _hold, "upto": _count}),
    "seen": _record(_u),
    "acct": _record(
        {"k": _word, "n": _word, "pw": _string, "ts": _time},
        {"s": _count, "since": _count, "ip": _text},
    ),
    "room": _record({"r": _word, "n": _word, "ts": _time}),
    "join": _record({**_u, "r": _word}, {"op": _bool, "s": _count}),
    "part": _record({**_u, "r": _word}),
    "op": _record({**_u, "r": _word, "on": _bool}),
    "topic": _record({"r": _word, "text": _text, "by": _word, "ts": _time}),
    "voice": _record({**_u, "r": _word, "on": _bool}),
    "cmode": _cmode,
    "clist": _record(
        {"r": _word, "k": _list_kind, "m": _word, "on": _bool}, {"by": _word_or_empty, "ts": _time}
    ),
    "invite": _record({**_u, "r": _word}),
    "mark": _record({**_u, "target": _word, "ts": _marker}),
    "set": _record({**_u, "k": _word, "v": _text}),
    "pw": _record({**_u, "pw": _string}),
    "cmp": _record({"target": _word, "by": _word}, {"why": _text, "g": _text}),  # g "": none
    "oper": _record({**_u, "n": _word}),
    "ban": _record({**_u, "until": _time}, {"why": _text, "n": _text, "ip": _text}),
    "unban": _record(_u),
    "unroom": _record({"r": _word}),
    "undm": _record({"pk": _pair_key}),
    "adopt": _record({"old": _word, "new": _word}, {"q": _nullable(_quota)}),
    "gone": _record(_u),
    "sched": _record({"item": _scheduled}),
    "unsched": _record({"id": _id}),
    "resched": _record({"id": _id, "due": _time}),
    "sid": _record({"id": _word}),
    "rename": _rename,
}
_post_quota = _record({"p": lambda _v, _path: None}, {"q": _nullable(_quota)})
# Events that act on an existing room (a post to an unknown room creates it).
_NEEDS_ROOM = ("join", "part", "op", "topic", "voice", "cmode", "clist", "invite")


def check_event(ev: Any, rooms: Container[str]) -> None:
    """Raise ``StateError`` unless ``ev`` is a usable journal event, given the existing rooms.

    Types not listed here pass (``Messenger._apply`` refuses the ones it does not know)."""
    if type(ev) is not dict:
        raise _fail("event", "an object", ev)
    t = ev.get("t")
    if type(t) is not str:
        raise _fail("event type 't'", "a string", t)
    if t == "post" and ev.get("q") is None and _plain_post(ev.get("p")):
        return  # the common event, certainly valid (the tight check of snapshot posts)
    check = _EVENTS.get(t)
    if check is None:
        return
    if t == "post" and _plain_post(ev.get("p")):
        check = _post_quota  # the common post, in one tight pass (what _post would accept)
    try:
        check(ev, "")
    except StateError as e:
        raise StateError(f"{t!r} event: {e}") from None
    if t in _NEEDS_ROOM and ev["r"] not in rooms:
        raise StateError(f"{t!r} event: unknown room {_clip(ev['r'])}")
