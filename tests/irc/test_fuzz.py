"""Property-based fuzzing of every verb in the command table (adapter tier, hypothesis).

Each example builds a small world (a guest ``bob``, an account ``carol`` with every cap, some
history, a scheduled message), puts one more connection in some state before or after
registration, and sends it one to four hostile lines through the real framer: Unicode digits,
spaces where a middle param goes, empty params, ':' prefixes, 500-byte params, control
characters, CR/LF/NUL, tags, numbers out of range, and references that look valid (real msgids,
the current time, year 1, year 9999). Then it checks:

* no exception escapes ``feed``; nothing reaches the catch-all in ``dispatch`` (dispatch.py; no
  "Internal error" notice, no log record with a traceback, nothing at ERROR);
* every line sent to anyone is well-formed: valid UTF-8, no CR/LF/NUL inside, it parses, and it
  is at most 512 bytes with CRLF apart from its tags (modern.ircdocs.horse, "Message format"),
  with a tag section within the IRCv3 limit (ircv3.net message-tags, "Size limit");
* the hub still works for a bystander: ``bob`` gets a PONG and a private message from a
  newcomer, who can register;
* the state still loads, from a snapshot and from the journal, and the accounts log in again.

In the suite it is small and derandomized (reproducible, no example database). To hunt for
bugs, run it with more, random examples: ``FUZZ_EXAMPLES=20000 pytest tests/irc/test_fuzz.py``.

PYTEST_DONT_REWRITE (the failure messages say what is wrong; rewritten asserts would print
every 500-byte line three times)
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ircd.config import OperatorConfig
from ircd.irc import COMMANDS, Hub, feed
from ircd.irc.caps import CAPS
from ircd.irc.timefmt import iso_time
from ircd.messenger import Messenger, passwords
from ircd.server import rules_from
from ircd.wire import MAX_TAGS, LineFramer, casefold, escape_tag_value, parse

from .harness import Client, Harness, make_config

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
PER_VERB = settings(
    max_examples=max(1, EXAMPLES // 40) if EXAMPLES else 5,
    deadline=None,
    derandomize=not EXAMPLES,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MIXED = settings(PER_VERB, max_examples=EXAMPLES or 80)

VERBS = sorted(COMMANDS)

# ---------------------------------------------------------------------- hostile values

UNICODE_DIGITS = "²³¹⁰٣١۴०১๓１９"


def words(text: str) -> list[str]:
    return text.split()


# {placeholders} become real values of the example's world (see _fill)
NUMBERS = st.one_of(
    st.sampled_from(words("0 1 5 20 302 -1 +1 007 1e3 0x10 1_0 ² 3² {delay} {seq} 9999999999999")),
    st.sampled_from([" 1", "9" * 19, "9" * 400]),
    st.integers(0, 10**25).map(str),
    st.text(alphabet="0123456789" + UNICODE_DIGITS, min_size=1, max_size=22),
)
NAMES = st.one_of(  # the names that exist, more often than the ones that do not
    st.sampled_from(words("#general bob carol {nick} Messenger #new")),
    st.sampled_from(
        words("#GENERAL # ## #a,#b,#c #é☃ BOB alice nickserv * 0 nobody bob,carol,#general,x")
        + words("oper1 zed -x 1bob bob!u@h")
        + ["#" + "x" * 60, "a" * 31]
    ),
)
REFS = st.sampled_from(
    words("* {msgid} msgid={msgid} msgid={sid}-² msgid={sid}-99999999999999999999 msgid= msgid=-")
    + words("timestamp={now} timestamp={past} timestamp= timestamp=nan timestamp=2023-W46-2")
    + words("timestamp=0001-01-01T00:00:00+23:59 timestamp=9999-12-31T23:59:59-23:59")
    + words("timestamp=1970-01-01T00:00:00Z timestamp=２０２３-11-14T22:13:20Z")
    + words("timestamp=99999-01-01T00:00:00Z")
)
TIMES = st.sampled_from(
    words("{future} {now} {past} 0001-01-01T00:00:00+23:59 9999-12-31T23:59:59-23:59 T")
    + words("2023-11-14T22:20Z tomorrow 2023-11-14T22:20:00+99:00")
    + [""]
)
DURATIONS = st.sampled_from(words("5 1 0 90s 1h30m 7d 8d 99999999999d 1d1d 5m5m -5 ²m 1s"))
SUBCOMMANDS = st.sampled_from(
    words("LS LIST REQ END ls NEW ACK LATEST BEFORE AFTER AROUND BETWEEN TARGETS latest AT")
    + words("CANCEL LIST DEL rm PLAIN * +")
)
CAP_WORDS = st.lists(
    st.sampled_from([*CAPS, *(f"-{c}" for c in CAPS), "bogus", "sasl=PLAIN", "-"]), max_size=30
).map(" ".join)
SERVICE_WORDS = st.lists(
    st.sampled_from(
        words("delay delays cancel complain unread quota set backlog timestamps on off always")
        + words("never help mute unban bans complaints at list bob carol #general 5 1h {delay}")
        + words("² {future} {past} hello nosuchnick Messenger alice")
    ),
    max_size=8,
).map(" ".join)
MODES = st.sampled_from(words("+o -o +v +b b +ntov +B -B +i o +e I +k +t -t"))
SASL = st.sampled_from(
    [
        base64.b64encode(b"\0alice\0alicepw").decode(),
        base64.b64encode(b"carol\0carol\0wrong").decode(),
        base64.b64encode(b"\0\0").decode(),
        base64.b64encode("\0é\0☃".encode()).decode(),
        base64.b64encode(b"\xff\xfe\0x\0y").decode(),
        *words("PLAIN plain EXTERNAL + * = not-base64!"),
        "A" * 400,
    ]
)
# a long param, cheaply: a short piece repeated up to (and past) the line limit
LONG = st.builds(
    lambda piece, n: (piece * n)[:520], st.text(min_size=1, max_size=3), st.integers(60, 520)
)
TEXT = st.one_of(
    st.sampled_from(["", " ", ":", "::x", "a b", "\x01ACTION waves\x01", "\x01VERSION\x01"]),
    st.sampled_from(["\x00", "\r", "\x7f", "\x1b[31m", "\u202e", "\ufeff", "\uffff"]),
    st.sampled_from(["é" * 300, "😀" * 130, "x" * 505, "hello", "a,b,c", "=;\\@!", "n!u@h"]),
    st.sampled_from(["{msgid}", "{now}"]),
    st.text(max_size=30),
    LONG,
)
ANY = st.one_of(NUMBERS, NAMES, REFS, TIMES, DURATIONS, SUBCOMMANDS, MODES, TEXT)


def slot(*valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A param: mostly one of the values that make sense there, else anything hostile."""
    sensible = st.one_of(*valid)  # (one_of flattens: nesting gives no weight)
    return st.integers(0, 3).flatmap(lambda k: sensible if k else ANY)


