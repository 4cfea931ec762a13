"""Lines that no engine event shows, relayed to the other nodes of the network as presence
records (``foreign.py``): the engine never sees them, and each node delivers them to its own
connections by the same rules as the node where the command was given.

``{"t": "~redact", "o", "r": room key ("" for a private message), "ends": [user keys of a
private message's two ends], "line": the REDACT line, "id": its msgid, "time": its time}``
    a message was deleted (its ``redact`` event takes it out of the history everywhere): the
    REDACT to the clients here that negotiated draft/message-redaction
``{"t": "~invite", "o", "u": invitee key, "r": room key, "line": the INVITE line, "acct":
the inviter's account ("" for none)}``
    an INVITE: to the invitee's devices here, and the invite-notify line to the room's members
    here who negotiated it (in a +i room only its operators and server operators); a guest's
    invitation (no durable event) is applied here too, so it may join from any node
``{"t": "~tag", "o", "u": sender key, "r": room key | "to": recipient key, "line": the TAGMSG
line, "timed": the same with its server-time tag}``
    a TAGMSG (typing notifications): to the clients here that negotiated message-tags; never
    journaled into the engine
``{"t": "~notice", "o", "u": user key, "text": notice}``
    a notice from the Messenger service to the user's devices here (a scheduled message that
    was postponed, held or dropped on another node; the end of a mute)

The PART reason (``{"t": "~why", "o", "u", "r", "why"}``) is in ``foreign.py``: the PART
itself is shown from the events.
"""

from __future__ import annotations

from typing import Any

from ..wire import escape_tag_value
from .caps import REDACTION
from .hub import Hub
from .lines import add_tag
from .operators import elsewhere, tell_network
from .session import Session


def _here(hub: Hub, user: str) -> list[Session]:
    return [d for d in hub.sessions_of(user) if not d.node]


def _remote_members(hub: Hub, room_key: str) -> bool:
    room = hub.messenger.rooms.get(room_key)
    return room is not None and any(p.node for p in hub.room_sessions(room))


# ---------------------------------------------------------------------- this node's commands


def redact_elsewhere(
    hub: Hub, room_key: str | None, ends: tuple[str, ...], line: str, msgid: str, time: str
) -> None:
    """A REDACT this node sent to its clients: to those of the other nodes too."""
    if room_key is not None:
        wanted = _remote_members(hub, room_key)
    else:
        wanted = any(elsewhere(hub, u) for u in ends)
    if wanted:
        record = {"t": "~redact", "r": room_key or "", "ends": list(ends), "line": line}
        tell_network(hub, {**record, "id": msgid, "time": time})


def invite_elsewhere(hub: Hub, by: Session, target: str, room_key: str, line: str) -> None:
    """An INVITE this node sent to its clients: to the invitee and members elsewhere too."""
    if elsewhere(hub, target) or _remote_members(hub, room_key):
        record = {"t": "~invite", "u": target, "r": room_key, "line": line}
        tell_network(hub, {**record, "acct": by.account or ""})


def tag_elsewhere(
    hub: Hub, sender: str, line: str, timed: str, room_key: str = "", to: str = ""
) -> None:
    """A TAGMSG this node sent to its clients: to those of the other nodes too."""
    if room_key:
        if _remote_members(hub, room_key):
            tell_network(
                hub, {"t": "~tag", "u": sender, "r": room_key, "line": line, "timed": timed}
            )
    elif elsewhere(hub, to) or elsewhere(hub, sender):
        tell_network(hub, {"t": "~tag", "u": sender, "to": to, "line": line, "timed": timed})


def notice_everywhere(hub: Hub, user: str, text: str) -> None:
    """A service notice to every device of ``user``, on this node and the others."""
    hub.service_notice_user(user, text)
    if elsewhere(hub, user):
        tell_network(hub, {"t": "~notice", "u": user, "text": text})


# ---------------------------------------------------------------------- other nodes' records


def _redact(hub: Hub, ev: dict[str, Any]) -> None:
    """ircv3.net/specs/extensions/message-redaction: the REDACT to everyone here who got the
    message and negotiated the capability (with msgid and time tags as they negotiated)."""
    room_key = str(ev.get("r") or "")
    if room_key:
        room = hub.messenger.rooms.get(room_key)
        recipients = list(hub.room_sessions(room)) if room is not None else []
    else:
        ends = [str(u) for u in ev.get("ends") or []]
        recipients = list(dict.fromkeys(d for u in ends for d in hub.sessions_of(u)))
    line = str(ev.get("line"))
    tagged = add_tag(line, f"msgid={escape_tag_value(str(ev.get('id')))}")
    time_tag = f"time={escape_tag_value(str(ev.get('time')))}"
    for peer in recipients:
        if peer.node or REDACTION not in peer.caps:
            continue
        got = tagged if "message-tags" in peer.caps else line
        peer.send(add_tag(got, time_tag) if "server-time" in peer.caps else got)


def _invite(hub: Hub, ev: dict[str, Any]) -> None:
    """Modern IRC "INVITE message" and ircv3.net/specs/extensions/invite-notify, for an
    invitation given on another node."""
    m = hub.messenger
    room = m.rooms.get(str(ev.get("r")))
    user = str(ev.get("u"))
    u = m.users.get(user)
    if room is None or u is None:
        return
    if not u.is_account and user not in room.members and user not in room.invited:
        m.replay(({"t": "invite", "u": user, "r": room.key},))  # a guest's: no durable event
    line = str(ev.get("line"))
    account = str(ev.get("acct") or "")
    tagged = add_tag(line, f"account={escape_tag_value(account)}") if account else line

    def line_for(peer: Session) -> str:
        return tagged if "account-tag" in peer.caps else line

    to_devices = _here(hub, user)
    for device in to_devices:
        device.send(line_for(device))
    invite_only = "i" in room.flags
    for peer in list(hub.room_sessions(room)):
        if peer.node or peer in to_devices or "invite-notify" not in peer.caps:
            continue
        if invite_only and peer.user_key not in room.ops and not peer.oper:
            continue
        peer.send(line_for(peer))


def _tag(hub: Hub, ev: dict[str, Any]) -> None:
    """ircv3.net/specs/extensions/message-tags: a TAGMSG only to clients that negotiated
    message-tags (client-only tags as sent; the time tag to those with server-time)."""
    line, timed = str(ev.get("line")), str(ev.get("timed"))
    room_key = str(ev.get("r") or "")
    if room_key:
        room = hub.messenger.rooms.get(room_key)
        targets = list(hub.room_sessions(room)) if room is not None else []
    else:
        to, sender = str(ev.get("to") or ""), str(ev.get("u") or "")
        targets = list(hub.sessions_of(to))
        if sender != to:
            targets += hub.sessions_of(sender)  # a copy to the sender's other devices
    for peer in targets:
        if not peer.node and "message-tags" in peer.caps:
            peer.send(timed if "server-time" in peer.caps else line)


def _notice(hub: Hub, ev: dict[str, Any]) -> None:
    for device in _here(hub, str(ev.get("u"))):
        hub.service_notice(device, str(ev.get("text")))


RELAYED = {"~redact": _redact, "~invite": _invite, "~tag": _tag, "~notice": _notice}


def apply_relayed(hub: Hub, ev: dict[str, Any]) -> bool:
    """Deliver a relayed line of another node; False when ``ev`` is no such record."""
    handler = RELAYED.get(str(ev.get("t")))
    if handler is None:
        return False
    handler(hub, ev)
    return True
