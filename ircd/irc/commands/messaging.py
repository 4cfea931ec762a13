"""PRIVMSG, NOTICE and TAGMSG to channels and nicks (private 1-to-1)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from functools import partial

from ...messenger.errors import (
    Banned,
    CannotSend,
    Flooding,
    NoSuchRoom,
    NoSuchUser,
    NotMember,
    RateLimited,
)
from ...messenger.model import Post
from ...wire import MAX_BODY, Message, Numeric, casefold, format_line
from ..caps import SERVICE_KEY
from ..fanout import private_ends, relay_private, relay_room
from ..hub import Hub
from ..lines import MAX_CONTENT, add_tag, post_line, safe_line
from ..registry import command, fast_path, fast_run
from ..relayed import tag_elsewhere
from ..replies import reply_error
from ..service import service_command
from ..session import Session
from ..timefmt import human_time, iso_time

MAX_TARGETS = 4


def client_tags(msg: Message) -> dict[str, str] | None:
    """Client-only tags (``+name``) to relay; server tags from clients are dropped."""
    if not msg.tags:
        return None
    out = {k: v for k, v in msg.tags.items() if k.startswith("+")}
    return out or None


def _with_bot(s: Session, tags: dict[str, str] | None) -> dict[str, str] | None:
    """A message from a bot (user mode +B) carries the ``bot`` tag (ircv3.net draft bot-mode:
    "the server SHOULD add the bot tag to PRIVMSG, NOTICE and TAGMSG messages sent by the
    bot"); it goes to clients with message-tags, live and in history, as the post's tags do."""
    if not s.bot:
        return tags
    return {**tags, "bot": ""} if tags else {"bot": ""}


def _fits(s: Session, kind: str, target: str, text: str, mask: str | None = None) -> bool:
    """Would the relayed line ``:mask KIND target :text`` fit in 512 bytes, CRLF included and
    tags apart (modern.ircdocs.horse, "Message format")?"""
    # ":" mask " " kind " " target " :" text "\r\n": 7 bytes besides the four parts
    line = f"{s.mask if mask is None else mask}{kind}{target}{text}"
    return (len(line) if line.isascii() else len(line.encode())) + 7 <= MAX_BODY


def _ban_text(until: float, reason: str) -> str:
    why = f" ({reason})" if reason else ""
    return f"You are muted until {human_time(until)}{why}"


@command("PRIVMSG", min_params=1)
def privmsg(hub: Hub, s: Session, msg: Message) -> None:
    _message(hub, s, msg, "PRIVMSG")


@command("NOTICE")  # not even 461: a NOTICE is never answered (see _message)
def notice(hub: Hub, s: Session, msg: Message) -> None:
    _message(hub, s, msg, "NOTICE")


def _message(hub: Hub, s: Session, msg: Message, kind: str) -> None:
    # NOTICE never gets an error reply: "automatic replies MUST NEVER be sent in response to
    # a NOTICE message. This rule applies to servers too - they MUST NOT send any error reply
    # back to the client on receipt of a notice" (RFC 2812 3.3.2). That includes the
    # messenger's refusals (mute, rate limit, private flood): a refused NOTICE is dropped.
    quiet = kind == "NOTICE"
    if len(msg.params) < 2 or not msg.params[0] or not msg.params[1]:
        if not quiet:
            if len(msg.params) < 2 and msg.params[0].startswith(":"):
                hub.reply(s, Numeric.ERR_NORECIPIENT, f"No recipient given ({kind})")
            else:
                hub.reply(s, Numeric.ERR_NOTEXTTOSEND, "No text to send")
        return
    text = msg.params[1]
    tags = _with_bot(s, client_tags(msg))
    targets = [t for t in msg.params[0].split(",") if t][:MAX_TARGETS]
    for target in targets:
        _to_target(hub, s, target, text, kind, tags)


@fast_path("PRIVMSG")
def privmsg_fast(hub: Hub, s: Session, target: str, text: str) -> None:
    """``PRIVMSG target :text`` (one target, no tags): what ``privmsg`` does with it."""
    _to_target(hub, s, target, text, "PRIVMSG", {"bot": ""} if s.bot else None)


@fast_path("NOTICE")
def notice_fast(hub: Hub, s: Session, target: str, text: str) -> None:
    _to_target(hub, s, target, text, "NOTICE", {"bot": ""} if s.bot else None)


@fast_run("PRIVMSG")
def privmsg_run(hub: Hub, s: Session, target: str, texts: Iterator[str]) -> bool:
    """Consecutive ``PRIVMSG target :text`` lines of one read (``dispatch.feed_lines``): what
    ``privmsg_fast`` does with each in turn, in one engine call when the target is a nick or
    a channel."""
    return _nick_run(hub, s, target, texts, "PRIVMSG", {"bot": ""} if s.bot else None)


@fast_run("NOTICE")
def notice_run(hub: Hub, s: Session, target: str, texts: Iterator[str]) -> bool:
    return _nick_run(hub, s, target, texts, "NOTICE", {"bot": ""} if s.bot else None)


def _to_target(
    hub: Hub, s: Session, target: str, text: str, kind: str, tags: dict[str, str] | None
) -> None:
    if target[0] == "#":
        refusal = _to_room(hub, s, target, text, kind, tags)
    elif target[0] in STATUS_PREFIXES and target[1:2] == "#":
        _to_status(hub, s, target[0], target[1:], text, kind, tags)  # (never answers NOTICE)
        refusal = None
    else:
        refusal = _to_nick(hub, s, target, text, kind, tags)
    if refusal is not None and kind != "NOTICE":
        refusal()


Refusal = Callable[[], None]  # the error reply to a message that was not sent


def _to_room(
    hub: Hub, s: Session, name: str, text: str, kind: str, tags: dict[str, str] | None
) -> Refusal | None:
    m = hub.messenger
    key = casefold(name)
    room_ = m.room(key)
    if not _fits(s, kind, room_.name if room_ is not None else name, text):
        return lambda: hub.reply(s, Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
    try:
        post = m.post_room(s.user_key, s.nick, s.mask, key, text, kind, tags)
    except (NoSuchRoom, NotMember, Banned, CannotSend, RateLimited) as e:
        return _room_refusal(hub, s, name, kind, e)
    room = m.rooms[key]
    relay_room(hub, post, room, s)
    return None


def _room_refusal(
    hub: Hub,
    s: Session,
    name: str,
    kind: str,
    e: NoSuchRoom | NotMember | Banned | CannotSend | RateLimited,
) -> Refusal:
    """The reply to a channel message the engine refused with ``e``."""
    if isinstance(e, NoSuchRoom):
        return lambda: reply_error(hub, s, e, name)
    if isinstance(e, NotMember):
        why = "You're not on that channel (JOIN it)"
        return lambda: hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, why)
    if isinstance(e, Banned):
        muted = f"Message not sent: {_ban_text(e.until, e.reason)}"
        return lambda: hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, muted)
    if isinstance(e, CannotSend):
        why_not = f"Message not sent: {e}"
        return lambda: hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, why_not)
    per = _period(e.period)
    limited = (
        f"Message not sent. Rate limit: {e.limit} messages per {per} in channels; "
        f"resets at {human_time(e.reset_at)}"
    )
    if "standard-replies" in s.caps:
        reset = str(int(e.reset_at))
        return lambda: hub.fail(s, kind, "RATE_LIMITED", name, reset, text=limited)
    return lambda: hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, limited)


