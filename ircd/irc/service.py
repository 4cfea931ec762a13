"""The messenger's own commands: DELAY, COMPLAIN and the ``Messenger`` service (the verbs are
in commands/extensions.py; PRIVMSG to the service comes from commands/messaging.py).

Every command can be reached three ways: a raw verb (``DELAY 5m #general :hi``), the
``MESSENGER`` verb (``MESSENGER delay 5m #general hi``) and a private message to the service
(``/msg Messenger delay 5m #general hi``). Replies are standard replies (FAIL/NOTE) for raw verbs
from clients that negotiated ``standard-replies``, and NOTICEs from the service otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..messenger.durations import format_duration, parse_duration, parse_iso_time
from ..messenger.errors import (
    CannotComplain,
    InvalidDuration,
    InvalidTarget,
    NoSuchUser,
    NotMember,
    TooManyScheduled,
    UnknownScheduled,
)
from ..messenger.model import ComplaintResult
from ..wire import MAX_BODY, casefold, is_valid_nick, parse_uint
from .caps import SERVICE_KEY, SERVICE_NICK
from .hub import Hub
from .replay import send_unread
from .replies import fail_code
from .session import Session
from .timefmt import human_time, iso_time

log = logging.getLogger(__name__)


class Replier:
    """Sends results of one messenger command the way the caller can read them."""

    def __init__(self, hub: Hub, s: Session, command: str, via: str) -> None:
        self.hub, self.s, self.command, self.via = hub, s, command, via
        self.standard = via == "verb" and "standard-replies" in s.caps

    def usage(self, what: str) -> str:
        """How to type a command, in the words the caller used (raw verb or the service)."""
        if self.via == "privmsg":
            return {
                "delay": f"Usage: /msg {SERVICE_NICK} delay <minutes|90s|2h|1h30m|1d> "
                "[#channel|nick] <text>; delays; cancel <id>",
                "cancel": f"Usage: /msg {SERVICE_NICK} cancel <id>",
                "list": f"/msg {SERVICE_NICK} delays",
                "complain": f"Usage: /msg {SERVICE_NICK} complain <nick> [reason]",
            }[what]
        return {
            "delay": USAGE_DELAY,
            "cancel": "Usage: DELAY CANCEL <id>",
            "list": "DELAY LIST",
            "complain": "Usage: COMPLAIN <nick> [:<reason>]",
        }[what]

    def ok(self, code: str, *context: str, text: str) -> None:
        if self.standard:
            self.hub.note(self.s, self.command, code, *context, text=text)
        else:
            self.hub.service_notice(self.s, text)

    def error(self, code: str, *context: str, text: str) -> None:
        if self.standard:
            self.hub.fail(self.s, self.command, code, *context, text=text)
        else:
            self.hub.service_notice(self.s, f"Error: {text}")


USAGE_DELAY = (
    "Usage: DELAY <minutes|90s|2h|1h30m|1d> <#channel|nick> :<text>, DELAY LIST, DELAY CANCEL <id>"
)


def delay_command(hub: Hub, s: Session, args: Sequence[str], via: str) -> None:
    r = Replier(hub, s, "DELAY", via)
    if not args:
        r.error("NEED_MORE_PARAMS", text=r.usage("delay"))
        return
    head = args[0].upper()
    if head in ("LIST", "LS"):
        delay_list(hub, s, r)
        return
    if head in ("CANCEL", "DEL", "RM"):
        if len(args) < 2:
            r.error("NEED_MORE_PARAMS", text=r.usage("cancel"))
            return
        delay_cancel(hub, s, r, args[1])
        return
    at = head == "AT"
    rest = list(args[1:]) if at else list(args)
    if len(rest) < 3:
        r.error("NEED_MORE_PARAMS", text=r.usage("delay"))
        return
    when, target, text = rest[0], rest[1], " ".join(rest[2:])
    now = hub.clock.now()
    try:
        due = parse_iso_time(when) if at else now + parse_duration(when)
    except InvalidDuration as e:
        r.error(fail_code(e), when, text=str(e))
        return
    if not text.strip():
        r.error("NEED_MORE_PARAMS", text="There is no text to send")
        return
    m = hub.messenger
    if target.startswith("#"):
        key, private = casefold(target), False
        room = m.rooms.get(key)
        display = room.name if room is not None else target
    else:
        if casefold(target) == SERVICE_KEY:
            r.error("INVALID_TARGET", target, text="You cannot schedule messages to the service")
            return
        resolved = hub.resolve_user(target)
        if resolved is None:
            r.error("INVALID_TARGET", target, text=f"No such nick or channel: {target}")
            return
        key, display, private = resolved[0], resolved[1], True
    overhead = len(s.mask.encode()) + len(display.encode()) + 16  # bytes, as on the wire
    if len(text.encode()) + overhead > MAX_BODY:
        r.error("TOO_LONG", text="The message is too long to be relayed; shorten it")
        return
    try:
        item = m.schedule(s.user_key, s.nick, s.mask, key, display, private, text, due)
    except InvalidDuration as e:
        limit = format_duration(m.rules.max_delay_seconds)
        r.error(fail_code(e), when, text=f"{e} (from 1s up to {limit} ahead)")
        return
    except InvalidTarget as e:
        r.error(fail_code(e), target, text=str(e))
        return
    except NotMember:
        r.error("INVALID_TARGET", target, text=f"You are not in {display}; JOIN it first")
        return
    except NoSuchUser:
        r.error("INVALID_TARGET", target, text=f"No such nick: {target}")
        return
    except TooManyScheduled as e:
        r.error(fail_code(e), str(e.limit), text=f"You already have {e.limit} scheduled messages")
        return
    hub.client_log(
        s, log.info, "%s scheduled #%d to %s for %s", s.nick, item.id, display, iso_time(item.due)
    )
    # irssi and others do not pass an unknown /DELAY on: answer /msg users in their own terms
    undo = f"/msg {SERVICE_NICK} cancel" if via == "privmsg" else "DELAY CANCEL"
    r.ok(
        "SCHEDULED",
        str(item.id),
        display,
        iso_time(item.due),
        text=(
            f"Message #{item.id} to {display} scheduled for {human_time(item.due)} "
            f"(in {format_duration(item.due - now)}); cancel with {undo} {item.id}"
            + (
                # bound to this guest's presence: never delivered to whoever takes the nick next
                f". {display} is a guest: if they disconnect before then, it is dropped"
                if private and m.account(key) is None
                else ""
            )
        ),
    )


def delay_list(hub: Hub, s: Session, r: Replier) -> None:
    items = hub.messenger.list_scheduled(s.user_key)
    now = hub.clock.now()
    for it in items:
        r.ok(
            "ENTRY",
            str(it.id),
            it.target_name,
            iso_time(it.due),
            text=(
                f"#{it.id} to {it.target_name} at {human_time(it.due)} "
                f"(in {format_duration(it.due - now)}): {it.text}"
            ),
        )
    n = len(items)
    r.ok("END", str(n), text=f"{n} scheduled message{'s' if n != 1 else ''}")


def delay_cancel(hub: Hub, s: Session, r: Replier, raw_id: str) -> None:
    ident = raw_id.lstrip("#")
    item_id = parse_uint(ident)
    if item_id is None:
        r.error("UNKNOWN_ID", raw_id, text=f"{raw_id} is not a message id (see {r.usage('list')})")
        return
    try:
        item = hub.messenger.cancel_scheduled(s.user_key, item_id)
    except UnknownScheduled as e:
        r.error(fail_code(e), ident, text=f"No scheduled message #{ident} of yours")
        return
    r.ok("CANCELLED", str(item.id), text=f"Scheduled message #{item.id} cancelled")


def complain_command(hub: Hub, s: Session, args: Sequence[str], via: str) -> None:
    r = Replier(hub, s, "COMPLAIN", via)
    if not args or not args[0]:  # "COMPLAIN :" names nobody
        r.error("NEED_MORE_PARAMS", text=r.usage("complain"))
        return
    nick, reason = args[0], " ".join(args[1:])
    if casefold(nick) == SERVICE_KEY:
        r.error("CANNOT_COMPLAIN", nick, text="You cannot complain about the service")
        return
    resolved = hub.resolve_user(nick)
    if resolved is None:
        r.error("NO_SUCH_NICK", nick, text=f"No such user: {nick}")
        return
    key, display = resolved
    m = hub.messenger
    earlier = list(m.complaints.get(key, {}))
    try:
        result = m.complain(
            s.user_key, key, reason, target_is_operator=is_server_operator(hub, key)
        )
    except CannotComplain as e:
        r.error(fail_code(e), nick, text=str(e))
        return
    except NoSuchUser:
        r.error("NO_SUCH_NICK", nick, text=f"No such user: {nick}")
        return
    hub.client_log(s, log.info, "%s complained about %s (%d)", s.nick, display, result.count)
    r.ok(
        "RECORDED",
        display,
        str(result.count),
        str(result.needed),
        text=complaint_counted(display, result),
    )
    if result.banned is not None:
        until = human_time(result.banned.until)
        hub.client_log(
            s, log.info, "%s muted until %s after %d complaints", display, until, result.count
        )
        hub.service_notice_user(
            key,
            f"You have been muted until {until} after {result.count} complaints: "
            "you can read but not send messages until then.",
        )
        for complainer in {*earlier, s.user_key}:
            hub.service_notice_user(complainer, f"{display} has been muted until {until}.")


def is_server_operator(hub: Hub, key: str) -> bool:
    """Whether the user ``key`` is a server operator: its connection is opered now, or it is
    an account that authenticated with OPER as an operator still listed in [[operators]] (so
    an operator who is offline, or has not OPERed since connecting, is one too; one removed
    from the config is not)."""
    if any(s.oper for s in hub.sessions_of(key)):
        return True
    u = hub.messenger.account(key)
    return u is not None and bool(u.oper) and casefold(u.oper) in hub.operators


def complaint_counted(display: str, result: ComplaintResult) -> str:
    """What the complainer is told: whether and how much the complaint counted."""
    head = f"Your complaint about {display} was recorded"
    if result.immune:
        return (
            f"{head} for the operators to see; {display} is a server operator and cannot be "
            "muted by complaints."
        )
    tally = f"({result.count} of {result.needed} needed to mute)"
    if result.together:
        others = f"{result.together} other new account{'s' if result.together != 1 else ''}"
        return f"{head}, but it counts together with {others} from your address {tally}."
    return f"{head} {tally}."


SERVICE_HELP = f"""{SERVICE_NICK} service commands (send them with /msg {SERVICE_NICK} <command>):
  delay <minutes|90s|2h|1h30m|1d> [#channel|nick] <text>  schedule a message (default #general)
  delay at <ISO-time> [#channel|nick] <text>              schedule at a time (UTC)
  delays                                                  list your scheduled messages
  cancel <id>                                             cancel a scheduled message
  complain <nick> [reason]                                complain about a user
  unread                                                  replay what you have not received
  quota                                                   your public messages left this period
  set backlog on|off                                      history when you join (off for bots)
  set timestamps auto|always|never                        [time] prefix on replayed lines
Operators: complaints, bans, unban <nick>, mute <nick> <duration> [reason]
  (complaints shows the user's recent messages; delete one with REDACT <target> <msgid>)"""


def service_command(hub: Hub, s: Session, text: str, via: str) -> None:
    words = text.strip().split()
    if not words:
        hub.service_notice(s, SERVICE_HELP)
        return
    cmd, args = words[0].lower(), words[1:]
    if cmd in ("help", "?"):
        hub.service_notice(s, SERVICE_HELP)
    elif cmd == "delay":
        targeted = _delay_target(hub, s, args, via)
        if targeted is not None:
            delay_command(hub, s, targeted, via)
    elif cmd in ("delays", "scheduled", "list"):
        delay_command(hub, s, ["LIST"], via)
    elif cmd == "cancel":
        delay_command(hub, s, ["CANCEL", *args], via)
    elif cmd in ("complain", "complaint", "report"):
        complain_command(hub, s, args, via)
    elif cmd == "unread":
        send_unread(hub, s, from_service=True)
    elif cmd == "quota":
        left, reset = hub.messenger.quota_left(s.user_key)
        hub.service_notice(
            s, f"You can send {left} more channel messages until {human_time(reset)}."
        )
    elif cmd == "set":
        _set(hub, s, args)
    elif cmd in ("complaints", "bans", "unban", "mute"):
        _operator(hub, s, cmd, args)
    else:
        hub.service_notice(s, f"Unknown command {words[0]!r}. Try: /msg {SERVICE_NICK} help")


def _looks_like_target(hub: Hub, word: str) -> bool:
    if word.startswith("#") or casefold(word) == SERVICE_KEY:
        return True
    return hub.resolve_user(word) is not None


def _delay_target(hub: Hub, s: Session, args: list[str], via: str) -> list[str] | None:
    """The service's ``delay`` words with the target made explicit, for delay_command; None
    after an error reply. The target may be left out (README, "Messenger commands"):

    * one word of text goes to the general channel: ``delay 5 hello``;
    * with several words, a first word that is a #channel or a user is the target;
      ``delay 5 bob see you`` goes privately to bob;
    * a first word that could be a nick but names no user is refused, never posted to the
      general channel: ``delay 1 nosuchnick hi`` was probably meant for someone;
    * other text (a first word that cannot be a nick: ``delay 5 I'm late``) goes to the
      general channel.
    """
    if not args or args[0].lower() in ("list", "ls", "cancel", "del", "rm"):
        return args
    at = args[0].lower() == "at"
    head, words = (args[:2], args[2:]) if at else (args[:1], args[1:])
    general = hub.config.chat.general_channel
    if not words:
        return args  # no text: delay_command says how to use it
    first = words[0]
    if len(words) == 1:
        return args if _looks_like_target(hub, first) else [*head, general, *words]
    if _looks_like_target(hub, first):
        return args
    if is_valid_nick(first):
        text = " ".join(words)
        again = f"/msg {SERVICE_NICK} delay {' '.join(head)} {general} {text}"
        how = again if via == "privmsg" else f"put {general} before the text"
        Replier(hub, s, "DELAY", via).error(
            "INVALID_TARGET",
            first,
            text=f'No user named {first}, so nothing was scheduled. To send "{text}" to '
            f"{general}: {how}",
        )
        return None
    return [*head, general, *words]


SETTINGS = {"backlog": ("on", "off"), "timestamps": ("auto", "always", "never")}


def _set(hub: Hub, s: Session, args: list[str]) -> None:
    if len(args) != 2 or args[0].lower() not in SETTINGS:
        names = ", ".join(f"{k} {'|'.join(v)}" for k, v in SETTINGS.items())
        hub.service_notice(s, f"Usage: set <setting> <value>; settings: {names}")
        return
    key, value = args[0].lower(), args[1].lower()
    if value not in SETTINGS[key]:
        hub.service_notice(s, f"{key} must be one of: {', '.join(SETTINGS[key])}")
        return
    hub.messenger.set_setting(s.user_key, key, value)
    kept = "" if s.account else " (for this connection only: guests have no memory)"
    hub.service_notice(s, f"{key} is now {value}{kept}.")


def _operator(hub: Hub, s: Session, cmd: str, args: list[str]) -> None:
    if not s.oper:
        hub.service_notice(s, "Permission denied: you are not an operator (see OPER).")
        return
    m = hub.messenger
    if cmd == "complaints":
        if not m.complaints:
            hub.service_notice(s, "No open complaints.")
        for target, by in sorted(m.complaints.items()):
            name = _name(hub, target)
            details = "; ".join(f"{_name(hub, k)}: {why or '-'}" for k, why in sorted(by.items()))
            voices = m.complaint_count(target)
            counted = f", counting as {voices}" if voices != len(by) else ""
            immune = ", a server operator" if is_server_operator(hub, target) else ""
            hub.service_notice(s, f"{name}: {len(by)} complaint(s){counted}{immune} ({details})")
            _recent_posts(hub, s, target, name, by)
    elif cmd == "bans":
        now = hub.clock.now()
        active = [(k, b) for k, b in m.bans.items() if b.until > now]
        if not active:
            hub.service_notice(s, "Nobody is muted.")
        for k, b in sorted(active, key=lambda kb: kb[1].until):
            name = _name(hub, k) if m.user(k) is not None else (b.name or k)
            where = f", and guests from {b.ip}" if b.ip else ""
            hub.service_notice(s, f"{name} muted until {human_time(b.until)} ({b.reason}){where}")
            if m.user(k) is not None:
                _recent_posts(hub, s, k, name, ())  # what got it muted, in its channels
    elif cmd == "unban":
        if not args:
            hub.service_notice(s, "Usage: unban <nick>")
            return
        resolved = hub.resolve_user(args[0])
        key = resolved[0] if resolved else casefold(args[0])
        if key not in m.bans:
            # a guest who left: its mute is known by the name it had
            named = [k for k, b in m.bans.items() if casefold(b.name) == casefold(args[0])]
            key = named[-1] if named else key
        if m.lift_ban(key):
            hub.client_log(s, log.info, "operator %s lifted the mute of %s", s.nick, args[0])
            hub.service_notice(s, f"The mute of {args[0]} was lifted.")
            hub.service_notice_user(key, "Your mute was lifted by an operator.")
        else:
            hub.service_notice(s, f"{args[0]} is not muted.")
    elif cmd == "mute":
        if len(args) < 2:
            hub.service_notice(s, "Usage: mute <nick> <duration> [reason]")
            return
        resolved = hub.resolve_user(args[0])
        if resolved is None:
            hub.service_notice(s, f"No such user: {args[0]}")
            return
        try:
            seconds = parse_duration(args[1])
        except InvalidDuration as e:
            hub.service_notice(s, f"Error: {e}")
            return
        ban = m.ban(resolved[0], seconds, " ".join(args[2:]) or f"muted by {s.nick}")
        hub.client_log(
            s, log.info, "operator %s muted %s until %s", s.nick, resolved[1], human_time(ban.until)
        )
        hub.service_notice(s, f"{resolved[1]} is muted until {human_time(ban.until)}.")
        hub.service_notice_user(
            resolved[0], f"You have been muted by an operator until {human_time(ban.until)}."
        )


RECENT_POSTS = 5  # a complained-about user's newest messages shown with the complaints


def _recent_posts(hub: Hub, s: Session, target: str, name: str, complainers: Iterable[str]) -> None:
    """What the complained-about user said last, in channels and to its complainers (not
    its other private messages), each with the REDACT that deletes it."""
    posts = hub.messenger.posts_by(target, RECENT_POSTS, peers=complainers)
    for p in posts:
        if p.room is not None:
            room = hub.messenger.rooms.get(p.room)
            where = redact_to = room.name if room is not None else p.room
        else:
            where, redact_to = f"to {_name(hub, p.to or '')}", name
        text = p.text if len(p.text) <= 80 else p.text[:79] + "…"
        hub.service_notice(
            s,
            f"  {human_time(p.time)} {where}: {text}  (delete: /quote REDACT {redact_to} "
            f"{p.msgid})",
        )


def _name(hub: Hub, key: str) -> str:
    u = hub.messenger.user(key)
    return hub.display_nick(key, u.name if u is not None else key)
