"""The fast path of ``PRIVMSG``/``NOTICE target :text`` (``registry.fast_path``, taken by
``dispatch.feed``) and the direct format of an untagged relayed post (``lines.post_line``) give
exactly what the general path gives (adapter tier, hypothesis).

Each random line goes to two identical hubs, one with the fast paths and one without: every
client's output, the engine's journal events and its sequence must be the same."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ircd.clock import FakeClock
from ircd.irc import dispatch
from ircd.irc.lines import post_line, safe_line
from ircd.irc.registry import FAST
from ircd.messenger import passwords
from ircd.messenger.model import Post

from .harness import SERVER, Client, Harness, make_config


@contextmanager
def _same_randomness() -> Iterator[None]:
    """secrets.token_hex as a counter: both hubs draw the same ids (guest keys, msgids of
    STATUSMSG posts, batch ids)."""
    counter = itertools.count()

    def token_hex(n: int = 16) -> str:
        return f"{next(counter):0{2 * n}x}"[-2 * n :]

    with mock.patch("secrets.token_hex", token_hex):
        yield


class World:
    """One hub with the clients every line is tried against."""

    def __init__(self) -> None:
        cfg = make_config(
            server={"motd": "", "commands_per_second": 5.0, "command_burst": 8},
            limits={"private_burst": 3, "private_per_second": 1.0},
        )
        with _same_randomness():
            self.h = Harness(cfg)
            self.h.messenger.server_id = "fixed"
            self.alice = self.h.user("alice")
            self.bob = self.h.user("bob")
            self.carol = self.h.user("carol", "echo-message server-time message-tags account-tag")
            self.dave = self.h.user("dave", "echo-message labeled-response batch")
            self.bob2 = self.h.user("erin")  # another user, away
            self.clients = [self.alice, self.bob, self.carol, self.dave, self.bob2]
            self.bob2.send("AWAY :gone fishing")
            self.alice.send("JOIN #chan")
            self.bob.send("JOIN #chan")
            self.alice.send("MODE #chan +v bob")
            self.carol.send("JOIN #chan")
            self.h.advance(3)  # every budget full again
            for c in self.clients:
                c.take_lines()
            self.h.messenger.take_events()

    def run(self, sender: Client, line: str) -> tuple[list[list[str]], list[object], int]:
        with _same_randomness():
            sender.send(line)
            out = [c.take_lines() for c in self.clients]
        return out, self.h.messenger.take_events(), self.h.messenger.seq


@contextmanager
def _general_only() -> Iterator[None]:
    with mock.patch.dict(FAST, clear=True):
        yield


_targets = st.sampled_from(
    [
        "bob", "BOB", "carol", "dave", "erin", "alice", "nobody", "#chan", "#CHAN", "#nochan",
        "#general", "@#chan", "+#chan", "bob,carol", ",bob", "bob,", ":bob", "messenger",
        "Messenger", "b\u00f6b", "#",
    ]
)  # fmt: skip
_texts = st.one_of(
    st.sampled_from(["hi", "hello world", ":colon", " lead", "trail ", "\x01ACTION waves\x01"]),
    st.text(max_size=40),
    st.text(alphabet="ab :,\u00e9\U0001f600\udc80", max_size=20),
    st.integers(400, 520).map(lambda n: "x" * n),
)
# the plain form (what the fast path takes) most of the time, variations of it otherwise
_commands = st.sampled_from(
    ["PRIVMSG", "PRIVMSG", "PRIVMSG", "NOTICE", "NOTICE", "privmsg", "TAGMSG", "PRIVMSG "]
)
_separators = st.sampled_from([" :", " :", " :", " :", " ", "  :", " : ", ""])
_prefixes = st.sampled_from(["", "", "", "", "", "@+typing=active ", "@label=abc ", ":alice "])


@settings(max_examples=250, deadline=None)
@given(
    sender=st.integers(0, 4),
    prefix=_prefixes,
    command=_commands,
    target=_targets,
    sep=_separators,
    text=_texts,
    burst=st.integers(1, 12),
)
@example(sender=0, prefix="", command="PRIVMSG", target="bob", sep=" :", text="hi", burst=1)
@example(sender=0, prefix="", command="PRIVMSG", target="erin", sep=" :", text="hi", burst=1)
@example(sender=2, prefix="", command="PRIVMSG", target="carol", sep=" :", text="me", burst=1)
@example(sender=0, prefix="", command="PRIVMSG", target="bob", sep=" :", text="x", burst=12)
@example(sender=0, prefix="", command="PRIVMSG", target="bob", sep=" :", text="x" * 450, burst=1)
def test_fast_path_answers_as_the_general_path(
    sender: int, prefix: str, command: str, target: str, sep: str, text: str, burst: int
) -> None:
    """modern.ircdocs.horse, PRIVMSG and NOTICE ("PRIVMSG <target>{,<target>} <text to be
    sent>"): whatever the line, the fast path (taken only for its plainest form) and the
    general path give the same replies, deliveries, echoes, tags, away replies, refusals,
    flood-control waits and journal events; ``burst`` repeats the line to reach the limits."""
    line = f"{prefix}{command} {target}{sep}{text}"
    fast, general = World(), World()
    for _ in range(burst):
        got = fast.run(fast.clients[sender], line)
        with _general_only():
            want = general.run(general.clients[sender], line)
        assert got == want, line


def test_the_fast_path_is_taken_for_the_plain_form() -> None:
    """The plain line does not build a Message (so the test above compares two paths)."""
    w = World()
    with mock.patch.object(dispatch, "parse", side_effect=AssertionError("parsed")):
        out, events, _ = w.run(w.alice, "PRIVMSG bob :hello there")
    assert out[1] == [f":{w.alice.session.mask} PRIVMSG bob :hello there"]
    assert len(events) == 1


def _general_post_line(post: Post, target: str, extra: str = "") -> str:
    """post_line as it was for a connection without tags: safe_line with no tags."""
    return safe_line(post.kind, (target, extra + post.text), post.origin, {})


_words = st.text(alphabet="abc!@. :\r\n\0\u00e9", max_size=12)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(["PRIVMSG", "NOTICE"]),
    origin=st.one_of(st.just("alice!a@host"), _words.filter(bool)),
    target=st.one_of(st.just("bob"), _words),
    text=st.one_of(_words, st.integers(90, 520).map(lambda n: "\u00e9" * n)),
    extra=st.sampled_from(["", "[12:00] "]),
)
@example(kind="PRIVMSG", origin="alice!a@host", target="bob", text="x" * 600, extra="")
def test_untagged_post_line_is_the_general_one(
    kind: str, origin: str, target: str, text: str, extra: str
) -> None:
    """modern.ircdocs.horse, "Message format": an untagged relayed post is formatted directly
    when it is a valid line of at most 512 bytes, else repaired and cut by safe_line, exactly as
    before."""
    post = Post(1, "x-1", 0.0, kind, "a", "alice", origin, None, None, "b", "bob", text)
    try:
        want = _general_post_line(post, target, extra)
    except ValueError as e:
        try:
            post_line(post, 0, target, extra)
        except ValueError as e2:
            assert str(e2) == str(e)
            return
        raise AssertionError("the general line raised, the fast one did not") from e
    assert post_line(post, 0, target, extra) == want


# ------------------------------------------------------------------ runs of lines in one read


class RunWorld:
    """One hub with clients of every kind a run of private messages meets: guests, echo-message
    with tags and with labels, an away user, an account on two devices, an offline account,
    the service; a command budget and a private flood allowance small enough to run out."""

    def __init__(self, sendq: int | None, small: int, muted: int | None = None) -> None:
        cfg = make_config(
            server={"motd": "", "commands_per_second": 5.0, "command_burst": 10},
            limits={"private_burst": 4, "private_per_second": 1.0, "messages_per_period": 5},
        )
        # (scrypt with n=16: an account costs microseconds, not 50 ms)
        with _same_randomness(), mock.patch.object(passwords, "SCRYPT_N", 16):
            self.h = Harness(cfg)
            self.h.messenger.server_id = "fixed"
            self.alice = self.h.user("alice")
            self.bob = self.h.user("bob")
            self.carol = self.h.user("carol", "echo-message server-time message-tags account-tag")
            self.dave = self.h.user("dave", "echo-message labeled-response batch standard-replies")
            self.erin = self.h.user("erin")
            self.h.user("frank", password="pw").quit()
            # told frank is offline: the note comes again once he has been online
            self.alice.send("PRIVMSG frank :are you there?")
            self.bob.send("PRIVMSG frank :are you there?")
            self.frank = self.h.user("frank", "echo-message", password="pw")
            self.frank2 = self.h.user("frank", "server-time", password="pw")  # a second device
            gina = self.h.user("gina", password="pw")
            gina.quit()  # an offline account
            self.clients = [
                self.alice, self.bob, self.carol, self.dave, self.erin, self.frank, self.frank2
            ]  # fmt: skip
            self.erin.send("AWAY :gone fishing")
            self.carol.send("MODE carol +B")  # a bot: its posts carry the bot tag
            self.alice.send("JOIN #chan")
            self.bob.send("JOIN #chan")
            self.carol.send("JOIN #chan")
            self.dave.send("JOIN #chan")
            self.frank.send("JOIN #chan")  # (and so does frank2, his other device)
            self.alice.send("JOIN #quiet", "MODE #quiet +m")  # moderated: bob may not speak
            self.bob.send("JOIN #quiet")
            self.h.advance(3)  # every budget full again
            for c in self.clients:
                c.take_lines()
            if muted is not None:  # a muted sender: every post refused
                self.h.messenger.ban(self.clients[muted].session.user_key, 60, "spam")
            if sendq is not None:  # a client whose output overflows during the read
                self.clients[small].session.sendq_limit = sendq
            self.h.messenger.take_events()

    def read(self, sender: Client, lines: list[str], batched: bool) -> tuple[object, ...]:
        """``lines`` as the lines framed from one read of ``sender``: all of them in one
        ``feed_lines`` call (``batched``), or each with its own ``feed``."""
        with _same_randomness():
            if batched:
                dispatch.feed_lines(self.h.hub, sender.session, lines)
            else:
                for line in lines:
                    if sender.session.closing is not None:
                        break  # (as Server._received stops)
                    dispatch.feed(self.h.hub, sender.session, line)
            out = [c.take_lines() for c in self.clients]
        m = self.h.messenger
        # the journal as written: its dicts in order, with their keys in order
        journal = json.dumps(m.take_events())
        # (the budget of a connection that is closing is never used again: a run spends it
        # for its lines up front, also for those its close leaves unread)
        sessions = [
            (c.session.closing, sorted(c.session.told_offline),
             c.session.tokens if c.session.closing is None else None,
             len(c.session.inbox), c.session.last_active)
            for c in self.clients
        ]  # fmt: skip
        # the state (but the password hashes: their salts are random)
        state = re.sub(r'"pw": "[^"]*"', "", json.dumps(m.to_dict(), sort_keys=True))
        return out, journal, m.seq, state, sessions


_run_targets = st.sampled_from(
    ["bob", "BOB", "carol", "dave", "erin", "alice", "frank", "gina", "nobody", "messenger",
     "#chan", "#CHAN", "#quiet", "#nochan", "#general", "@#chan", "bob,carol"]
)  # fmt: skip
_run_texts = st.one_of(
    st.sampled_from(["hi", "hello world", ":colon", "\x01ACTION waves\x01", "help", "x" * 480]),
    st.text(alphabet="ab :\u00e9\U0001f600", min_size=1, max_size=12),
    st.integers(430, 520).map(lambda n: "x" * n),  # too long to relay for some senders
)
# a run: one command and target, several lines
_runs = st.tuples(
    st.sampled_from(["PRIVMSG", "PRIVMSG", "NOTICE"]),
    _run_targets,
    st.lists(_run_texts, min_size=1, max_size=10),
)
_odd_lines = st.sampled_from(
    ["QUIT :bye", "PING :x", "AWAY :brb", "AWAY", "@label=x PRIVMSG bob :hi", "PRIVMSG bob hi",
     "PRIVMSG bob :a\rb", "PRIVMSG bob :a\nb", "PRIVMSG bob :", "PRIVMSG bob :\udc80",
     "JOIN #chan", "NICK bobby", "PRIVMSG  bob :hi", "privmsg bob :hi"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    sender=st.integers(0, 6),
    pieces=st.lists(st.one_of(_runs, _odd_lines), min_size=1, max_size=5),
    sendq=st.one_of(st.none(), st.integers(300, 3000)),
    small=st.integers(0, 6),
    reads=st.integers(1, 3),
    muted=st.one_of(st.none(), st.none(), st.integers(0, 6)),
)
@example(
    sender=0, pieces=[("PRIVMSG", "bob", ["hi"] * 16)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=0, pieces=[("PRIVMSG", "bob", ["hi", "x" * 500])], sendq=None, small=0, reads=1, muted=0
)
@example(
    sender=0, pieces=[("PRIVMSG", "#chan", ["hi"] * 8)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=3, pieces=[("PRIVMSG", "#chan", ["hi"] * 8)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=1, pieces=[("PRIVMSG", "#quiet", ["hi"] * 3)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=2, pieces=[("PRIVMSG", "frank", ["hi"] * 3)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=2, pieces=[("PRIVMSG", "carol", ["me"] * 5)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=0, pieces=[("PRIVMSG", "erin", ["hi"] * 6)], sendq=None, small=0, reads=2, muted=None
)
@example(
    sender=0, pieces=[("PRIVMSG", "gina", ["hi"] * 3)], sendq=None, small=0, reads=2, muted=None
)
@example(
    sender=5, pieces=[("PRIVMSG", "bob", ["hi"] * 3)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=0, pieces=[("PRIVMSG", "frank", ["hi"] * 3)], sendq=None, small=0, reads=1, muted=None
)
@example(
    sender=2, pieces=[("PRIVMSG", "bob", ["a" * 300] * 8)], sendq=1000, small=2, reads=1, muted=None
)
@example(
    sender=3,
    pieces=[("PRIVMSG", "dave", ["a" * 300] * 8)],
    sendq=1000,
    small=3,
    reads=1,
    muted=None,
)
@example(
    sender=0, pieces=[("PRIVMSG", "bob", ["a" * 300] * 8)], sendq=2000, small=1, reads=1, muted=None
)
@example(
    sender=0,
    pieces=[("PRIVMSG", "bob", ["hi", "x" * 500, "hi"]), "QUIT :bye", ("PRIVMSG", "bob", ["x"])],
    sendq=None,
    small=0,
    reads=1,
    muted=None,
)
def test_a_read_with_runs_answers_as_its_lines_one_by_one(
    sender: int,
    pieces: list[tuple[str, str, list[str]] | str],
    sendq: int | None,
    small: int,
    reads: int,
    muted: int | None,
) -> None:
    """modern.ircdocs.horse, PRIVMSG and NOTICE: the lines framed from one read, fed together
    (``dispatch.feed_lines``, which takes a run of plain lines to one target in one engine
    call) and fed one at a time give every client the same bytes in the same order, the same
    journal (event by event, key by key), seq and state: deliveries to every device, echoes,
    away replies, the once-per-connection offline note, too-long lines refused one by one,
    flood refusals from the same line on, the command budget running out mid-run, a QUIT or
    an overflowing output closing a connection mid-run."""
    lines: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            lines.append(piece)
        else:
            cmd, target, texts = piece
            lines += [f"{cmd} {target} :{text}" for text in texts]
    batched, single = RunWorld(sendq, small, muted), RunWorld(sendq, small, muted)
    for _ in range(reads):
        got = batched.read(batched.clients[sender], lines, True)
        want = single.read(single.clients[sender], lines, False)
        assert got == want, lines


class _TickingClock(FakeClock):
    """A clock that moves on 1 ms each time it is read, as a real one does between lines."""

    def now(self) -> float:
        self.t += 0.001
        return self.t


@pytest.mark.parametrize("batched", [True, False])
def test_a_run_is_one_engine_call(batched: bool) -> None:
    """The run of the bench (16 plain lines to one nick in one read) is posted by one engine
    call, at one instant: with a clock that moves whenever it is read, its posts share one
    time, where lines fed one by one each get their own. The private flood allowance (4) lets
    four through and the command budget (10) queues the last six (modern.ircdocs.horse,
    PRIVMSG; ERR_CANTSENDTOUSER for the refused ones)."""
    w = RunWorld(None, 0)
    m = w.h.messenger
    clock = _TickingClock()
    clock.t = w.h.clock.now()
    m.clock = w.h.hub.clock = clock
    before = m.seq
    out, journal, seq, _, _ = w.read(
        w.alice, [f"PRIVMSG bob :line {n}" for n in range(16)], batched
    )
    mask = w.alice.session.mask
    assert out[1] == [f":{mask} PRIVMSG bob :line {n}" for n in range(4)]
    assert seq == before + 4
    assert len(w.alice.session.inbox) == 6
    refused = "Message not sent: you are sending private messages too fast; wait 1s"
    assert out[0] == [f":{SERVER} 531 alice bob :{refused}", f":{SERVER} NOTICE bob :{refused}"] * 6
    times = {e["p"]["ts"] for e in json.loads(str(journal))}
    assert len(times) == (1 if batched else 4)


@pytest.mark.parametrize("batched", [True, False])
def test_a_channel_run_is_one_engine_call(batched: bool) -> None:
    """A run to a channel too (``room_posts``): one instant for its posts; the channel rate
    window (5 per period) lets five through and refuses the rest with 404 (modern.ircdocs.horse,
    ERR_CANNOTSENDTOCHAN); the members get the five."""
    w = RunWorld(None, 0)
    m = w.h.messenger
    clock = _TickingClock()
    clock.t = w.h.clock.now()
    m.clock = w.h.hub.clock = clock
    before = m.seq
    out, journal, seq, _, _ = w.read(
        w.alice, [f"PRIVMSG #chan :line {n}" for n in range(8)], batched
    )
    mask = w.alice.session.mask
    assert out[1] == [f":{mask} PRIVMSG #chan :line {n}" for n in range(5)]
    assert seq == before + 5
    assert [line.split(" ")[1] for line in out[0]] == ["404"] * 3
    times = {e["p"]["ts"] for e in json.loads(str(journal))}
    assert len(times) == (1 if batched else 5)
