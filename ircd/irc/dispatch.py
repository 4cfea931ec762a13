"""Input: a client's lines, from the framer to their handlers.

``feed_lines`` takes the lines framed from one read: each goes to ``feed``, but a run of
consecutive plain lines of one command to one target goes to its run handler in one call
(``registry.fast_run``). ``feed`` takes one framed line; it is handled at once, or queued
behind earlier lines of the same connection that wait for off-loop work (``defer``) or for the
command budget (a token bucket per connection; ``pump``/``pump_waiting`` resume them).
``dispatch`` runs the generic checks of the command table (451, 461, 421) and the handler, and
captures a labelled command's output to send it as one labelled response (``_emit_labeled``).
``tick`` is the server's once-a-second call: waiting lines, registration and ping timeouts,
keepalives, delivery acks.

The state lives on the Hub (``waiting``, ``offload``, ``wake_at``) and on each Session
(``inbox``, ``held``, ``tokens``, ``label``, ``capture``); this module holds the behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from ..durable import Pending
from ..wire import (
    Message,
    Numeric,
    ParseError,
    TooLong,
    escape_tag_value,
    has_invalid_utf8,
    parse,
)
from .fanout import prune_names
from .hub import Hub
from .lines import add_tag, batch, safe_line
from .registry import COMMANDS, FAST, FAST_RUN, FastHandler
from .replay import push_unpulled, request_ack
from .session import Session
from .welcome import ANSWERED_BEFORE_LANDING, LANDING_PING, land_due

log = logging.getLogger(__name__)

T = TypeVar("T")
# commands that never wait (for the budget or behind other lines): answers to our own PINGs,
# the delivery acks
UNTHROTTLED = frozenset({"PONG"})
# what a client may still do while the shared store is unavailable (Hub.unavailable): only
# reading and leaving, nothing that would need an event appended
READ_ONLY = frozenset(
    {
        "PING", "PONG", "QUIT", "CAP", "NAMES", "WHO", "WHOIS", "WHOWAS", "LIST", "MOTD",
        "LUSERS", "VERSION", "TIME", "ISON", "USERHOST", "HELP", "INFO", "ADMIN", "CHATHISTORY",
        "MONITOR", "USERS",
    }
)  # fmt: skip


# what a node of several (the "redis" backend) answers without the network's write turn: lines
# that decide nothing on the shared state and append no event (a PONG that confirms a delivery
# ack appends one, so it waits; see needs_turn). Their replies show this node's applied state,
# like any read of a replica.
ANSWERED_WITHOUT_TURN = frozenset(
    {
        "PING", "PONG", "NAMES", "WHO", "WHOIS", "WHOWAS", "LIST", "MOTD", "LUSERS", "VERSION",
        "TIME", "ISON", "USERHOST", "HELP", "INFO", "ADMIN", "CHATHISTORY", "MONITOR", "USERS",
    }
)  # fmt: skip


def needs_turn(s: Session, item: str | TooLong) -> bool:
    """Whether this line may decide on the shared state (so waits for the network's turn when
    there are several nodes), from its command alone: False for reads (``ANSWERED_WITHOUT_TURN``,
    a ``MODE`` query with no change, ``CAP LS``/``CAP LIST``), True for everything else, for a
    PONG to a delivery-ack PING (``ack-<seq>``: it appends an ack event) and for any line of a
    session whose next line lands its registration (landing joins channels)."""
    if isinstance(item, TooLong) or s.landing_due:
        return True
    words = item.split(" ", 3)
    i = 0
    if words[0].startswith("@"):
        i = 1
    if i < len(words) and words[i].startswith(":"):
        i += 1
    if i >= len(words):
        return True
    cmd = words[i].upper()
    rest = words[i + 1 :]
    if cmd == "PONG":
        return any("ack-" in w for w in rest)
    if cmd in ANSWERED_WITHOUT_TURN:
        return False
    if cmd == "MODE":  # a query: the target alone (split(" ", 3) keeps any further words)
        return len(rest) != 1 or not rest[0] or rest[0].startswith(":") or " " in rest[0]
    if cmd == "CAP":
        return not rest or rest[0].upper() not in ("LS", "LIST")
    return True


def feed(hub: Hub, s: Session, item: str | TooLong) -> None:
    """One framed line from a client: handled now, or queued behind earlier lines that
    wait (for off-loop work or for the command budget)."""
    if s.closing is not None:
        return
    s.last_active = hub.clock.now()
    s.ping_sent = 0.0
    s.delivery.sent_at_input = s.delivery.sent  # what it could have seen before this line
    if isinstance(item, str):
        if "\r" in item or "\0" in item:
            # a bare CR or a NUL would make every line that echoes this text unsendable
            # (and poison the stored history and topic): drop them
            item = item.replace("\r", "").replace("\0", "")
        sp = item.find(" ")
        fast = FAST.get(item[: sp + 1]) if sp > 0 else None
        if (
            fast is not None
            and s.registered
            and not s.landing_due
            and not s.held
            and not s.inbox
            and hub.unavailable is None
        ):
            # ``PRIVMSG nick :text``: the plain form of a hot command goes to its fast path
            # without a Message (registry.fast_path); anything else takes the general path
            rest = item[sp + 1 :]
            t = rest.find(" ")
            if (
                t > 0
                and rest[t + 1 : t + 2] == ":"
                and len(rest) > t + 2
                and rest[0] != ":"
                and "," not in rest[:t]
                and item[-1] != "\n"
                and (item.isascii() or not has_invalid_utf8(item))
                # (out of budget: the general path queues it)
                and (hub.config.server.commands_per_second <= 0 or _spend(hub, s, None))
            ):
                _run_fast(hub, s, fast, item[:sp], rest[:t], rest[t + 2 :])
                return
        try:
            msg: Message | TooLong = parse(item)
        except ParseError:
            return  # empty or garbage line: ignore, like other servers
    else:
        msg = item
    if isinstance(msg, Message) and msg.command in UNTHROTTLED:
        dispatch(hub, s, msg)  # an ack of what we sent: never waits behind anything
        return
    if s.held or s.inbox or not _spend(hub, s, msg):
        if len(s.inbox) >= hub.config.server.max_queued_commands:
            hub.client_log(s, log.info, "excess flood from %s (%s)", s.nick, s.ip)
            hub.quit(s, "Excess flood")
            return
        s.inbox.append(msg)
        _wait(hub, s)
        return
    _handle(hub, s, msg)


def feed_lines(hub: Hub, s: Session, lines: Sequence[str | TooLong]) -> None:
    """The lines framed from one read of ``s``, in order: what ``feed`` does with each in turn,
    up to the connection's close, except that a run of consecutive plain lines of a command
    with a run handler (``registry.fast_run``) and the same middle param, ``PRIVMSG nick
    :text`` lines pasted or sent in a burst to one target, goes to that handler in one call
    (one engine call for the run, not one per line), with the same output and state."""
    n = len(lines)
    i = 0
    while i < n:
        if s.closing is not None:
            return
        item = lines[i]
        if i + 1 < n and isinstance(item, str):
            j = _run_end(hub, s, lines, i)
            if j > i + 1:
                i = _feed_run(hub, s, lines, i, j)
                continue
        feed(hub, s, item)
        i += 1


def _run_end(hub: Hub, s: Session, lines: Sequence[str | TooLong], i: int) -> int:
    """Where the run that starts with ``lines[i]`` ends (``i`` if it starts none): the lines
    from ``i`` on that each take ``feed``'s fast path, as ``CMD middle :trailing`` with the
    same ``CMD middle`` (a run handler's command), the connection's budget apart."""
    item = lines[i]
    assert isinstance(item, str)
    sp = item.find(" ")
    if sp <= 0:
        return i
    cmd = item[: sp + 1]
    if cmd not in FAST_RUN or cmd not in FAST:
        return i
    t = item.find(" ", sp + 1)  # feed's checks of the middle param, for the whole run
    if t <= sp + 1 or item[t + 1 : t + 2] != ":" or item[sp + 1] == ":" or "," in item[sp:t]:
        return i
    if (
        not s.registered
        or s.landing_due
        or s.held
        or s.inbox
        or hub.unavailable is not None
        or s.side_effects
    ):
        return i
    head = item[: t + 2]
    k = t + 2
    if len(item) <= k:  # (an empty trailing param)
        return i
    j = i + 1
    n = len(lines)
    while j < n:
        x = lines[j]
        if not isinstance(x, str) or not x.startswith(head) or len(x) <= k:
            break
        j += 1
    if j == i + 1:
        return j  # no run
    # feed's checks of each line's text, on the run's lines joined (line by line if they fail):
    # a line with CR or NUL (feed would remove them first), with LF (feed leaves a line ending
    # with LF to the general path), not valid UTF-8
    run = cast("list[str]", lines[i:j])
    block = "".join(run)
    if "\n" in block or "\r" in block or "\0" in block or not _valid(block):
        for m, x in enumerate(run):
            if "\n" in x or "\r" in x or "\0" in x or not _valid(x):
                return i + m
    return j


def _valid(text: str) -> bool:
    return text.isascii() or not has_invalid_utf8(text)


def _feed_run(hub: Hub, s: Session, lines: Sequence[str | TooLong], i: int, j: int) -> int:
    """Handle the run ``lines[i:j]`` (``_run_end``) as ``feed`` would one line at a time, up to
    the first line the command budget does not allow (that one and the rest are left to
    ``feed``, which queues them); returns the index of the first line not handled."""
    now = hub.clock.now()
    s.last_active = now  # what feed sets for each line, the same for all of them
    s.ping_sent = 0.0
    s.delivery.sent_at_input = s.delivery.sent
    end = j
    if hub.config.server.commands_per_second > 0:
        end = i
        while end < j and _spend(hub, s, None):
            end += 1
    if end == i:  # no budget left: feed queues it
        feed(hub, s, lines[i])
        return i + 1
    item = lines[i]
    assert isinstance(item, str)
    sp = item.find(" ")
    t = item.find(" ", sp + 1)
    cmd = item[: sp + 1]
    target = item[sp + 1 : t]
    k = t + 2
    texts = iter([x[k:] for x in cast("list[str]", lines[i:end])])
    if end - i > 1:
        try:
            FAST_RUN[cmd](hub, s, target, texts)
        except Exception:
            # the line it failed on is answered as the fast path's failure is; the lines the
            # handler had not taken yet go on one at a time, as they would have without runs
            hub.client_log(s, log.exception, "error handling %s from %s (%s)", cmd, s.nick, s.ip)
            hub.notice(s, f"Internal error while handling {cmd[:-1]}; it has been logged.")
        finally:
            _end_label(hub, s)
    # what is left: one line, a run its handler leaves to the fast path line by line, the
    # rest of a run after an error (a handled run leaves nothing, or stopped at a close)
    fast = FAST[cmd]
    for text in texts:
        if s.closing is not None:
            break
        _run_fast(hub, s, fast, cmd[:-1], target, text)
    return end


def _run_fast(
    hub: Hub, s: Session, fast: FastHandler, command: str, middle: str, trailing: str
) -> None:
    """A line's fast path, with what ``_dispatch`` does around a handler (a label cannot be:
    the line has no tags)."""
    try:
        fast(hub, s, middle, trailing)
    except Exception:
        hub.client_log(s, log.exception, "error handling %s from %s (%s)", command, s.nick, s.ip)
        hub.notice(s, f"Internal error while handling {command}; it has been logged.")
    finally:
        _end_label(hub, s)


def _handle(hub: Hub, s: Session, msg: Message | TooLong) -> None:
    if isinstance(msg, TooLong):
        hub.client_log(s, log.info, "%s (%s): %s too long", s.nick, s.ip, msg.what)
        text = "Input line was too long" if msg.what == "line" else "Message tags too long"
        hub.reply(s, Numeric.ERR_INPUTTOOLONG, text)
        return
    dispatch(hub, s, msg)


def _spend(hub: Hub, s: Session, msg: Message | TooLong | None) -> bool:
    """Take one command from the connection's budget (a token bucket: a burst, then a
    steady rate); False if there is none left (the line must wait)."""
    rate = hub.config.server.commands_per_second
    if rate <= 0:
        return True
    now = hub.clock.now()
    burst = float(hub.config.server.command_burst)
    if s.tokens < 0:
        s.tokens, s.tokens_at = burst, now
    else:
        s.tokens = min(burst, s.tokens + (now - s.tokens_at) * rate)
        s.tokens_at = now
    if s.tokens < 1:
        return False
    s.tokens -= 1
    return True


def _wait(hub: Hub, s: Session) -> None:
    """``s`` has lines waiting: if for its budget, ask the server to wake us when the next
    command is allowed (a held session is resumed by its off-loop work instead)."""
    if s.held or s in hub.waiting:
        return
    hub.waiting.add(s)
    rate = hub.config.server.commands_per_second
    hub.wake_at(hub.clock.now() + (max(0.0, 1 - s.tokens) / rate if rate > 0 else 0.0))


def pump(hub: Hub, s: Session) -> None:
    """Handle ``s``'s waiting lines, in order, until it is held or out of budget."""
    hub.waiting.discard(s)
    while s.inbox and not s.held and s.closing is None:
        if not _spend(hub, s, s.inbox[0]):
            _wait(hub, s)
            return
        _handle(hub, s, s.inbox.popleft())
    if s.closing is not None:
        s.inbox.clear()


