"""Scheduled delivery: messages that fell due (DELAY) are posted through the same fan-out as
live ones and their authors told; postponed, held and dropped ones are explained; mutes whose
time is up end. The server calls ``fire_due`` from its timer."""

from __future__ import annotations

import logging

from ..messenger.model import Fired
from .fanout import relay_private, relay_room
from .hub import Hub
from .relayed import notice_everywhere
from .timefmt import human_time

log = logging.getLogger(__name__)


def fire_due(hub: Hub) -> None:
    """Send scheduled messages that fell due and end bans whose time is up."""
    fired, ended = hub.messenger.release_due()
    for f in fired:
        _deliver_fired(hub, f)
    for b in ended:
        log.info("mute of %s ended", b.name)
        notice_everywhere(hub, b.user, "Your mute has ended: you can send messages again.")


def _deliver_fired(hub: Hub, f: Fired) -> None:
    item = f.item
    owner = item.owner  # told on every device, if online
    if f.outcome == "posted" and f.post is not None:
        post = f.post
        if post.room is not None:
            relay_room(hub, post, hub.messenger.rooms[post.room], None)
        else:
            relay_private(hub, post, None)
        late = " (late: the server was down when it was due)" if f.late else ""
        hub.service_notice_user(
            owner, f"Scheduled message #{item.id} to {item.target_name} was sent{late}."
        )
        return
    if f.outcome == "postponed":  # (to its devices on other nodes too: no event shows it)
        reset = human_time(f.until)
        notice_everywhere(
            hub,
            owner,
            f"Scheduled message #{item.id} to {item.target_name} is postponed to {reset}: "
            "your message quota for this period is used up.",
        )
    elif f.outcome == "held":
        ban = hub.messenger.bans.get(item.owner)
        until = human_time(ban.until) if ban else "the end of your mute"
        notice_everywhere(
            hub, owner, f"Scheduled message #{item.id} is held until {until}: you are muted."
        )
    else:
        notice_everywhere(
            hub,
            owner,
            f"Scheduled message #{item.id} to {item.target_name} was dropped: {f.reason}.",
        )
