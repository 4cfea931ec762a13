"""The fast path of ``PRIVMSG``/``NOTICE target :text`` (``registry.fast_path``, taken by
``dispatch.feed``) and the direct format of an untagged relayed post (``lines.post_line``) give
exactly what the general path gives (adapter tier, hypothesis).

Each random line goes to two identical hubs, one with the fast paths and one without: every
client's output, the engine's journal events and its sequence must be the same."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ircd.irc import dispatch
from ircd.irc.lines import post_line, safe_line
from ircd.irc.registry import FAST
from ircd.messenger.model import Post

from .harness import Client, Harness, make_config


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