def pump_waiting(hub: Hub) -> None:
    """The server's timer: sessions whose budget has grown handle their waiting lines, and
    welcomed connections that stayed silent get the landing PING."""
    for s in list(hub.waiting):
        pump(hub, s)
    ping_landing(hub)


def ping_landing(hub: Hub) -> None:
    """Send LANDING_PING to each connection silent since its welcome for LANDING_QUIET
    (welcome.py); arm the timer for the next one."""
    now = hub.clock.now()
    while hub.landing:
        when, s = hub.landing[0]
        if when > now:
            hub.wake_at(when)
            return
        hub.landing.popleft()
        if s.landing_due and not s.ping_sent and s.closing is None and s in hub.sessions:
            s.ping_sent = now
            s.send(LANDING_PING)


def defer(hub: Hub, s: Session, work: Callable[[], T], then: Callable[[T], None]) -> None:
    """Run slow ``work`` off the event loop (``offload``: a ``Pending`` of its result, the same
    kind of continuation as a journal append's ``Durable``), then ``then(result)`` on the loop.
    Meanwhile ``s``'s later lines wait, in order; other connections are served. A labeled
    command's response is completed by ``then``."""
    label, captured = s.label, s.capture
    s.label = s.capture = None
    s.held += 1

    def done(result: Pending[T]) -> None:
        s.held -= 1
        if s.closing is None and s in hub.sessions:
            s.label, s.capture = label, captured
            try:
                if result.error is not None:  # the work failed (logged where it ran)
                    hub.notice(s, "Internal error; it has been logged.")
                else:
                    then(result.value)
            except Exception:
                hub.client_log(
                    s, log.exception, "error completing a command from %s (%s)", s.nick, s.ip
                )
                hub.notice(s, "Internal error; it has been logged.")
            finally:
                _end_label(hub, s)
        pump(hub, s)

    hub.offload(work).then(done)


