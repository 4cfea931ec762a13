"""History: UNREAD (replay.py), draft/chathistory (CHATHISTORY) and
draft/read-marker (MARKREAD)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...messenger.durations import parse_iso_time
from ...messenger.errors import InvalidDuration, NoSuchRoom, NotMember
from ...messenger.model import Post
from ...wire import Message, casefold, format_line, is_channel_name, is_valid_nick, parse_uint
from ..hub import Hub
from ..lines import batch
from ..registry import command
from ..replay import history_line, send_unread
from ..session import Session
from ..timefmt import iso_time


@command("UNREAD")
def unread_cmd(hub: Hub, s: Session, msg: Message) -> None:
    send_unread(hub, s, from_service=False)


# ---------------------------------------------------------------------- CHATHISTORY


class _BadRef(Exception):
    pass


def _ref_key(ref: str) -> tuple[int, float]:
    """A message reference -> (kind, value): (0, seq) for msgid=, (1, time) for timestamp=."""
    if ref.startswith("msgid="):
        mid = ref[6:]
        seq = parse_uint(mid.rsplit("-", 1)[-1])
        if seq is None:
            raise _BadRef(ref)
        return 0, seq
    if ref.startswith("timestamp="):
        try:
            return 1, round(parse_iso_time(ref[10:]) * 1000)  # compared in whole milliseconds
        except InvalidDuration:
            raise _BadRef(ref) from None
    raise _BadRef(ref)


def _index(posts: Sequence[Post], ref: tuple[int, float], after: bool) -> int:
    """Index of the first post strictly after (after=True) / not before (after=False) ref."""
    kind, value = ref
    lo, hi = 0, len(posts)
    while lo < hi:
        mid = (lo + hi) // 2
        p = posts[mid]
        v = p.seq if kind == 0 else round(p.time * 1000)
        if v < value or (after and v == value):
            lo = mid + 1
        else:
            hi = mid
    return lo


def select(posts: Sequence[Post], sub: str, refs: list[str], limit: int) -> list[Post]:
    """The posts a CHATHISTORY subcommand asks for, found by bisecting the stored history
    (a ``History``: indexable at any depth) and slicing only what is returned: no copy of the
    whole history per request."""
    seq = posts
    n = len(seq)
    if sub == "LATEST":
        if refs[0] == "*":
            return list(seq[max(0, n - limit) :]) if limit else []
        start = _index(seq, _ref_key(refs[0]), after=True)
        return list(seq[max(start, n - limit) :])
    if sub == "BEFORE":
        end = _index(seq, _ref_key(refs[0]), after=False)
        return list(seq[max(0, end - limit) : end])
    if sub == "AFTER":
        start = _index(seq, _ref_key(refs[0]), after=True)
        return list(seq[start : start + limit])
    if sub == "AROUND":
        pivot = _index(seq, _ref_key(refs[0]), after=False)
        before = limit // 2
        start = max(0, pivot - before)
        return list(seq[start : start + limit])
    if sub == "BETWEEN":
        a, b = _ref_key(refs[0]), _ref_key(refs[1])
        ia_after = _index(seq, a, after=True)
        ib_after = _index(seq, b, after=True)
        ia_before = _index(seq, a, after=False)
        ib_before = _index(seq, b, after=False)
        forward = (a[1] <= b[1]) if a[0] == b[0] else ia_before <= ib_before
        if forward:
            return list(seq[ia_after : min(ib_before, ia_after + limit)])
        if not limit or ia_before <= ib_after:
            return []
        return list(seq[max(ib_after, ia_before - limit) : ia_before])
    raise _BadRef(sub)


CH = "draft/chathistory"
RM = "draft/read-marker"
SUBCOMMANDS = {"LATEST": 1, "BEFORE": 1, "AFTER": 1, "AROUND": 1, "BETWEEN": 2, "TARGETS": 2}


@command("CHATHISTORY", min_params=1)
def chathistory(hub: Hub, s: Session, msg: Message) -> None:
    sub = msg.params[0].upper()
    if sub not in SUBCOMMANDS:
        hub.fail(
            s, "CHATHISTORY", "INVALID_PARAMS", msg.params[0], text="Unknown subcommand", feature=CH
        )
        return
    nrefs = SUBCOMMANDS[sub]
    if sub == "TARGETS":
        args = msg.params[1:]
        if len(args) < 3:
            hub.fail(
                s, "CHATHISTORY", "NEED_MORE_PARAMS", sub, text="Missing parameters", feature=CH
            )
            return
        _targets(hub, s, args[0], args[1], args[2])
        s.pull_deadline = 0.0  # it lists its conversations: it pulls them itself
        return
    args = msg.params[1:]
    if len(args) < 1 + nrefs + 1:
        hub.fail(s, "CHATHISTORY", "NEED_MORE_PARAMS", sub, text="Missing parameters", feature=CH)
        return
    target, refs, limit_s = args[0], list(args[1 : 1 + nrefs]), args[1 + nrefs]
    limit_n = parse_uint(limit_s)
    if limit_n is None:
        hub.fail(s, "CHATHISTORY", "INVALID_PARAMS", sub, limit_s, text="Invalid limit", feature=CH)
        return
    limit = min(limit_n, hub.config.chat.chathistory_max)
    private = not target.startswith("#")
    try:
        if private:
            resolved = hub.resolve_user(target)
            if resolved is None:
                raise NoSuchRoom(target)
            key = resolved[0]
            posts = hub.messenger.history(s.user_key, key, private=True)
            name = target  # the batch names the conversation as the client did (irctest)
        else:
            key = casefold(target)
            posts = hub.messenger.history(s.user_key, key, private=False)
            room = hub.messenger.rooms[key]
            name = room.name
    except (NoSuchRoom, NotMember):
        hub.fail(s, "CHATHISTORY", "INVALID_TARGET", sub, target, text="No such target", feature=CH)
        return
    try:
        chosen = select(posts, sub, refs, limit)
    except _BadRef as e:
        hub.fail(
            s,
            "CHATHISTORY",
            "INVALID_MSGREFTYPE",
            sub,
            str(e),
            text="Invalid reference",
            feature=CH,
        )
        return
    s.pulled.add(key)
    send_history_batch(hub, s, name, chosen, private)


def send_history_batch(
    hub: Hub, s: Session, target: str, posts: Sequence[Post], private: bool
) -> None:
    lines: Iterable[str] = (history_line(hub, s, p) for p in posts)
    if "batch" in s.caps:
        lines = batch(hub.name, hub.batch_id(), "chathistory", (target,), lines)
    for line in lines:
        s.send(line)


def _targets(hub: Hub, s: Session, ref1: str, ref2: str, limit_s: str) -> None:
    try:
        k1, k2 = _ref_key(ref1), _ref_key(ref2)
    except _BadRef as e:
        hub.fail(
            s, "CHATHISTORY", "INVALID_PARAMS", "TARGETS", str(e), text="Use timestamp=", feature=CH
        )
        return
    limit_n = parse_uint(limit_s)
    if k1[0] != 1 or k2[0] != 1 or limit_n is None:
        hub.fail(
            s, "CHATHISTORY", "INVALID_PARAMS", "TARGETS", text="Use timestamp= refs", feature=CH
        )
        return
    # ircv3.net chathistory, TARGETS: the channels and nicks ordered by the time of their
    # latest message, which must lie between the two timestamps (both excluded): "they match
    # against the latest message stored for the target (i.e. a target is not returned if its
    # latest message is outside of the selection parameters, even if it has other messages
    # inside them)", with BETWEEN's semantics otherwise (ircv3-specifications #565): the
    # ``limit`` counts from the first timestamp, forwards or backwards, and the batch is in
    # ascending time order either way.
    start, end = k1[1], k2[1]  # whole milliseconds
    lo, hi = min(start, end), max(start, end)
    limit = min(limit_n, hub.config.chat.chathistory_max)
    found: list[tuple[int, float, str]] = []
    for target, private, posts in hub.messenger.conversations(s.user_key):
        if not posts:
            continue
        latest = posts[-1]
        ms = round(latest.time * 1000)
        if not lo < ms < hi:
            continue
        if private:
            name = hub.display_nick(target, _peer_name(latest, target))
        else:
            name = hub.messenger.rooms[target].name
        found.append((ms, latest.time, name))
    found.sort()
    found = found[:limit] if start <= end else found[max(0, len(found) - limit) :]
    lines: Iterable[str] = (
        format_line("CHATHISTORY", ("TARGETS", name, iso_time(ts)), hub.name)
        for _, ts, name in found
    )
    if "batch" in s.caps:
        lines = batch(hub.name, hub.batch_id(), "draft/chathistory-targets", (), lines)
    for line in lines:
        s.send(line)


def _peer_name(p: Post, peer_key: str) -> str:
    return p.sender_name if p.sender == peer_key else (p.to_name or peer_key)


# ---------------------------------------------------------------------- MARKREAD


@command("MARKREAD")
def markread(hub: Hub, s: Session, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        # ircv3.net read-marker: errors are standard replies, "FAIL MARKREAD NEED_MORE_PARAMS"
        text = "Usage: MARKREAD <target> [timestamp=...]"
        hub.fail(s, "MARKREAD", "NEED_MORE_PARAMS", text=text, feature=RM)
        return
    target = msg.params[0]
    if not (is_channel_name(target) or is_valid_nick(target)):
        # read-marker: the target is one buffer, a channel or a nick ("MARKREAD :a b" is not)
        hub.fail(s, "MARKREAD", "INVALID_PARAMS", target, text="Not a channel or nick", feature=RM)
        return
    key = casefold(target)
    if len(msg.params) < 2:
        marker = hub.messenger.read_marker(s.user_key, key)
        value = f"timestamp={iso_time(marker)}" if marker is not None else "*"
        s.send(format_line("MARKREAD", (target, value), hub.name))
        return
    ref = msg.params[1]
    if not ref.startswith("timestamp="):
        hub.fail(s, "MARKREAD", "INVALID_PARAMS", target, ref, text="Use timestamp=", feature=RM)
        return
    try:
        ts = parse_iso_time(ref[10:])
    except InvalidDuration:
        hub.fail(s, "MARKREAD", "INVALID_PARAMS", target, ref, text="Invalid timestamp", feature=RM)
        return
    before = hub.messenger.read_marker(s.user_key, key)
    try:
        stored = hub.messenger.mark_read(s.user_key, key, ts, private=not is_channel_name(target))
    except (NoSuchRoom, NotMember):  # a channel's marker is kept while one is in it
        hub.fail(
            s, "MARKREAD", "INVALID_PARAMS", target, text="You're not on that channel", feature=RM
        )
        return
    line = format_line("MARKREAD", (target, f"timestamp={iso_time(stored)}"), hub.name)
    s.send(line)
    if stored == before:
        return
    # read-marker ("Command flows"): after the last read timestamp of a target changes, the
    # server sends it to all the clients of the user (the account's other devices)
    for device in hub.sessions_of(s.user_key):
        if device is not s and RM in device.caps:
            device.send(line)
