"""The engine's durable events: one frozen class per event type.

Every durable change of the messenger is one of these. The engine applies it (its apply table,
``engine.APPLY``, maps each class to the function that changes the state) and queues its JSON
form for the journal. The JSON form is derived from the class and what ``_journal`` records
right below it: its type tag (``TAGS[cls]``, the journal's ``"t"``), its fields in order under
their short journal keys (``keys``, where a key differs from the field's name), nested values
through a codec (``codecs``), and the fields left out while they hold their default (``omit``).
``to_json`` and ``from_json`` are generic, and the journal format is the one of earlier
versions: old journals load unchanged.

Optional keys of older journals read as the field's default (``None`` where the engine fills
in a value from the state it applies the event to, such as the current seq).

These are kept beside the classes, not in them, so that the module compiles with mypyc
(scripts/compile.sh): a compiled dataclass takes a class attribute for a field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, NamedTuple

from .holds import Hold, parse_hold
from .model import Post, RoomKey, Scheduled, UserKey

__all__ = ["EVENT_TYPES", "TAGS", "Event", "from_json", "to_json"]

Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]  # (to JSON, from JSON)


@dataclass(frozen=True, slots=True)
class Event:
    """Base of the event classes (it has no fields and is never emitted itself)."""

    def to_json(self) -> dict[str, Any]:
        """The journal form: ``{"t": tag, key: value, ...}``, a fresh dict (made by a function
        generated for each event class from its definition, ``_encoder``)."""
        enc = _ENCODERS.get(type(self))
        if enc is None:
            raise TypeError(f"{type(self).__name__} is not an event type")
        return enc(self)


class _Journal(NamedTuple):
    tag: str
    keys: Mapping[str, str]  # field name -> journal key, where they differ
    omit: frozenset[str]  # fields not written while at their default
    codecs: Mapping[str, Codec]  # field name -> (encode, decode)


_JOURNAL: dict[type[Event], _Journal] = {}
TAGS: dict[type[Event], str] = {}  # event class -> its journal tag ("t")


def _journal(
    cls: type[Event],
    tag: str,
    keys: Mapping[str, str] | None = None,
    omit: Iterable[str] = (),
    codecs: Mapping[str, Codec] | None = None,
) -> None:
    """How ``cls`` is written in the journal (see the module's docstring)."""
    _JOURNAL[cls] = _Journal(tag, keys or {}, frozenset(omit), codecs or {})
    TAGS[cls] = tag


_POST: Codec = (Post.to_dict, Post.from_dict)
_SCHEDULED: Codec = (Scheduled.to_dict, Scheduled.from_dict)
_HOLD: Codec = (list, parse_hold)


# -- posts and delivery ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewPost(Event):
    """A post to a room or a private conversation. ``quota``: whose rate window a channel
    post counts in, when not its sender's key (a guest's nick)."""

    post: Post
    quota: UserKey | None = None

    def to_json(self) -> dict[str, Any]:
        # as _encoder makes it (a test compares them): written out for the compiled module,
        # where the generated one would run interpreted
        d: dict[str, Any] = {"t": "post", "p": self.post.to_dict()}
        if self.quota is not None:
            d["q"] = self.quota
        return d


_journal(NewPost, "post", keys={"post": "p", "quota": "q"}, omit={"quota"}, codecs={"post": _POST})


@dataclass(frozen=True, slots=True)
class Ack(Event):
    """Every post relevant to ``user`` up to ``seq`` reached a client; with ``hold``, except
    the range (lo, hi] that stays unread (holds.py). A plain ack (no ``hold``) clears the
    holds, or with ``upto`` (the seq that client confirmed, when another device of the account
    moved the cursor further) only their parts up to it."""

    user: UserKey
    seq: int
    hold: Hold | None = None
    upto: int | None = None


_journal(Ack, "ack", keys={"user": "u", "seq": "s"}, omit={"hold", "upto"}, codecs={"hold": _HOLD})


@dataclass(frozen=True, slots=True)
class Seen(Event):
    """The account has landed once: it gets its unread from now on."""

    user: UserKey


_journal(Seen, "seen", keys={"user": "u"})


@dataclass(frozen=True, slots=True)
class Marked(Event):
    """A read marker moved (MARKREAD)."""

    user: UserKey
    target: str
    time: float


_journal(Marked, "mark", keys={"user": "u", "time": "ts"})


@dataclass(frozen=True, slots=True)
class Redacted(Event):
    """The post ``seq`` was deleted (REDACT) by ``by``: it leaves the history of its room
    (``room``) or private conversation (``pair``: engine.pair_key), so backlog, unread and
    CHATHISTORY no longer have it."""

    seq: int
    by: UserKey
    room: RoomKey | None = None
    pair: str | None = None
    reason: str = ""


_journal(
    Redacted,
    "redact",
    keys={"seq": "s", "room": "r", "pair": "pk", "reason": "why"},
    omit={"room", "pair", "reason"},
)


# -- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountCreated(Event):
    """A new account. ``seq``: the seq when it was created (None in old journals: the seq
    then); ``since``: where its private history starts (None: at ``seq``)."""

    key: UserKey
    name: str
    password_hash: str
    created: float
    seq: int | None = None
    address: str = ""
    since: int | None = None


_journal(
    AccountCreated,
    "acct",
    keys={
        "key": "k",
        "name": "n",
        "password_hash": "pw",
        "created": "ts",
        "seq": "s",
        "address": "ip",
    },
    omit={"seq", "address", "since"},
)


@dataclass(frozen=True, slots=True)
class PasswordSet(Event):
    user: UserKey
    password_hash: str


_journal(PasswordSet, "pw", keys={"user": "u", "password_hash": "pw"})


@dataclass(frozen=True, slots=True)
class Setting(Event):
    user: UserKey
    key: str
    value: str


_journal(Setting, "set", keys={"user": "u", "key": "k", "value": "v"})


@dataclass(frozen=True, slots=True)
class OperSeen(Event):
    """The account authenticated as the server operator ``name`` (OPER)."""

    user: UserKey
    name: str


_journal(OperSeen, "oper", keys={"user": "u", "name": "n"})


@dataclass(frozen=True, slots=True)
class Adopted(Event):
    """The guest ``old`` became the account ``new``; ``quota``: the guest's rate window."""

    old: UserKey
    new: UserKey
    quota: UserKey | None = None


_journal(Adopted, "adopt", keys={"quota": "q"}, omit={"quota"})


@dataclass(frozen=True, slots=True)
class Renamed(Event):
    """A guest changed its nick; its rate window moves from ``old_quota`` to ``quota``."""

    user: UserKey
    name: str
    quota: str = ""
    old_quota: str = ""


_journal(Renamed, "rename", keys={"user": "u", "name": "n", "quota": "q", "old_quota": "oq"})


@dataclass(frozen=True, slots=True)
class LegacyRename(Event):
    """A guest rename of a 0.1 journal (guests were keyed by their nick). Never emitted;
    ``name`` (the new nick as written) is kept only to write the event back as it was."""

    old: UserKey
    new: UserKey
    name: str = ""


_journal(LegacyRename, "rename", keys={"name": "n"}, omit={"name"})


@dataclass(frozen=True, slots=True)
class ServerId(Event):
    server_id: str


_journal(ServerId, "sid", keys={"server_id": "id"})


# -- rooms -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomCreated(Event):
    """A room (journaled again when a guest's room becomes durable: it then goes last)."""

    room: RoomKey
    name: str
    created: float


_journal(RoomCreated, "room", keys={"room": "r", "name": "n", "created": "ts"})


@dataclass(frozen=True, slots=True)
class RoomDropped(Event):
    room: RoomKey


_journal(RoomDropped, "unroom", keys={"room": "r"})


@dataclass(frozen=True, slots=True)
class Join(Event):
    """``seq``: the seq when the user joined (None in old journals: the seq then)."""

    user: UserKey
    room: RoomKey
    op: bool = False
    seq: int | None = None


_journal(Join, "join", keys={"user": "u", "room": "r", "seq": "s"}, omit={"seq"})


@dataclass(frozen=True, slots=True)
class Part(Event):
    user: UserKey
    room: RoomKey


_journal(Part, "part", keys={"user": "u", "room": "r"})


@dataclass(frozen=True, slots=True)
class OpSet(Event):
    user: UserKey
    room: RoomKey
    on: bool


_journal(OpSet, "op", keys={"user": "u", "room": "r"})


@dataclass(frozen=True, slots=True)
class TopicSet(Event):
    room: RoomKey
    text: str
    by: str
    time: float


_journal(TopicSet, "topic", keys={"room": "r", "time": "ts"})


@dataclass(frozen=True, slots=True)
class VoiceSet(Event):
    """+v/-v of a member (like OpSet)."""

    user: UserKey
    room: RoomKey
    on: bool


_journal(VoiceSet, "voice", keys={"user": "u", "room": "r"})


@dataclass(frozen=True, slots=True)
class ModeSet(Event):
    """A channel mode set or unset: a flag out of "imnst", or "k" (``arg``: the key) or "l"
    (``arg``: the limit, in digits)."""

    room: RoomKey
    mode: str
    on: bool
    arg: str = ""


_journal(ModeSet, "cmode", keys={"room": "r", "mode": "m"}, omit={"arg"})


@dataclass(frozen=True, slots=True)
class ListSet(Event):
    """An entry added to (or removed from) a channel's list ``kind``: "b", "e" or "I"."""

    room: RoomKey
    kind: str
    mask: str
    on: bool
    by: str = ""
    time: float = 0.0


_journal(
    ListSet,
    "clist",
    keys={"room": "r", "kind": "k", "mask": "m", "time": "ts"},
    omit={"by", "time"},
)


@dataclass(frozen=True, slots=True)
class Invited(Event):
    """``user`` may join ``room`` once despite +i, +k, +l and bans (INVITE)."""

    user: UserKey
    room: RoomKey


_journal(Invited, "invite", keys={"user": "u", "room": "r"})


@dataclass(frozen=True, slots=True)
class PrivateDropped(Event):
    """A private conversation whose two sides are gone (``pair``: engine.pair_key)."""

    pair: str


_journal(PrivateDropped, "undm", keys={"pair": "pk"})


# -- complaints and mutes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Complaint(Event):
    """``group``: the address the complaint counts once together with others from ("": it
    counts on its own)."""

    by: UserKey
    target: UserKey
    reason: str = ""
    group: str = ""


_journal(Complaint, "cmp", keys={"reason": "why", "group": "g"}, omit={"group"})


@dataclass(frozen=True, slots=True)
class Gone(Event):
    """The complaints about a departed guest go with it."""

    user: UserKey


_journal(Gone, "gone", keys={"user": "u"})


@dataclass(frozen=True, slots=True)
class Muted(Event):
    """``name``: the muted user's name then; ``ip``: guests from there are muted too."""

    user: UserKey
    until: float
    reason: str = ""
    name: str = ""
    ip: str = ""


_journal(Muted, "ban", keys={"user": "u", "reason": "why", "name": "n"}, omit={"name", "ip"})


@dataclass(frozen=True, slots=True)
class Unmuted(Event):
    user: UserKey


_journal(Unmuted, "unban", keys={"user": "u"})


# -- scheduled posts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduledAdded(Event):
    """A scheduled post (the engine keeps its own copy of ``item``)."""

    item: Scheduled


_journal(ScheduledAdded, "sched", codecs={"item": _SCHEDULED})


@dataclass(frozen=True, slots=True)
class ScheduledRemoved(Event):
    """Cancelled, fired or dropped."""

    id: int


_journal(ScheduledRemoved, "unsched")


@dataclass(frozen=True, slots=True)
class Rescheduled(Event):
    id: int
    due: float


_journal(Rescheduled, "resched")


EVENT_TYPES: tuple[type[Event], ...] = (
    NewPost,
    Redacted,
    Ack,
    Seen,
    Marked,
    AccountCreated,
    PasswordSet,
    Setting,
    OperSeen,
    Adopted,
    Renamed,
    LegacyRename,
    ServerId,
    RoomCreated,
    RoomDropped,
    Join,
    Part,
    OpSet,
    TopicSet,
    VoiceSet,
    ModeSet,
    ListSet,
    Invited,
    PrivateDropped,
    Complaint,
    Gone,
    Muted,
    Unmuted,
    ScheduledAdded,
    ScheduledRemoved,
    Rescheduled,
)


# -- the JSON form -----------------------------------------------------------------------------

_KEEP: Any = object()  # "always written"


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    key: str
    omit: Any  # the value it is left out at, or _KEEP
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any] | None
    required: bool