# the params each verb looks at, in order; more random ones may follow
TEMPLATES: dict[str, list[st.SearchStrategy[str]]] = {
    "AUTHENTICATE": [slot(SASL)],
    "AWAY": [slot(TEXT)],
    "CAP": [slot(SUBCOMMANDS), slot(NUMBERS, CAP_WORDS)],
    "CHATHISTORY": [
        *(slot(SUBCOMMANDS), slot(NAMES, REFS), slot(REFS), slot(REFS, NUMBERS), slot(NUMBERS))
    ],
    "COMPLAIN": [slot(NAMES), slot(TEXT)],
    "DELAY": [slot(DURATIONS, SUBCOMMANDS), slot(NAMES, TIMES, NUMBERS), slot(NAMES, TEXT)],
    "HELP": [slot(st.sampled_from([*VERBS, "delay", "*"]))],
    "HELPOP": [slot(st.sampled_from([*VERBS, "delay", "*"]))],
    "INFO": [slot(NAMES)],
    "LINKS": [slot(NAMES), slot(NAMES)],
    "KILL": [slot(NAMES), slot(TEXT)],
    "WALLOPS": [slot(TEXT)],
    "REDACT": [
        slot(NAMES),
        slot(st.sampled_from(["{msgid}", "x-1", "-", "x-99999999999"])),
        slot(TEXT),
    ],
    "SETNAME": [slot(TEXT)],
    "CHGHOST": [slot(NAMES), slot(NAMES, TEXT)],
    "ISON": [slot(NAMES), slot(NAMES)],
    "JOIN": [slot(NAMES), slot(TEXT)],
    "KICK": [slot(NAMES), slot(NAMES), slot(TEXT)],
    "MARKREAD": [slot(NAMES), slot(REFS)],
    "MESSENGER": [slot(SERVICE_WORDS)],
    "MODE": [slot(NAMES), slot(MODES), slot(NAMES)],
    "NICK": [slot(NAMES)],
    "NOTICE": [slot(NAMES), slot(TEXT, SERVICE_WORDS)],
    "OPER": [slot(st.sampled_from(["oper1", "OPER1", "nobody"])), slot(st.just("secret"))],
    "PART": [slot(NAMES), slot(TEXT)],
    "PASS": [slot(st.sampled_from(["alicepw", "alice:alicepw", "carol:wrong", "x" * 400]))],
    "PING": [slot(TEXT)],
    "PONG": [slot(st.sampled_from(["ack-1", "ack-{seq}", "ack-²", "ack-", "ack--1"]))],
    "PRIVMSG": [slot(NAMES), slot(TEXT, SERVICE_WORDS)],
    "QUIT": [slot(TEXT)],
    "REGISTER": [slot(NAMES), slot(st.sampled_from(["*", "a@b.c"])), slot(TEXT)],
    "TAGMSG": [slot(NAMES)],
    "TOPIC": [slot(NAMES), slot(TEXT)],
    "USER": [slot(NAMES), slot(NUMBERS), slot(TEXT), slot(TEXT)],
    "USERHOST": [slot(NAMES), slot(NAMES)],
    "WHO": [slot(NAMES), slot(st.sampled_from(["%tcuihsnfdlaor,42", "%n,²", "%", "%t,9999"]))],
    "WHOIS": [slot(NAMES), slot(NAMES)],
    "WHOWAS": [slot(NAMES), slot(NUMBERS)],
}

