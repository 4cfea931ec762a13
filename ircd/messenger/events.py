"""The engine's durable events: one frozen class per event type.

Every durable change of the messenger is one of these. The engine applies it (its apply table,
``engine.APPLY``, maps each class to the function that changes the state) and queues its JSON
form for the journal. The JSON form is derived from the class: its type tag (``TAG``, the
journal's ``"t"``), its fields in order under their short journal keys (``KEYS``, where a key
differs from the field's name), nested values through a codec (``CODECS``), and the fields
left out while they hold their default (``OMIT``). ``to_json`` and ``from_json`` are generic,
and the journal format is the one of earlier versions: old journals load unchanged.

Optional keys of older journals read as the field's default (``None`` where the engine fills
in a value from the state it applies the event to, such as the current seq).
"""

# The KEYS, OMIT and CODECS literals of the event classes are class-level constants (declared
# ClassVar in Event), never changed.
# ruff: noqa: RUF012

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

from .holds import Hold, parse_hold
from .model import Post, RoomKey, Scheduled, UserKey

__all__ = ["EVENT_TYPES", "Event", "from_json", "to_json"]

Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]  # (to JSON, from JSON)


@dataclass(frozen=True, slots=True)
class Event:
    """Base of the event classes (it has no fields and is never emitted itself)."""

    TAG: ClassVar[str] = ""
    KEYS: ClassVar[Mapping[str, str]] = {}  # field name -> journal key, where they differ
    OMIT: ClassVar[frozenset[str]] = frozenset()  # fields not written while at their default
    CODECS: ClassVar[Mapping[str, Codec]] = {}  # field name -> (encode, decode)

    def to_json(self) -> dict[str, Any]:
        """The journal form: ``{"t": TAG, key: value, ...}``, a fresh dict (each event class
        gets its own, made from its definition below)."""
        raise TypeError(f"{type(self).__name__} is not an event type")


_POST: Codec = (Post.to_dict, Post.from_dict)
_SCHEDULED: Codec = (Scheduled.to_dict, Scheduled.from_dict)
_HOLD: Codec = (list, parse_hold)


# -- posts and delivery ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewPost(Event):
    """A post to a room or a private conversation. ``quota``: whose rate window a channel
    post counts in, when not its sender's key (a guest's nick)."""

    TAG = "post"
    KEYS = {"post": "p", "quota": "q"}
    OMIT = frozenset({"quota"})
    CODECS = {"post": _POST}
    post: Post
    quota: UserKey | None = None


@dataclass(frozen=True, slots=True)
class Ack(Event):
    """Every post relevant to ``user`` up to ``seq`` reached a client; with ``hold``, except
    the range (lo, hi] that stays unread (holds.py). A plain ack (no ``hold``) clears the
    holds, or with ``upto`` (the seq that client confirmed, when another device of the account
    moved the cursor further) only their parts up to it."""

    TAG = "ack"
    KEYS = {"user": "u", "seq": "s"}
    OMIT = frozenset({"hold", "upto"})
    CODECS = {"hold": _HOLD}
    user: UserKey
    seq: int
    hold: Hold | None = None
    upto: int | None = None


@dataclass(frozen=True, slots=True)
class Seen(Event):
    """The account has landed once: it gets its unread from now on."""

    TAG = "seen"
    KEYS = {"user": "u"}
    user: UserKey


@dataclass(frozen=True, slots=True)
class Marked(Event):
    """A read marker moved (MARKREAD)."""

    TAG = "mark"
    KEYS = {"user": "u", "time": "ts"}
    user: UserKey
    target: str
    time: float


@dataclass(frozen=True, slots=True)
class Redacted(Event):
    """The post ``seq`` was deleted (REDACT) by ``by``: it leaves the history of its room
    (``room``) or private conversation (``pair``: engine.pair_key), so backlog, unread and
    CHATHISTORY no longer have it."""

    TAG = "redact"
    KEYS = {"seq": "s", "room": "r", "pair": "pk", "reason": "why"}
    OMIT = frozenset({"room", "pair", "reason"})
    seq: int
    by: UserKey
    room: RoomKey | None = None
    pair: str | None = None
    reason: str = ""


