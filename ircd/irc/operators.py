"""What an operator's action does to a user on this node, shared by the commands (CHGHOST,
KILL, WALLOPS) and by the entries of other nodes (``foreign.py``), where the same action,
given on another node, reaches the user's devices and peers here.

An action on a user with devices on other nodes is also put in ``Hub.network`` as a presence
record (``~host``, ``~kill``; ``~wallops`` for every node), which the next append carries to
the other nodes.
"""

from __future__ import annotations

from typing import Any

from ..wire import Numeric, format_line
from . import monitor
from .hub import Hub
from .lines import safe_line
from .session import Session


def elsewhere(hub: Hub, user_key: str) -> bool:
    """Whether the user has devices connected to other nodes."""
    return any(d.node for d in hub.sessions_of(user_key))


def tell_network(hub: Hub, record: dict[str, Any]) -> None:
    """Carry ``record`` (a presence record without its origin) to the other nodes."""
    if hub.clustered:
        hub.network.append(record)


def to_peers(hub: Hub, s: Session, cap: str, line: str) -> None:
    """``line`` to everyone here sharing a channel with ``s`` who negotiated ``cap``, to those
    who MONITOR its nick with extended-monitor and ``cap`` (ircv3.net/specs/extensions/
    extended-monitor), and to each of the user's devices here that did."""
    peers = sorted((p for p in hub.peers_of(s) if not p.node), key=lambda p: p.id)
    monitor.notify(peers, hub.monitor, s, cap, line)
    for device in hub.sessions_of(s.user_key) or [s]:
        if cap in device.caps and not device.node:
            device.send(line)


def change_host(hub: Hub, target: Session, host: str) -> None:
    """``target``'s user is shown with ``host`` from now on, on each of its devices (one
    identity). ircv3.net/specs/extensions/chghost: ``:nick!user@old CHGHOST user new`` to
    those sharing a channel with it who negotiated chghost and to its devices that did; a
    device without it gets 396 (RPL_VISIBLEHOST)."""
    line = format_line("CHGHOST", (target.user, host), target.mask)
    devices = hub.sessions_of(target.user_key) or [target]
    for device in devices:
        device.host = host
    to_peers(hub, target, "chghost", line)
    for device in devices:
        if "chghost" not in device.caps and not device.node:
            hub.reply(device, Numeric.RPL_VISIBLEHOST, host, "is now your displayed host")


def kill_here(hub: Hub, user_key: str, by_mask: str, reason: str, why: str) -> None:
    """modern.ircdocs.horse "KILL message": each device of the user on this node gets the
    KILL and an ERROR and is closed; its peers see it quit (once its last device anywhere is
    gone)."""
    for device in [d for d in hub.sessions_of(user_key) if not d.node]:
        device.send(safe_line("KILL", (device.nick, reason), by_mask))
        hub.quit(device, why, error=f"Closing Link: {hub.name} ({why})")


def wallops_here(hub: Hub, line: str, sender: Session | None) -> None:
    """A WALLOPS line to every device here with mode +w (and to its sender, an echo)."""
    every = (d for devices in hub.devices.values() for d in devices if not d.node)
    for peer in sorted(every, key=lambda p: p.id):
        if peer.wallops or peer is sender:
            peer.send(line)