TAG_KEYS = st.sampled_from(
    ["label", "+draft/reply", "+typing", "batch", "time", "msgid", "account", "+x", "+", ""]
)


@st.composite
def tag_section(draw: st.DrawFn) -> str:
    items = []
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.one_of(TAG_KEYS, st.text(max_size=12)))
        value = draw(st.one_of(st.just(""), TEXT, REFS))
        raw = draw(st.booleans())  # as is (hostile), or escaped (valid)
        value = value if raw else escape_tag_value(value)
        items.append(f"{key}={value}" if value else key)
    return "@" + ";".join(items) + " "


@st.composite
def line_for(draw: st.DrawFn, verb: str) -> bytes:
    """One raw line (without CRLF) for ``verb``, as a client could send it."""
    params = [draw(s) for s in TEMPLATES.get(verb, [])]
    if draw(st.integers(0, 3)) == 0:
        params = params[: draw(st.integers(0, len(params)))]  # fewer params than expected
    if draw(st.integers(0, 3)) == 0:
        params += draw(st.lists(ANY, min_size=1, max_size=3))  # more
    shown = verb if draw(st.integers(0, 4)) else verb.lower()
    trailing = bool(params) and draw(st.booleans())  # the last param as a trailing one
    if draw(st.integers(0, 2)) == 0:
        # just under the 510 bytes a client line may have: the longest text that gets in,
        # which every reply that echoes it must still fit in 512 bytes
        if not params:
            params.append("")
        pad = draw(st.sampled_from(["x", "é", "😀", "€", "a b"]))
        trailing = True
        head = " ".join([shown, *params]) + " :"
        room = 510 - draw(st.sampled_from([0, 1, 3, 12, 40])) - len(head.encode())
        params[-1] += pad * max(0, room // len(pad.encode()))
    if trailing:
        params[-1] = ":" + params[-1]
    tags = draw(tag_section()) if draw(st.integers(0, 3)) == 0 else ""
    line = tags + " ".join([shown, *params])
    return line.encode("utf-8", "surrogatepass") + draw(
        st.sampled_from([b"", b"", b"", b"", b"\xff", b"\xc3", b"\r", b"\0", b"\n\n"])
    )


@st.composite
def any_line(draw: st.DrawFn) -> bytes:
    return draw(line_for(draw(st.sampled_from(VERBS))))


# ---------------------------------------------------------------------- the world


@dataclasses.dataclass
class World:
    h: Harness
    bob: Client
    carol: Client
    actor: Client
    values: dict[str, str]
    newcomers: int = 0

    def clients(self) -> list[Client]:
        return [self.bob, self.carol, self.actor]


ALL_CAPS = " ".join(c for c in CAPS if c != "sasl")
BEFORE_STATES = ["fresh", "nick", "user", "cap-302", "cap-sasl", "pass"]
AFTER_STATES = ["guest", "account", "oper", "all-caps-account", "all-caps-guest", "some-caps"]


@pytest.fixture(scope="module", autouse=True)
def cheap_passwords() -> Iterator[None]:
    """scrypt with n=16: logins in every example cost microseconds, not 50 ms."""
    mp = pytest.MonkeyPatch()
    mp.setattr(passwords, "SCRYPT_N", 16)
    yield
    mp.undo()


def make_world(state: str, caps: frozenset[str]) -> World:
    cfg = make_config(server={"motd": "fuzz"})
    oper_hash = passwords.hash_password("secret")
    cfg = dataclasses.replace(cfg, operators=(OperatorConfig("oper1", oper_hash),))
    h = Harness(cfg)
    bob = h.user("bob")
    carol = h.user("carol", ALL_CAPS, password="carolpw")
    carol.send("PRIVMSG #general :hello from carol", "DELAY 5 #general :later")
    bob.send("PRIVMSG carol :hi carol", "PRIVMSG #general :hello from bob")
    actor = h.connect()
    if state == "nick":
        actor.send("NICK alice")
    elif state == "user":
        actor.send("USER alice 0 * :Alice")
    elif state == "cap-302":
        actor.send("CAP LS 302")
    elif state == "cap-sasl":
        actor.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
    elif state == "pass":
        actor.send("PASS alicepw", "NICK alice")
    elif state in ("guest", "all-caps-guest"):
        actor.register("alice", ALL_CAPS if state == "all-caps-guest" else "")
    elif state == "some-caps":
        actor.register("alice", " ".join(sorted(caps)), password="alicepw")
    elif state in ("account", "oper", "all-caps-account"):
        actor.register("alice", ALL_CAPS if state == "all-caps-account" else "", password="alicepw")
        if state == "oper":
            actor.send("OPER oper1 secret")
    post = h.messenger.backlog(h.hub.general_key, 1)[0]
    now = h.clock.now()
    values = {
        "{msgid}": post.msgid,
        "{sid}": h.messenger.server_id,
        "{seq}": str(h.messenger.seq),
        "{delay}": str(max((it.id for it in h.messenger.scheduled.values()), default=1)),
        "{now}": iso_time(now),
        "{past}": iso_time(now - 3600),
        "{future}": iso_time(now + 600),
        "{nick}": actor.session.nick,
    }
    world = World(h, bob, carol, actor, values)
    for c in world.clients():
        c.take_lines()
    return world


def _fill(raw: bytes, values: dict[str, str]) -> bytes:
    for key, value in values.items():
        raw = raw.replace(key.encode(), value.encode())
    return raw


# ---------------------------------------------------------------------- the checks


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_logs() -> Iterator[Records]:
    """Every log record of the server (hypothesis does not mix with pytest's caplog)."""
    handler = Records()
    logger = logging.getLogger("ircd")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def assert_no_crash(records: Records) -> None:
    for r in records.records:
        assert r.exc_info is None, f"traceback logged: {r.getMessage()}"
        assert r.levelno < logging.ERROR, f"error logged: {r.getMessage()}"


def check_output(c: Client) -> list[str]:
    """Take ``c``'s output and check that every line is a well-formed IRC line."""
    # take_lines decodes strictly (what we send is valid UTF-8) and checks the CRLF framing
    lines = c.take_lines()
    for line in lines:
        assert line, "an empty line was sent"
        assert "\r" not in line and "\n" not in line and "\0" not in line, repr(line)
        assert "Internal error" not in line, line
        parse(line)  # raises if it does not parse
        tags, body = ("", line)
        if line.startswith("@"):
            tags, _, body = line.partition(" ")
        assert len(body.encode()) + 2 <= 512, f"{len(body.encode()) + 2} bytes: {line[:120]!r}"
        assert len(tags.encode()) + 1 <= MAX_TAGS, f"tag section of {len(tags)} bytes"
    return lines


def check_everyone(world: World) -> None:
    for c in world.clients():
        check_output(c)


def check_bystanders(world: World) -> None:
    """Others are still served: bob answers, a newcomer can register and reach bob."""
    h, bob = world.h, world.bob
    world.newcomers += 1
    zed = h.connect()
    zed.send(f"NICK zed{world.newcomers}", "USER zed 0 * :Zed")
    assert any(" 001 " in line for line in check_output(zed)), zed.raw
    if bob.session.closing is None:  # only an operator can remove bob (KILL-free: never)
        bob.send("PING :alive")
        assert any(line.endswith(" :alive") for line in check_output(bob)), bob.raw[-5:]
        zed.send("PRIVMSG bob :are you there")
        assert any("are you there" in line for line in check_output(bob)), bob.raw[-5:]
        check_output(zed)
        # whatever the actor did to bob (an operator's mute with a long reason...), what bob
        # is told when he speaks is well-formed too
        bob.send("PRIVMSG carol :me too", "PRIVMSG #general :still here", "DELAY 1 carol :x")
        check_everyone(world)


def check_restart(world: World) -> None:
    """The state loads from a snapshot (through JSON, as the store writes it) and from the
    journal, and the accounts can log in again with every cap."""
    h = world.h
    rules = rules_from(h.config)
    snapshot = json.loads(json.dumps(h.messenger.to_dict()))
    from_snapshot = Messenger.from_dict(snapshot, h.clock, rules)
    from_journal = Messenger(h.clock, rules)
    from_journal.replay(h.messenger.take_events())  # the harness never takes them itself
    for m in (from_snapshot, from_journal):
        general = h.config.chat.general_channel
        m.ensure_room(casefold(general), general)
        again = Harness(h.config)
        again.clock = h.clock
        again.messenger = m
        again.hub = Hub(h.config, m, h.clock)
        for nick, password in (("carol", "carolpw"), ("alice", "alicepw")):
            c = again.connect()
            c.send("CAP LS 302", f"CAP REQ :{ALL_CAPS}", f"PASS {password}", f"NICK {nick}")
            c.send(f"USER {nick} 0 * :{nick}", "CAP END")
            lines = check_output(c)
            if nick == "carol":  # nobody else knows carol's password: she gets in
                assert c.session.registered, lines[-5:]


def run_lines(world: World, raws: list[bytes], advance: int) -> None:
    framer = LineFramer()
    h = world.h
    for i, raw in enumerate(raws):
        for item in framer.feed(_fill(raw, world.values) + b"\r\n"):
            feed(h.hub, world.actor.session, item)
        check_everyone(world)
        if advance and i == 0:  # time passes: timers, due messages, ping timeouts
            for c in (world.bob, world.carol):
                c.send("PONG :x")
            h.advance(advance)
            check_everyone(world)


def fuzz_once(world: World, raws: list[bytes], advance: int) -> None:
    with captured_logs() as records:
        run_lines(world, raws, advance)
        check_bystanders(world)
        check_restart(world)
    assert_no_crash(records)


# ---------------------------------------------------------------------- the tests

STATE_CAPS = st.frozensets(st.sampled_from([c for c in CAPS if c != "sasl"]))
ADVANCE = st.sampled_from([0, 0, 0, 1, 61, 301, 3600])


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("verb", VERBS)
@PER_VERB
@given(data=st.data())
def test_every_verb_with_hostile_params(verb: str, phase: str, data: st.DataObject) -> None:
    """Every verb in the command table, from a connection before or after registration."""
    states = BEFORE_STATES if phase == "before" else AFTER_STATES
    state = data.draw(st.sampled_from(states), label="state")
    world = make_world(state, data.draw(STATE_CAPS, label="caps"))
    first = data.draw(line_for(verb), label="line")
    more = data.draw(st.lists(line_for(verb), max_size=2), label="more")
    fuzz_once(world, [first, *more], data.draw(ADVANCE, label="advance"))


@MIXED
@given(
    state=st.sampled_from(BEFORE_STATES + AFTER_STATES),
    caps=STATE_CAPS,
    raws=st.lists(any_line(), min_size=1, max_size=6),
    advance=ADVANCE,
)
def test_mixed_hostile_lines(
    state: str, caps: frozenset[str], raws: list[bytes], advance: int
) -> None:
    fuzz_once(make_world(state, caps), raws, advance)


def test_the_checks_catch_what_they_are_for() -> None:
    """Guard against a fuzz test that cannot fail: each check rejects its kind of bad output."""
    h = Harness()
    c = h.user("alice")
    c.take_lines()
    for bad in ("x" * 600, "PING :a\0b", ":src"):
        c.session.send(bad)
        with pytest.raises((AssertionError, ValueError)):
            check_output(c)
    c.session.send(f":{h.hub.name} NOTICE alice :Internal error while handling X")
    with pytest.raises(AssertionError):
        check_output(c)
    with captured_logs() as records:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("ircd.irc.dispatch").exception("caught")
    with pytest.raises(AssertionError):
        assert_no_crash(records)
