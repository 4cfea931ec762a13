"""Hard edges: oversize lines, bad bytes, crashing handlers, and never sending a client what it
did not negotiate (adapter tier)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from itertools import combinations

import pytest

from ircd.irc import COMMANDS, feed_lines
from ircd.irc.caps import CAPS
from ircd.irc.hub import Hub
from ircd.irc.registry import FAST, FAST_RUN
from ircd.irc.session import Session
from ircd.wire import Message, TooLong, parse

from .harness import SERVER, Client, Harness, cmds


def test_too_long_line_gets_417_and_the_connection_stays_usable() -> None:
    h = Harness()
    c = h.connect()
    out = c.send_take(TooLong("line"))
    assert [m.format() for m in out] == [f":{SERVER} 417 * :Input line was too long"]
    c.register("alice")
    b = h.user("bob")
    c.take()
    out = c.send_take(TooLong("line"))
    assert [m.format() for m in out] == [f":{SERVER} 417 alice :Input line was too long"]
    out = c.send_take(TooLong("tags"))
    assert [m.format() for m in out] == [f":{SERVER} 417 alice :Message tags too long"]
    assert b.take() == []
    c.send("PRIVMSG #general :still here")
    assert b.take_lines() == [f":{c.session.mask} PRIVMSG #general :still here"]


def test_garbage_lines_are_ignored() -> None:
    h = Harness()
    c = h.user("alice")
    for line in ("", "   ", "@a=b", ":src", "@a :src"):
        assert c.send_take(line) == []
    assert cmds(c.send_take("PING :ok")) == ["PONG"]


def test_cr_and_nul_inside_a_line_do_not_poison_history_or_topic() -> None:
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    # only operators set #general's topic: make alice one, as a server operator could
    h.messenger.set_op(b.session.user_key, "#general", a.session.user_key, True, privileged=True)
    a.send("PRIVMSG #general :a\rb\0c", "TOPIC #general :t\ro\0p", "AWAY :x\ry")
    assert b.take_lines() == [
        f":{a.session.mask} PRIVMSG #general :abc",
        f":{a.session.mask} TOPIC #general :top",
    ]
    # a newcomer gets the topic and the backlog without an internal error
    c = h.connect()
    out = c.register("carol")
    assert not any("Internal error" in m.params[-1] for m in out)
    assert ("carol", "#general", "top") in [m.params for m in out if m.command == "332"]
    assert any(m.params[-1].endswith("abc") for m in out if m.command == "PRIVMSG")
    b.take()
    a.send("QUIT :bye\rnow")
    assert b.take_lines() == [f":{a.session.mask} QUIT :Quit: byenow"]
    assert h.hub.session_by_nick("alice") is None


def test_a_crashing_handler_is_logged_answered_and_the_hub_keeps_working(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(hub: Hub, s: Session, msg: Message) -> None:
        s.send(f":{hub.name} NOTICE {s.nick} :about to fail")
        raise RuntimeError("kaboom")

    monkeypatch.setitem(COMMANDS, "WHOIS", dataclasses.replace(COMMANDS["WHOIS"], handler=boom))
    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    with caplog.at_level(logging.ERROR, logger="ircd.irc.dispatch"):
        out = a.send_take("WHOIS bob")
    assert [m.format() for m in out] == [
        f":{SERVER} NOTICE alice :about to fail",
        f":{SERVER} NOTICE alice :Internal error while handling WHOIS; it has been logged.",
    ]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "WHOIS" in errors[0].getMessage()
    assert errors[0].exc_info is not None and "kaboom" in str(errors[0].exc_info[1])
    # everything else still works, for the same client and the others
    assert cmds(a.send_take("PING :x")) == ["PONG"]
    a.send("PRIVMSG #general :fine")
    assert b.take_lines() == [f":{a.session.mask} PRIVMSG #general :fine"]
    c = h.connect()
    assert c.register("carol")[0].command == "001"


def test_a_crashing_labeled_handler_still_closes_its_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(hub: Hub, s: Session, msg: Message) -> None:
        raise ValueError("nope")

    monkeypatch.setitem(COMMANDS, "TIME", dataclasses.replace(COMMANDS["TIME"], handler=boom))
    h = Harness()
    a = h.user("alice", "labeled-response batch")
    out = a.send_take("@label=T TIME")
    assert len(out) == 1
    assert out[0].tags == {"label": "T"}
    assert out[0].command == "NOTICE"


# ---------------------------------------------------------------------- negotiated-only output

# What each cap allows a client to receive
TAG_NEEDS = {
    "label": "labeled-response",
    "batch": "batch",
    "time": "server-time",
    "msgid": "message-tags",
    "account": "account-tag",
}
COMMAND_NEEDS = {
    "BATCH": "batch",
    "FAIL": "standard-replies",
    "WARN": "standard-replies",
    "NOTE": "standard-replies",
    "TAGMSG": "message-tags",
    "MARKREAD": "draft/read-marker",
    "ACK": "labeled-response",
    "ACCOUNT": "account-notify",
    "AWAY": "away-notify",
}


def _scenario(h: Harness, watcher: Client) -> None:
    """Everything that can produce tags, batches, standard replies or cap-only verbs."""
    full = h.user("full", " ".join(c for c in CAPS if c != "sasl"))
    acct = h.user("acct", "message-tags", password="s3cret-pw")
    # history in #general, so that joining replays it
    full.send("@+draft/reply=x;+typing=active PRIVMSG #general :tagged hello")
    acct.send("PRIVMSG #general :from an account")
    watcher.send("PART #general", "JOIN #general")  # backlog replay
    full.send("@+typing=active TAGMSG #general", f"@+typing=active TAGMSG {watcher.nick}")
    full.send(f"@+x=1 PRIVMSG {watcher.nick} :private tagged", f"NOTICE {watcher.nick} :n")
    acct.send(f"PRIVMSG {watcher.nick} :private from an account")
    full.send("AWAY :away now", "AWAY")
    acct.send("REGISTER acct x@y.z password2")  # FAIL/notice to acct only
    # the watcher's own commands
    watcher.send(
        "@label=a1 WHOIS full",
        "@label=a2 PRIVMSG #general :mine",
        "@label=a3 PING :p",
        "UNREAD",
        "PRIVMSG ghost :nobody",
        "JOIN #side",
        "PRIVMSG #side :alone",
        "CHATHISTORY LATEST #general * 10",
        "DELAY 90s #general :later",
        "REGISTER * x@y.z hunter22",
    )
    h.advance(h.config.server.ping_interval + 1)  # keepalive and delivery-ack PINGs
    for c in (full, acct, watcher):
        c.send(f"PONG :{SERVER}")
    h.advance(30)  # the delayed message goes out
    full.send("PRIVMSG #general :after delay")
    assert watcher.session in h.hub.sessions


CAP_SETS = [
    (),
    ("message-tags",),
    ("server-time",),
    ("batch",),
    ("echo-message",),
    ("labeled-response",),
    ("draft/chathistory",),
    ("batch", "server-time"),
    ("labeled-response", "message-tags"),
    ("labeled-response", "batch"),
    ("away-notify", "account-notify"),
    *combinations(("message-tags", "batch", "echo-message", "standard-replies"), 3),
]


@pytest.mark.parametrize("caps", CAP_SETS, ids=lambda c: "+".join(c) or "none")
def test_no_tag_batch_or_standard_reply_without_negotiation(caps: tuple[str, ...]) -> None:
    h = Harness()
    watcher = h.connect()
    watcher.register("watcher", " ".join(caps))
    _scenario(h, watcher)
    watcher.take()
    enabled = set(watcher.session.caps)
    assert set(caps) <= enabled
    for raw in watcher.raw:
        msg = parse(raw)
        for key in msg.tags or {}:
            if key.startswith("+"):
                need = "message-tags"
            else:
                assert key in TAG_NEEDS, raw
                need = TAG_NEEDS[key]
            assert need in enabled, f"{raw!r} sent without {need}"
        need_cmd = COMMAND_NEEDS.get(msg.command)
        if need_cmd is not None:
            assert need_cmd in enabled, f"{raw!r} sent without {need_cmd}"
        if msg.command == "CAP" and msg.params[1] in ("NEW", "DEL"):
            assert "cap-notify" in enabled, raw
    if not caps:
        assert not any(raw.startswith("@") for raw in watcher.raw)
    # what was negotiated is used (so that this test can fail)
    tags = {k for r in watcher.raw for k in (parse(r).tags or {})}
    if "message-tags" in caps:
        assert {"msgid", "+typing", "+draft/reply"} <= tags
    if "server-time" in caps:
        assert "time" in tags
    if "batch" in caps and ("labeled-response" in caps or "server-time" in caps):
        assert "BATCH" in cmds(map(parse, watcher.raw))
    if "standard-replies" in caps:
        assert "FAIL" in cmds(map(parse, watcher.raw))
    assert any(r.endswith(" PRIVMSG #general :later") for r in watcher.raw)
    # every BATCH started is ended
    refs = [parse(r).params[0] for r in watcher.raw if parse(r).command == "BATCH"]
    assert sorted(r[1:] for r in refs if r[0] == "+") == sorted(r[1:] for r in refs if r[0] == "-")


def test_a_run_handler_that_fails_leaves_the_rest_of_the_run_to_the_fast_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run of lines (``dispatch.feed_lines``) whose handler fails on its second line: that
    line is answered with the internal-error notice, as the fast path's failure would be, and
    the lines after it are still delivered, one at a time (nothing else of the read is lost)."""
    real = FAST_RUN["PRIVMSG "]

    def boom(hub: Hub, s: Session, target: str, texts: Iterator[str]) -> bool:
        FAST["PRIVMSG "](hub, s, target, next(texts))  # the first one, as the fast path does
        next(texts)
        raise RuntimeError("kaboom")

    h = Harness()
    a = h.user("alice")
    b = h.user("bob")
    a.take()
    b.take()
    monkeypatch.setitem(FAST_RUN, "PRIVMSG ", boom)
    with caplog.at_level(logging.ERROR, logger="ircd.irc.dispatch"):
        feed_lines(h.hub, a.session, [f"PRIVMSG bob :line {i}" for i in range(4)])
    assert a.take_lines() == [
        f":{SERVER} NOTICE alice :Internal error while handling PRIVMSG; it has been logged."
    ]
    mask = a.session.mask
    assert b.take_lines() == [f":{mask} PRIVMSG bob :line {i}" for i in (0, 2, 3)]
    assert [r.levelno for r in caplog.records if r.levelno >= logging.ERROR] == [logging.ERROR]
    # the real handler takes the whole of a later run
    monkeypatch.setitem(FAST_RUN, "PRIVMSG ", real)
    feed_lines(h.hub, a.session, [f"PRIVMSG bob :again {i}" for i in range(3)])
    assert b.take_lines() == [f":{mask} PRIVMSG bob :again {i}" for i in range(3)]
    assert a.take_lines() == []
