"""Moderation: REDACT (draft/message-redaction), and the server operators' KILL and WALLOPS."""

from __future__ import annotations

import logging
import secrets

from ...messenger.errors import InvalidTarget, MessengerError, RedactForbidden, UnknownMessage
from ...messenger.model import Post
from ...wire import Message, Numeric, casefold, truncate_utf8
from ..caps import REDACTION, SERVICE_KEY
from ..hub import Hub
from ..lines import add_tag, safe_line
from ..operators import elsewhere, kill_here, tell_network, wallops_here
from ..registry import command
from ..session import Session
from ..timefmt import iso_time

log = logging.getLogger(__name__)

KILLLEN = 300  # bytes of a KILL reason kept (it goes into the QUIT and the ERROR line)


# ---------------------------------------------------------------------- REDACT


@command("REDACT", min_params=2, help="REDACT <#channel|nick> <msgid> [:<reason>]")
def redact(hub: Hub, s: Session, msg: Message) -> None:
    """ircv3.net/specs/extensions/message-redaction: ``REDACT <target> <msgid> [:reason]``.
    The message leaves the stored history (so backlog, unread and CHATHISTORY lose it), and
    the members who negotiated the capability get the REDACT; others get nothing (the
    spec's fallback is optional, and a notice per deletion is noise)."""
    target, msgid = msg.params[0], msg.params[1]
    m = hub.messenger
    private = not target.startswith("#")
    given = truncate_utf8(msg.params[2], 300) if len(msg.params) > 2 else ""

    def fail(code: str, *context: str, text: str) -> None:
        hub.fail(s, "REDACT", code, *context, text=text, feature=REDACTION)

    if private:
        resolved = hub.resolve_user(target) if casefold(target) != SERVICE_KEY else None
        if resolved is None:
            fail("INVALID_TARGET", target, text=f"You cannot delete messages from {target}")
            return
        key = resolved[0]
    else:
        key = casefold(target)
    # one who may not speak there now (muted, +m, banned) may delete its own messages, but
    # says nothing to anyone with it
    reason = given if given and _may_speak(hub, s, key, private) else ""
    try:
        post = m.redact(s.user_key, key, msgid, private=private, privileged=s.oper, reason=reason)
    except InvalidTarget:
        fail("INVALID_TARGET", target, text=f"You cannot delete messages from {target}")
        return
    except UnknownMessage:
        fail("UNKNOWN_MSGID", target, msgid, text="This message does not exist or is too old")
        return
    except RedactForbidden:
        fail(
            "REDACT_FORBIDDEN", target, msgid, text="You are not authorised to delete this message"
        )
        return
    who = "their own" if post.sender == s.user_key else f"{post.sender_name}'s"
    hub.client_log(s, log.info, "%s deleted %s message %s in %s", s.nick, who, msgid, target)
    _relay_redact(hub, s, post, target, reason)


def _may_speak(hub: Hub, s: Session, key: str, private: bool) -> bool:
    """Whether ``s`` may send text to ``key`` now (a server operator always may)."""
    if s.oper:
        return True
    if private:
        return hub.messenger.ban_of(s.user_key) is None
    try:
        hub.messenger.check_room_send(s.user_key, key, origin=s.mask)
    except MessengerError:
        return False
    return True


def _relay_redact(hub: Hub, s: Session, post: Post, typed: str, reason: str) -> None:
    """The REDACT to everyone who got the message and negotiated the capability, as the
    PRIVMSG went (a channel's members; a private message's two ends, with its target), and
    to the one who deleted it, whatever its channels: with the capability, the REDACT;
    without it (a raw REDACT from irssi), a notice that it worked."""
    if post.room is not None:
        room = hub.messenger.rooms.get(post.room)
        shown = room.name if room is not None else typed
        recipients = list(hub.room_sessions(room)) if room is not None else []
    else:
        shown = hub.display_nick(post.to or "", post.to_name or typed)
        # every device of both ends
        ends = (*hub.sessions_of(post.sender), *hub.sessions_of(post.to or ""))
        recipients = list(dict.fromkeys(ends))
    params = (shown, post.msgid, reason) if reason else (shown, post.msgid)
    line = safe_line("REDACT", params, s.mask)
    # as in the spec's examples, the REDACT has a msgid of its own (message-tags clients)
    tagged = add_tag(line, f"msgid={hub.messenger.server_id}-r{secrets.token_hex(6)}")
    time_tag = "time=" + iso_time(hub.clock.now())
    variants = {  # (message-tags, server-time) -> the line
        (False, False): line,
        (False, True): add_tag(line, time_tag),
        (True, False): tagged,
        (True, True): add_tag(tagged, time_tag),
    }
    if s not in recipients:
        recipients.append(s)
    for peer in recipients:
        if REDACTION in peer.caps:
            peer.send(variants["message-tags" in peer.caps, "server-time" in peer.caps])
        elif peer is s:
            hub.notice(s, f"Message {post.msgid} in {shown} deleted.")


# ---------------------------------------------------------------------- operators


def _not_oper(hub: Hub, s: Session) -> bool:
    """481 (modern.ircdocs.horse, ERR_NOPRIVILEGES) unless ``s`` is a server operator."""
    if s.oper:
        return False
    hub.reply(s, Numeric.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
    return True


@command("KILL", min_params=1, help="KILL <nick> [:<reason>]  (operators)")
def kill(hub: Hub, s: Session, msg: Message) -> None:
    """modern.ircdocs.horse "KILL message": the victim gets the KILL and an ERROR, and those
    sharing a channel with it a QUIT "Killed (<operator> (<reason>))"."""
    if _not_oper(hub, s):
        return
    nick = msg.params[0]
    given = truncate_utf8(msg.params[1], KILLLEN) if len(msg.params) > 1 else ""
    reason = given or "No reason given"
    if casefold(nick) == SERVICE_KEY:
        hub.reply(s, Numeric.ERR_CANTKILLSERVER, "You can't kill the Messenger service")
        return
    victim = hub.session_by_nick(nick)
    if victim is None:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    why = f"Killed ({s.nick} ({reason}))"
    hub.client_log(s, log.info, "operator %s killed %s: %s", s.nick, victim.nick, reason)
    kill_here(hub, victim.user_key, s.mask, reason, why)  # the user: every device here
    if elsewhere(hub, victim.user_key):  # and those on other nodes, by their nodes
        tell_network(
            hub, {"t": "~kill", "u": victim.user_key, "by": s.mask, "r": reason, "why": why}
        )
    if victim is not s:
        hub.notice(s, f"{victim.nick} was killed: {reason}")


@command("WALLOPS", min_params=1, help="WALLOPS :<text>  (operators)")
def wallops(hub: Hub, s: Session, msg: Message) -> None:
    """modern.ircdocs.horse "WALLOPS message": to every user with mode +w; the sender gets it
    too (an echo, which the spec allows), so it sees what went out."""
    if _not_oper(hub, s):
        return
    line = safe_line("WALLOPS", (msg.params[0],), s.mask)
    wallops_here(hub, line, s)  # each device has its +w
    tell_network(hub, {"t": "~wallops", "line": line})  # and those on other nodes