# -- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountCreated(Event):
    """A new account. ``seq``: the seq when it was created (None in old journals: the seq
    then); ``since``: where its private history starts (None: at ``seq``)."""

    TAG = "acct"
    KEYS = {
        "key": "k",
        "name": "n",
        "password_hash": "pw",
        "created": "ts",
        "seq": "s",
        "address": "ip",
    }
    OMIT = frozenset({"seq", "address", "since"})
    key: UserKey
    name: str
    password_hash: str
    created: float
    seq: int | None = None
    address: str = ""
    since: int | None = None


@dataclass(frozen=True, slots=True)
class PasswordSet(Event):
    TAG = "pw"
    KEYS = {"user": "u", "password_hash": "pw"}
    user: UserKey
    password_hash: str


@dataclass(frozen=True, slots=True)
class Setting(Event):
    TAG = "set"
    KEYS = {"user": "u", "key": "k", "value": "v"}
    user: UserKey
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class OperSeen(Event):
    """The account authenticated as the server operator ``name`` (OPER)."""

    TAG = "oper"
    KEYS = {"user": "u", "name": "n"}
    user: UserKey
    name: str


@dataclass(frozen=True, slots=True)
class Adopted(Event):
    """The guest ``old`` became the account ``new``; ``quota``: the guest's rate window."""

    TAG = "adopt"
    KEYS = {"quota": "q"}
    OMIT = frozenset({"quota"})
    old: UserKey
    new: UserKey
    quota: UserKey | None = None


@dataclass(frozen=True, slots=True)
class Renamed(Event):
    """A guest changed its nick; its rate window moves from ``old_quota`` to ``quota``."""

    TAG = "rename"
    KEYS = {"user": "u", "name": "n", "quota": "q", "old_quota": "oq"}
    user: UserKey
    name: str
    quota: str = ""
    old_quota: str = ""


@dataclass(frozen=True, slots=True)
class LegacyRename(Event):
    """A guest rename of a 0.1 journal (guests were keyed by their nick). Never emitted;
    ``name`` (the new nick as written) is kept only to write the event back as it was."""

    TAG = "rename"
    KEYS = {"name": "n"}
    OMIT = frozenset({"name"})
    old: UserKey
    new: UserKey
    name: str = ""


@dataclass(frozen=True, slots=True)
class ServerId(Event):
    TAG = "sid"
    KEYS = {"server_id": "id"}
    server_id: str


# -- rooms -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomCreated(Event):
    """A room (journaled again when a guest's room becomes durable: it then goes last)."""

    TAG = "room"
    KEYS = {"room": "r", "name": "n", "created": "ts"}
    room: RoomKey
    name: str
    created: float


@dataclass(frozen=True, slots=True)
class RoomDropped(Event):
    TAG = "unroom"
    KEYS = {"room": "r"}
    room: RoomKey


@dataclass(frozen=True, slots=True)
class Join(Event):
    """``seq``: the seq when the user joined (None in old journals: the seq then)."""

    TAG = "join"
    KEYS = {"user": "u", "room": "r", "seq": "s"}
    OMIT = frozenset({"seq"})
    user: UserKey
    room: RoomKey
    op: bool = False
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Part(Event):
    TAG = "part"
    KEYS = {"user": "u", "room": "r"}
    user: UserKey
    room: RoomKey


@dataclass(frozen=True, slots=True)
class OpSet(Event):
    TAG = "op"
    KEYS = {"user": "u", "room": "r"}
    user: UserKey
    room: RoomKey
    on: bool


@dataclass(frozen=True, slots=True)
class TopicSet(Event):
    TAG = "topic"
    KEYS = {"room": "r", "time": "ts"}
    room: RoomKey
    text: str
    by: str
    time: float


@dataclass(frozen=True, slots=True)
class VoiceSet(Event):
    """+v/-v of a member (like OpSet)."""

    TAG = "voice"
    KEYS = {"user": "u", "room": "r"}
    user: UserKey
    room: RoomKey
    on: bool


@dataclass(frozen=True, slots=True)
class ModeSet(Event):
    """A channel mode set or unset: a flag out of "imnst", or "k" (``arg``: the key) or "l"
    (``arg``: the limit, in digits)."""

    TAG = "cmode"
    KEYS = {"room": "r", "mode": "m"}
    OMIT = frozenset({"arg"})
    room: RoomKey
    mode: str
    on: bool
    arg: str = ""


