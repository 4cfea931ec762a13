"""How a user is shown: SETNAME (its real name, IRCv3 setname) and the operators' CHGHOST (its
displayed host, relayed with the IRCv3 chghost capability)."""

from __future__ import annotations

import logging
import re

from ...wire import Message, Numeric
from ..caps import NAMELEN
from ..hub import Hub
from ..lines import safe_line
from ..operators import change_host, tell_network, to_peers
from ..registry import command
from ..session import Session

log = logging.getLogger(__name__)

# a displayed host: letters, digits and . : / _ - (cloaks look like "user/alice"), not starting
# with ':' or '-' (it is a middle parameter of CHGHOST and of every mask)
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:/_-]{0,62}")


def _to_peers(hub: Hub, s: Session, cap: str, line: str) -> None:
    """``line`` to everyone sharing a channel with ``s`` who negotiated ``cap``, to those who
    MONITOR its nick with extended-monitor and ``cap``, and to each of the user's devices
    that did (``operators.to_peers``)."""
    to_peers(hub, s, cap, line)


@command("SETNAME", min_params=1, help="SETNAME :<real name>")
def setname(hub: Hub, s: Session, msg: Message) -> None:
    """ircv3.net/specs/extensions/setname: a valid real name (1 to NAMELEN bytes) is taken
    and ``:nick!user@host SETNAME :<name>`` goes to the channels' members with the setname
    capability and to the sender (if it has it; a client without it is handled silently).
    Otherwise ``FAIL SETNAME INVALID_REALNAME``; a muted user may not change it
    (``FAIL SETNAME CANNOT_CHANGE_REALNAME``: its channels would see the new name)."""
    name = msg.params[0]
    if not name.strip() or len(name.encode()) > NAMELEN:
        hub.fail(
            s,
            "SETNAME",
            "INVALID_REALNAME",
            text=f"Realname is not valid (1 to {NAMELEN} bytes)",
            feature="setname",
        )
        return
    if hub.messenger.ban_of(s.user_key) is not None:
        hub.fail(
            s,
            "SETNAME",
            "CANNOT_CHANGE_REALNAME",
            text="You cannot change your real name while you are muted",
            feature="setname",
        )
        return
    if name == s.realname:
        if "setname" in s.caps:
            s.send(safe_line("SETNAME", (name,), s.mask))
        return
    for device in hub.sessions_of(s.user_key) or [s]:
        device.realname = name  # one identity on every device of the user
    _to_peers(hub, s, "setname", safe_line("SETNAME", (name,), s.mask))


@command("CHGHOST", min_params=2, help="CHGHOST <nick> <host>  (operators)")
def chghost(hub: Hub, s: Session, msg: Message) -> None:
    """An operator changes the host a user is shown with (on each of its devices: one
    identity; as InspIRCd's CHGHOST). ircv3.net/specs/extensions/chghost: ``:nick!user@old
    CHGHOST user new`` goes to those sharing a channel with the user who negotiated chghost,
    and to the user if it did; the user without it gets 396 (RPL_VISIBLEHOST). Clients
    without the capability are not sent the spec's fallback (a QUIT and JOIN in every shared
    channel, shown as noise)."""
    if not s.oper:
        hub.reply(s, Numeric.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return
    nick, host = msg.params[0], msg.params[1]
    target = hub.session_by_nick(nick)
    if target is None:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    if not _HOST.fullmatch(host):
        hub.fail(
            s,
            "CHGHOST",
            "INVALID_HOST",
            host,
            text="A host is 1 to 63 letters, digits and . : / _ - (not starting with : or -)",
        )
        return
    if host == target.host:
        hub.notice(s, f"{target.nick}'s host is already {host}")
        return
    hub.client_log(s, log.info, "operator %s set the host of %s to %s", s.nick, target.nick, host)
    change_host(hub, target, host)
    # the other nodes show it too: to the user's devices and its peers there
    tell_network(hub, {"t": "~host", "u": target.user_key, "h": host})
    if target is not s:
        hub.notice(s, f"{target.nick}'s host is now {host}")