def _spec(cls: type[Event]) -> tuple[_Field, ...]:
    j = _JOURNAL[cls]
    out = []
    for f in fields(cls):
        codec = j.codecs.get(f.name)
        out.append(
            _Field(
                name=f.name,
                key=j.keys.get(f.name, f.name),
                omit=f.default if f.name in j.omit else _KEEP,
                encode=codec[0] if codec else None,
                decode=codec[1] if codec else None,
                required=f.default is MISSING,
            )
        )
    unknown = (set(j.keys) | set(j.omit) | set(j.codecs)) - {f.name for f in out}
    assert j.tag and not unknown, (cls.__name__, unknown)
    return tuple(out)


_SPECS: dict[type[Event], tuple[_Field, ...]] = {cls: _spec(cls) for cls in EVENT_TYPES}
# tag -> the classes with that tag: the first whose required keys an event has is the one
# (a "rename" with "u" is a Renamed, one without a 0.1 journal's LegacyRename)
_BY_TAG: dict[str, list[tuple[type[Event], frozenset[str]]]] = {}
for _cls, _fs in _SPECS.items():
    _BY_TAG.setdefault(TAGS[_cls], []).append((_cls, frozenset(f.key for f in _fs if f.required)))


def _encoder(cls: type[Event]) -> Callable[[Event], dict[str, Any]]:
    """The JSON form of ``cls``, as one straight-line function (the post path is hot)."""
    env: dict[str, Any] = {"_KEEP": _KEEP}
    lines = [f"def encode(ev):\n    d = {{'t': {TAGS[cls]!r}}}"]
    for i, f in enumerate(_SPECS[cls]):
        value = f"ev.{f.name}"
        if f.encode is not None:
            env[f"enc{i}"] = f.encode
        if f.omit is not _KEEP:
            env[f"omit{i}"] = f.omit
            lines.append(f"    v = {value}")
            lines.append(f"    if v != omit{i}:")
            lines.append(f"        d[{f.key!r}] = {f'enc{i}(v)' if f.encode else 'v'}")
        else:
            lines.append(f"    d[{f.key!r}] = {f'enc{i}({value})' if f.encode else value}")
    lines.append("    return d")
    exec("\n".join(lines), env)  # generated from the class definitions above
    fn: Callable[[Event], dict[str, Any]] = env["encode"]
    return fn