def _room_run(
    hub: Hub, s: Session, name: str, texts: Iterator[str], kind: str, tags: dict[str, str] | None
) -> bool:
    """``_to_room`` for each of ``texts`` in turn: the room and the length limit resolved once,
    the posts made by one engine call (``room_posts``), each relayed as it is made
    (``relay_room``), each refusal answered per line."""
    m = hub.messenger
    key = casefold(name)
    room = m.room(key)
    # _fits, with the fixed part of the relayed line counted once
    fixed = f"{s.mask}{kind}{room.name if room is not None else name}"
    left = MAX_BODY - 7 - (len(fixed) if fixed.isascii() else len(fixed.encode()))
    quiet = kind == "NOTICE"
    posts = m.room_posts(s.user_key, s.nick, s.mask, key, kind, tags)
    next(posts)
    refused: Refusal | None = None  # the room checks refused them all
    for text in texts:
        if s.closing is not None:
            break
        if (len(text) if text.isascii() else len(text.encode())) > left:
            if not quiet:
                hub.reply(s, Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
            continue
        if refused is not None:
            if not quiet:
                refused()
            continue
        try:
            post = posts.send(text)
        except (NoSuchRoom, NotMember, Banned, CannotSend) as e:
            refused = _room_refusal(hub, s, name, kind, e)
            if not quiet:
                refused()
            continue
        if isinstance(post, RateLimited):
            if not quiet:
                _room_refusal(hub, s, name, kind, post)()
            continue
        assert post is not None
        relay_room(hub, post, m.rooms[key], s)
    return True


STATUS_PREFIXES = "@+"  # ISUPPORT STATUSMSG: to a channel's operators, to its voiced and operators


def _to_status(
    hub: Hub,
    s: Session,
    prefix: str,
    name: str,
    text: str,
    kind: str,
    tags: dict[str, str] | None,
) -> None:
    """``PRIVMSG @#chan`` / ``+#chan`` (Modern IRC: STATUSMSG parameter): to the channel's
    operators, or to its voiced members and operators, with the target as sent. Whoever
    may speak in the channel may send one; it is not kept in the channel's history (the
    others may read that)."""
    m = hub.messenger

    def refuse(numeric: Numeric, *params: str) -> None:
        if kind != "NOTICE":  # a NOTICE never triggers an automatic reply (RFC 2812 3.3.2)
            hub.reply(s, numeric, *params)

    room = m.room(casefold(name))
    if room is None:
        refuse(Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    target = prefix + room.name
    if not _fits(s, kind, target, text):
        refuse(Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
        return
    try:
        m.check_room_send(s.user_key, room.key, origin=s.mask)
    except (NoSuchRoom, NotMember):
        refuse(Numeric.ERR_CANNOTSENDTOCHAN, name, "You're not on that channel (JOIN it)")
        return
    except Banned as e:
        refuse(
            Numeric.ERR_CANNOTSENDTOCHAN,
            name,
            f"Message not sent: {_ban_text(e.until, e.reason)}",
        )
        return
    except CannotSend as e:
        refuse(Numeric.ERR_CANNOTSENDTOCHAN, name, f"Message not sent: {e}")
        return
    u = m.user(s.user_key)
    post = Post(
        0,
        f"{m.server_id}-s{secrets.token_hex(6)}",
        hub.clock.now(),
        kind,
        s.user_key,
        s.nick,
        s.mask,
        u.name if u is not None and u.is_account else None,
        room.key,
        None,
        None,
        text,
        tags,
    )
    wanted = room.ops if prefix == "@" else room.ops | room.voiced
    for key in wanted:
        for peer in hub.sessions_of(key):  # every device (the sender's others: a copy)
            if peer is not s:
                peer.send(post_line(post, peer.tagbits, target))
    if "echo-message" in s.caps:
        s.send(post_line(post, s.tagbits, target))


def _period(seconds: int) -> str:
    if seconds % 3600 == 0:
        h = seconds // 3600
        return "hour" if h == 1 else f"{h} hours"
    if seconds % 60 == 0:
        mins = seconds // 60
        return "minute" if mins == 1 else f"{mins} minutes"
    return f"{seconds} seconds"


def _to_nick(
    hub: Hub, s: Session, nick: str, text: str, kind: str, tags: dict[str, str] | None
) -> Refusal | None:
    key = casefold(nick)
    if key == SERVICE_KEY:
        if kind == "PRIVMSG":  # the service never answers NOTICEs (no bot loops)
            service_command(hub, s, text, via="privmsg")
        return None
    peer = hub.nicks.get(key)  # (hub.resolve_user, its online case spelled out)
    if peer is not None:
        user_key, display = peer.user_key, peer.nick
    else:
        resolved = hub.resolve_user(nick)
        if resolved is None:
            return lambda: hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        user_key, display = resolved
    mask = s.mask
    if not _fits(s, kind, display, text, mask):
        return lambda: hub.reply(s, Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
    m = hub.messenger
    try:
        post = m.post_private(s.user_key, s.nick, mask, user_key, text, kind, tags)
    except NoSuchUser:
        return lambda: hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
    except Banned as e:
        muted = "Message not sent: " + _ban_text(e.until, e.reason)
        return lambda: _not_sent(hub, s, display, kind, muted)
    except Flooding as e:
        wait = max(1, math.ceil(e.retry_after))
        flood = f"Message not sent: you are sending private messages too fast; wait {wait}s"
        return lambda: _not_sent(hub, s, display, kind, flood)
    online = relay_private(hub, post, s)
    if online and s.told_offline:
        s.told_offline.discard(user_key)
    target_session = hub.by_user.get(user_key)
    if target_session is not None and target_session.away and kind == "PRIVMSG":
        hub.reply(s, Numeric.RPL_AWAY, target_session.nick, target_session.away)
    if not online and kind == "PRIVMSG" and user_key not in s.told_offline:
        s.told_offline.add(user_key)  # once per recipient and connection, not per message
        hub.note(
            s,
            kind,
            "STORED",
            display,
            text=f"{display} is offline; your message will be delivered when they connect",
        )
    return None


def _nick_run(
    hub: Hub, s: Session, nick: str, texts: Iterator[str], kind: str, tags: dict[str, str] | None
) -> bool:
    """``_to_target`` for each of ``texts`` in turn, to a user (online, or an offline account):
    its recipient resolved once, its posts made by one engine call (``private_posts``), each
    relayed as it is made, with each line's replies (too long, muted, flooding, away, the
    offline note) in the same order. A channel goes to ``_room_run``. False, having done
    nothing, for any other target (``@#chan``, the service, no such nick): those go line by
    line."""
    c = nick[0]
    if c == "#":
        return _room_run(hub, s, nick, texts, kind, tags)
    if c in STATUS_PREFIXES and nick[1:2] == "#":
        return False
    key = casefold(nick)
    if key == SERVICE_KEY:
        return False
    peer = hub.nicks.get(key)
    if peer is not None:
        user_key, display = peer.user_key, peer.nick
    else:
        resolved = hub.resolve_user(nick)
        if resolved is None:
            return False
        user_key, display = resolved
    quiet = kind == "NOTICE"
    mask = s.mask
    # _fits, with the fixed part of the relayed line counted once
    fixed = f"{mask}{kind}{display}"
    room = MAX_BODY - 7 - (len(fixed) if fixed.isascii() else len(fixed.encode()))
    m = hub.messenger
    posts = m.private_posts(s.user_key, s.nick, mask, user_key, kind, tags)
    next(posts)
    refused: Refusal | None = None  # the engine refused them all (no such user, muted)
    target_session = hub.by_user.get(user_key)
    away_line = None
    if target_session is not None and target_session.away and not quiet:
        away_line = safe_line(
            Numeric.RPL_AWAY.value, (s.nick, target_session.nick, target_session.away), hub.name
        )
    ends: list[_End] | None = None
    online = False
    try:
        for text in texts:
            if s.closing is not None:
                break
            data = text.encode()
            size = len(data)
            if size > room:
                if not quiet:
                    hub.reply(s, Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
                continue
            if refused is not None:
                if not quiet:
                    refused()
                continue
            try:
                post = posts.send(text)
            except NoSuchUser:
                refused = partial(
                    hub.reply, s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel"
                )
                if not quiet:
                    refused()
                continue
            except Banned as e:
                muted = "Message not sent: " + _ban_text(e.until, e.reason)
                refused = partial(_not_sent, hub, s, display, kind, muted)
                if not quiet:
                    refused()
                continue
            if isinstance(post, Flooding):
                if not quiet:
                    wait = max(1, math.ceil(post.retry_after))
                    flood = (
                        f"Message not sent: you are sending private messages too fast; wait {wait}s"
                    )
                    _not_sent(hub, s, display, kind, flood)
                continue
            assert post is not None
            if ends is None:  # the same for every post of the run
                got, online = private_ends(hub, post, s)
                ends = [_run_end(s, mask, kind, end) for end in got]
            # relay_private, with each untagged line made from its fixed head and the text, and
            # what goes to other connections than the sender's collected for one send_all
            for to, head, left, target, side_effect, chunks in ends:
                if chunks is not None:
                    if head is not None and size <= left:
                        chunks.append(head + data + b"\r\n")
                    else:
                        line = post_line(post, to.tagbits, target)
                        chunks.append((line + "\r\n").encode("utf-8", "replace"))
                    continue
                if head is not None and size <= left and to.capture is None:
                    to.send_bytes(head + data + b"\r\n")
                    continue
                line = post_line(post, to.tagbits, target)
                if side_effect:
                    to.send_side_effect(line)
                else:
                    to.send(line)
            if online and s.told_offline:
                s.told_offline.discard(user_key)
            if away_line is not None:
                s.send(away_line)
            if not online and not quiet and user_key not in s.told_offline:
                s.told_offline.add(user_key)  # once per recipient and connection, not per message
                hub.note(
                    s,
                    kind,
                    "STORED",
                    display,
                    text=f"{display} is offline; your message will be delivered when they connect",
                )
    finally:
        if ends is not None:
            for end in ends:
                chunks = end[5]
                if chunks:
                    end[0].send_all(chunks)
    return True


# one end of a run's posts: the connection, the encoded head of its untagged lines (None: each
# is made by post_line), the bytes of text that fit after it, the target its lines name, a side
# effect, and the lines collected for it (None: sent as they are made)
_End = tuple[Session, bytes | None, int, str, bool, list[bytes] | None]


def _run_end(s: Session, origin: str, kind: str, end: tuple[Session, str, bool]) -> _End:
    """One end of a run's posts from ``s`` (``private_ends``). For a connection without tags:
    the encoded head ``:origin KIND target :`` of its lines and how many bytes of text fit
    after it; then ``head + text + CRLF`` is the line ``post_line`` makes (when it needs no
    repair, which the head and the size tell; a run's texts have no CR, LF or NUL). Another
    connection than ``s`` gets nothing else during the run, so its lines are collected and
    queued at its end (``Session.send_all``): the same bytes in the same order."""
    to, target, side_effect = end
    head = f":{origin} {kind} {target} :"
    size = len(head.encode())
    plain = (
        not to.tagbits
        and target[:1] not in ("", ":")
        and " " not in target
        and " " not in origin
        and origin != ""
        and "\r" not in head
        and "\n" not in head
        and "\0" not in head
    )
    chunks: list[bytes] | None = [] if to is not s and to.capture is None else None
    return to, head.encode() if plain else None, MAX_CONTENT - size, target, side_effect, chunks


def _not_sent(hub: Hub, s: Session, display: str, kind: str, text: str) -> None:
    """A private message to ``display`` was refused. 531 names the target, but irssi and
    WeeChat show that numeric in the status window, while the message stays in the query
    window looking sent (without echo-message a client shows what was typed). So such
    clients also get the reason as a server notice addressed to that nick, which irssi shows
    in the query window with it."""
    hub.reply(s, Numeric.ERR_CANTSENDTOUSER, display, text)
    if kind == "PRIVMSG" and "echo-message" not in s.caps:
        s.send(safe_line("NOTICE", (display, text), hub.name))  # an operator's reason: any length


def _tagmsg_lines(hub: Hub, s: Session, target: str, tags: dict[str, str]) -> tuple[str, str]:
    """A relayed TAGMSG with a fresh msgid: (without, with) the server-time tag."""
    tagged = {**tags, "msgid": f"{hub.messenger.server_id}-t{secrets.token_hex(6)}"}
    line = format_line("TAGMSG", (target,), s.mask, tagged)
    return line, add_tag(line, "time=" + iso_time(hub.clock.now()))


@command("TAGMSG", min_params=1)
def tagmsg(hub: Hub, s: Session, msg: Message) -> None:
    tags = client_tags(msg)
    if not tags:
        return
    tags = _with_bot(s, tags) or tags
    for target in msg.params[0].split(",")[:MAX_TARGETS]:
        if target.startswith("#"):
            room = hub.messenger.room(casefold(target))
            if room is None:
                hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, target, "No such channel")
                continue
            try:
                hub.messenger.check_room_send(s.user_key, room.key, origin=s.mask)
            except NotMember:
                hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, target, "You're not on that channel")
                continue
            except (Banned, CannotSend):
                continue  # dropped silently
            line, timed = _tagmsg_lines(hub, s, room.name, tags)
            for peer in hub.room_sessions(room):
                if "message-tags" in peer.caps and (peer is not s or "echo-message" in s.caps):
                    peer.send(timed if "server-time" in peer.caps else line)
            tag_elsewhere(hub, s.user_key, line, timed, room_key=room.key)
        else:
            peer_s = hub.session_by_nick(target)
            if peer_s is None:
                hub.reply(s, Numeric.ERR_NOSUCHNICK, target, "No such nick/channel")
                continue
            if hub.messenger.ban_of(s.user_key) is not None:
                continue
            line, timed = _tagmsg_lines(hub, s, peer_s.nick, tags)
            for to in hub.sessions_of(peer_s.user_key):  # every device of the recipient
                if "message-tags" in to.caps:
                    got = timed if "server-time" in to.caps else line
                    if to is s:
                        to.send_side_effect(got)  # to oneself: no part of a labeled response
                    else:
                        to.send(got)
            for mine in hub.sessions_of(s.user_key):  # the echo, and a copy to other devices
                if "message-tags" not in mine.caps:
                    continue
                if mine is s:
                    if "echo-message" in s.caps:  # to oneself: twice
                        s.send(timed if "server-time" in s.caps else line)
                elif peer_s.user_key != s.user_key:
                    mine.send(timed if "server-time" in mine.caps else line)
            tag_elsewhere(hub, s.user_key, line, timed, to=peer_s.user_key)