@dataclass(frozen=True, slots=True)
class ListSet(Event):
    """An entry added to (or removed from) a channel's list ``kind``: "b", "e" or "I"."""

    TAG = "clist"
    KEYS = {"room": "r", "kind": "k", "mask": "m", "time": "ts"}
    OMIT = frozenset({"by", "time"})
    room: RoomKey
    kind: str
    mask: str
    on: bool
    by: str = ""
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class Invited(Event):
    """``user`` may join ``room`` once despite +i, +k, +l and bans (INVITE)."""

    TAG = "invite"
    KEYS = {"user": "u", "room": "r"}
    user: UserKey
    room: RoomKey


@dataclass(frozen=True, slots=True)
class PrivateDropped(Event):
    """A private conversation whose two sides are gone (``pair``: engine.pair_key)."""

    TAG = "undm"
    KEYS = {"pair": "pk"}
    pair: str


# -- complaints and mutes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Complaint(Event):
    """``group``: the address the complaint counts once together with others from ("": it
    counts on its own)."""

    TAG = "cmp"
    KEYS = {"reason": "why", "group": "g"}
    OMIT = frozenset({"group"})
    by: UserKey
    target: UserKey
    reason: str = ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class Gone(Event):
    """The complaints about a departed guest go with it."""

    TAG = "gone"
    KEYS = {"user": "u"}
    user: UserKey


@dataclass(frozen=True, slots=True)
class Muted(Event):
    """``name``: the muted user's name then; ``ip``: guests from there are muted too."""

    TAG = "ban"
    KEYS = {"user": "u", "reason": "why", "name": "n"}
    OMIT = frozenset({"name", "ip"})
    user: UserKey
    until: float
    reason: str = ""
    name: str = ""
    ip: str = ""


@dataclass(frozen=True, slots=True)
class Unmuted(Event):
    TAG = "unban"
    KEYS = {"user": "u"}
    user: UserKey


# -- scheduled posts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduledAdded(Event):
    """A scheduled post (the engine keeps its own copy of ``item``)."""

    TAG = "sched"
    CODECS = {"item": _SCHEDULED}
    item: Scheduled


@dataclass(frozen=True, slots=True)
class ScheduledRemoved(Event):
    """Cancelled, fired or dropped."""

    TAG = "unsched"
    id: int


@dataclass(frozen=True, slots=True)
class Rescheduled(Event):
    TAG = "resched"
    id: int
    due: float


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
    out = []
    for f in fields(cls):
        codec = cls.CODECS.get(f.name)
        out.append(
            _Field(
                name=f.name,
                key=cls.KEYS.get(f.name, f.name),
                omit=f.default if f.name in cls.OMIT else _KEEP,
                encode=codec[0] if codec else None,
                decode=codec[1] if codec else None,
                required=f.default is MISSING,
            )
        )
    unknown = (set(cls.KEYS) | set(cls.OMIT) | set(cls.CODECS)) - {f.name for f in out}
    assert cls.TAG and not unknown, (cls.__name__, unknown)
    return tuple(out)


_SPECS: dict[type[Event], tuple[_Field, ...]] = {cls: _spec(cls) for cls in EVENT_TYPES}
# tag -> the classes with that tag: the first whose required keys an event has is the one
# (a "rename" with "u" is a Renamed, one without a 0.1 journal's LegacyRename)
_BY_TAG: dict[str, list[tuple[type[Event], frozenset[str]]]] = {}
for _cls, _fs in _SPECS.items():
    _BY_TAG.setdefault(_cls.TAG, []).append((_cls, frozenset(f.key for f in _fs if f.required)))


def _encoder(cls: type[Event]) -> Callable[[Event], dict[str, Any]]:
    """The JSON form of ``cls``, as one straight-line function (the post path is hot)."""
    env: dict[str, Any] = {"_KEEP": _KEEP}
    lines = [f"def encode(ev):\n    d = {{'t': {cls.TAG!r}}}"]
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


for _cls in EVENT_TYPES:
    setattr(_cls, "to_json", _encoder(_cls))  # noqa: B010 (a method made from the class)


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