def dispatch(hub: Hub, s: Session, msg: Message) -> None:
    landing = s.landing_due  # registered by an earlier line: this one lands it (welcome.py)
    if landing and msg.command not in ANSWERED_BEFORE_LANDING:
        land_due(hub, s)
    _dispatch(hub, s, msg)
    if landing:
        land_due(hub, s)


def _dispatch(hub: Hub, s: Session, msg: Message) -> None:
    spec = COMMANDS.get(msg.command)
    if msg.tags and "label" in msg.tags and "labeled-response" in s.caps:
        s.label = msg.tags["label"][:64]
        s.capture = []
    try:
        if _invalid_utf8(msg):
            _refuse_invalid_utf8(hub, s, msg)
        elif spec is None:
            if s.registered:
                hub.reply(s, Numeric.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
            else:
                hub.reply(s, Numeric.ERR_NOTREGISTERED, "You have not registered")
        elif not s.registered and not spec.before_registration:
            hub.reply(s, Numeric.ERR_NOTREGISTERED, "You have not registered")
        elif len(msg.params) < spec.min_params or (
            spec.min_params and not msg.params[spec.min_params - 1]
        ):
            hub.reply(s, Numeric.ERR_NEEDMOREPARAMS, msg.command, "Not enough parameters")
        elif hub.unavailable is not None and msg.command not in READ_ONLY:
            _refuse(hub, s, msg.command, hub.unavailable)
        else:
            spec.handler(hub, s, msg)
    except Exception:
        # the last resort: every bad input must have its own error reply (tests/irc/test_fuzz.py
        # checks that no line gets here)
        hub.client_log(
            s, log.exception, "error handling %s from %s (%s)", msg.command, s.nick, s.ip
        )
        hub.notice(s, f"Internal error while handling {msg.command}; it has been logged.")
    finally:
        _end_label(hub, s)  # unless the command was deferred: then its continuation does


def _refuse(hub: Hub, s: Session, command: str, why: str) -> None:
    """The store is unavailable: ``command`` is refused with ``why``, at once (not behind the
    output held for the store)."""
    saved, s.capture = s.capture, []
    try:
        hub.fail(s, command, "TEMPORARILY_UNAVAILABLE", text=why)
        lines = s.capture
    finally:
        s.capture = saved
    hub.urgent(s, lines)


def _invalid_utf8(msg: Message) -> bool:
    if has_invalid_utf8(msg.command) or any(map(has_invalid_utf8, msg.params)):
        return True
    tags = msg.tags
    return tags is not None and any(has_invalid_utf8(k + v) for k, v in tags.items())


def _refuse_invalid_utf8(hub: Hub, s: Session, msg: Message) -> None:
    """We advertise UTF8ONLY: a line that is not valid UTF-8 is refused whole, not altered,
    and nothing of it is relayed or stored (ircv3.net UTF8ONLY: servers "MUST NOT relay
    content ... containing non-UTF-8 data"; "When sent with the FAIL command, [INVALID_UTF8]
    indicates that the client's message was rejected"; ``FAIL *`` when the command name
    itself cannot be decoded). FAIL to every client, as the spec's examples show."""
    command = "*" if has_invalid_utf8(msg.command) else msg.command
    text = "Message rejected: it is not valid UTF-8; set your IRC client to UTF-8"
    s.send(safe_line("FAIL", (command, "INVALID_UTF8", text), hub.name))


def _end_label(hub: Hub, s: Session) -> None:
    label, s.label = s.label, None
    if label is not None:
        lines, s.capture = s.capture or [], None
        _emit_labeled(hub, s, label, lines)
    if s.side_effects:  # (a message to oneself, delivered: after the response, unlabeled)
        later, s.side_effects = s.side_effects, []
        for line in later:
            s.send(line)


def _emit_labeled(hub: Hub, s: Session, label: str, lines: list[str]) -> None:
    tag = "label=" + escape_tag_value(label)
    if not lines:
        s.send(f"@{tag} :{hub.name} ACK")
    elif len(lines) == 1 or "batch" not in s.caps:
        # no batch negotiated: never send BATCH; the label goes on the first line only
        s.send(add_tag(lines[0], tag))
        for line in lines[1:]:
            s.send(line)
    else:
        for line in batch(hub.name, hub.batch_id(), "labeled-response", (), lines, tag=tag):
            s.send(line)


def tick(hub: Hub) -> None:
    """Called about once a second by the server: timeouts, keepalives, delivery acks."""
    now = hub.clock.now()
    cfg = hub.config.server
    pump_waiting(hub)
    if now - hub.pruned_at >= 60:
        hub.pruned_at = now
        hub.throttle.prune(now)
        prune_names(hub)
    for s in list(hub.sessions):
        if s.closing is not None:
            continue
        idle = now - s.last_active
        if not s.registered:
            if now - s.created > cfg.registration_timeout:
                hub.client_log(s, log.info, "registration timeout for %s", s.ip)
                hub.quit(s, "Registration timeout")
            continue
        if s.landing_due and not s.ping_sent:  # silent since its welcome: its PONG lands it
            s.ping_sent = now
            s.send(LANDING_PING)
        if idle > cfg.ping_timeout:
            hub.client_log(s, log.info, "ping timeout for %s (%s)", s.nick, s.ip)
            hub.quit(s, f"Ping timeout: {int(idle)} seconds")
            continue
        if idle > cfg.ping_interval and not s.ping_sent:
            s.ping_sent = now
            s.send(f"PING :{hub.name}")
        if s.pull_deadline and now >= s.pull_deadline:
            push_unpulled(hub, s)
        request_ack(hub, s, periodic=True)