# Event.to_json looks the class up here. Interpreted, each class also gets its encoder as its
# own to_json (one call less); a compiled class (scripts/compile.sh) cannot take a new method,
# and keeps Event.to_json. A class that writes its own (NewPost, the hot one) keeps that.
_ENCODERS: dict[type[Event], Callable[[Event], dict[str, Any]]] = {}
for _cls in EVENT_TYPES:
    _ENCODERS[_cls] = _enc = _encoder(_cls)
    if "to_json" not in vars(_cls):
        with contextlib.suppress(TypeError, AttributeError):  # raised compiled
            setattr(_cls, "to_json", _enc)  # noqa: B010 (a method made from the class)


def to_json(ev: Event) -> dict[str, Any]:
    """The journal form of ``ev`` (``ev.to_json()``)."""
    return ev.to_json()


def from_json(d: Mapping[str, Any]) -> Event:
    """The event of a journal entry. KeyError for a missing key, ValueError for an unknown
    type or a value a codec refuses (``validate.check_event`` says what is wrong first)."""
    t = d["t"]
    classes = _BY_TAG.get(t) if type(t) is str else None
    if classes is None:
        raise ValueError(f"unknown event type {t!r}")
    cls = next((c for c, req in classes if req <= d.keys()), classes[0][0])
    kwargs: dict[str, Any] = {}
    for f in _SPECS[cls]:
        if f.key in d:
            v = d[f.key]
            kwargs[f.name] = v if f.decode is None else f.decode(v)
        elif f.required:
            raise KeyError(f.key)
    return cls(**kwargs)
