"""render: event -> one terminal line (pure; fixed time zone and "now")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bridge import events as ev
from bridge.render import clean, render, stamp

UTC = timezone.utc
NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
T = datetime(2026, 5, 1, 12, 5, 9, tzinfo=UTC)
YESTERDAY = datetime(2026, 4, 30, 23, 59, tzinfo=UTC)


def r(event: ev.Event) -> str | None:
    return render(event, tz=UTC, now=NOW)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        # messages: time, target, sender
        (ev.Chat(T, "alice", "#general", "hello"), "[12:05] #general <alice> hello"),
        (ev.Chat(T, "carol", "#general", "mine", own=True), "[12:05] #general <carol> mine"),
        (ev.Chat(T, "alice", "#general", "waves", "action"), "[12:05] #general * alice waves"),
        (ev.Chat(T, "alice", "#general", "psst", "notice"), "[12:05] #general -alice- psst"),
        # private messages look different
        (
            ev.Chat(T, "bob", "carol", "hi", private=True),
            "[12:05] *private* <bob → carol> hi",
        ),
        (
            ev.Chat(T, "carol", "bob", "hi back", private=True, own=True),
            "[12:05] *private* <carol → bob> hi back",
        ),
        (
            ev.Chat(T, "bob", "carol", "waves", "action", private=True),
            "[12:05] *private* * bob waves (to carol)",
        ),
        (
            ev.Chat(T, "Messenger", "carol", "note", "notice", private=True),
            "[12:05] -Messenger- note",
        ),
        (
            ev.Chat(T, "carol", "bob", "note", "notice", private=True, own=True),
            "[12:05] *private* -carol → bob- note",
        ),
        # stored messages from another day carry their date
        (
            ev.Chat(YESTERDAY, "bob", "#general", "old", context="history"),
            "[2026-04-30 23:59] #general <bob> old",
        ),
        (
            ev.ServerNotice(T, "Messenger", "Scheduled message #3 to #general was sent."),
            "[12:05] -Messenger- Scheduled message #3 to #general was sent.",
        ),
        (
            ev.ServerNotice(T, "irc.example", "*** Replaying 2 messages", "#general"),
            "[12:05] #general -irc.example- *** Replaying 2 messages",
        ),
        # blocks
        (ev.BlockStart("history", "#general"), "=== history of #general ==="),
        (ev.BlockStart("unread", "#general"), "=== unread in #general ==="),
        (ev.BlockStart("history", "bob"), "=== history with bob ==="),
        (ev.BlockStart("unread", "bob"), "=== unread with bob ==="),
        (
            ev.BlockEnd("history", "#general", 3, T),
            "=== end of history of #general (3 messages) ===",
        ),
        (ev.BlockEnd("unread", "bob", 1, T), "=== end of unread with bob (1 message) ==="),
        (ev.BlockEnd("history", "#empty", 0), "=== no stored messages for #empty ==="),
        (ev.BlockEnd("unread", "#general", 0), None),
        # channel life
        (ev.Joined("alice", "#general"), "*** alice joined #general"),
        (ev.Joined("carol", "#general", own=True), "*** You joined #general"),
        (ev.Parted("alice", "#general", "bye"), "*** alice left #general (bye)"),
        (ev.Parted("carol", "#x", own=True), "*** You left #x"),
        (ev.Kicked("bob", "#x", "op", "flood"), "*** bob was kicked from #x by op (flood)"),
        (ev.Kicked("carol", "#x", "op", own=True), "*** You were kicked from #x by op"),
        (ev.Quit("alice", "Quit: gone"), "*** alice quit (Quit: gone)"),
        (ev.Quit("alice"), "*** alice quit"),
        (ev.NickChanged("alice", "alicia"), "*** alice is now known as alicia"),
        (ev.NickChanged("carol", "caro", own=True), "*** You are now known as caro"),
        (ev.Topic("#general", "Be nice"), "*** Topic of #general: Be nice"),
        (ev.Topic("#general", "New", "op"), "*** op set the topic of #general: New"),
        (
            ev.Names("#general", ("alice", "bob")),
            "*** In #general: alice, bob (2 users)",
        ),
        (
            ev.WhoList(
                "#general",
                (ev.WhoEntry("alice", "~a@h", op=True), ev.WhoEntry("bob", "~b@h", away=True)),
            ),
            "*** /who #general: @alice, bob (away) (2 users)",
        ),
        (
            ev.WhoList("bob", (ev.WhoEntry("bob", "~bob@127.0.0.1"),)),
            "*** /who bob: bob is online as ~bob@127.0.0.1",
        ),
        (ev.WhoList("zed", ()), "*** /who zed: nobody"),
        (ev.Away("bob", "lunch"), "*** bob is away: lunch"),
        # our server's replies
        (
            ev.DelayScheduled("7", "#general", T, "Message #7 to #general scheduled ..."),
            "* Scheduled message #7 to #general for 12:05 (cancel with /cancel 7)",
        ),
        (
            ev.DelayScheduled("8", "bob", YESTERDAY + timedelta(days=2), "..."),
            "* Scheduled message #8 to bob for 2026-05-02 23:59 (cancel with /cancel 8)",
        ),
        (
            ev.DelayEntry(
                "7", "#general", T, "#7 to #general at 2026-05-01 12:05:09 UTC (in 5m): hi (x): y"
            ),
            "  #7 to #general at 12:05: hi (x): y",
        ),
        (ev.DelayEntry("9", "bob", None, "odd text"), "  #9 to bob at (unknown time): odd text"),
        (ev.DelayListEnd(0), "* No scheduled messages"),
        (ev.DelayListEnd(1), "* 1 scheduled message"),
        (ev.DelayListEnd(3), "* 3 scheduled messages"),
        (ev.DelayCancelled("7"), "* Scheduled message #7 cancelled"),
        (
            ev.ComplaintRecorded("bob", "Your complaint about bob was recorded"),
            "* Your complaint about bob was recorded",
        ),
        (ev.UnreadPending(3, "..."), "*** 3 unread messages waiting for you"),
        (ev.UnreadPending(1, "..."), "*** 1 unread message waiting for you"),
        (ev.UnreadPending(0, "..."), None),
        (ev.ReadMarker("#general", T), None),
        # errors, readable
        (
            ev.Reply("FAIL", "DELAY", "INVALID_DURATION", ("90y",), "Duration must be 1s-7d"),
            "! delay: Duration must be 1s-7d",
        ),
        (
            ev.Reply("FAIL", "COMPLAIN", "NO_SUCH_NICK", ("zed",), "No such user: zed"),
            "! complaint: No such user: zed",
        ),
        (
            ev.Reply(
                "FAIL", "PRIVMSG", "RATE_LIMITED", ("#general", "1777640400"), "Rate limit: 20"
            ),
            "! #general: Rate limit: 20",
        ),
        (
            ev.Reply("WARN", "DELAY", "SOON", (), "Quota nearly used"),
            "! Warning: delay: Quota nearly used",
        ),
        (
            ev.Reply("NOTE", "PRIVMSG", "STORED", ("bob",), "bob is offline; stored"),
            "* bob is offline; stored",
        ),
        (
            ev.ErrorReply("404", ("#general",), "You are muted until 14:05 UTC"),
            "! #general: You are muted until 14:05 UTC",
        ),
        (ev.ErrorReply("401", ("bob",), "No such nick/channel"), "! bob: No such nick/channel"),
        (ev.ErrorReply("417", (), "Input line was too long"), "! Input line was too long"),
        (ev.ServerError("Closing link: Server shutting down"), None),
        (ev.AuthFailed("Password incorrect"), "! Login refused: Password incorrect"),
        (
            ev.NickInUse("bob", "Nickname is already in use"),
            "! The nick bob is not available (Nickname is already in use); "
            "choose another with /nickname <nick>",
        ),
        # deletions (REDACT)
        (
            ev.Redacted(T, "alice", "#general", "m-1", "", "alice", "oops"),
            "[12:05] #general * alice deleted their message: oops",
        ),
        (
            ev.Redacted(T, "root", "#general", "m-2", "spam", "carol", "hi", mine=True),
            "[12:05] #general * root deleted your message: hi (spam)",
        ),
        (
            ev.Redacted(T, "carol", "#general", "m-3", "", "bob", "x", own=True),
            "[12:05] #general * You deleted bob's message: x",
        ),
        (
            ev.Redacted(T, "carol", "bob", "m-4", own=True),
            "[12:05] bob * You deleted a message",
        ),
        # connection life
        (ev.Motd("Welcome!"), "*** Welcome!"),
        (ev.LoggedIn("carol"), "*** Logged in as carol"),
        (ev.Connected("carol", "irc.example"), "*** Connected to irc.example as carol"),
        (ev.Disconnected("connection lost"), "*** Disconnected: connection lost"),
        (ev.Connecting("127.0.0.1", 8000), "*** Connecting to 127.0.0.1:8000..."),
        (ev.Connecting("h", 1, 3), "*** Connecting to h:1 (attempt 3)..."),
        (ev.Reconnecting(0.5), "*** Reconnecting in 0.5s..."),
        (ev.Reconnecting(4.0), "*** Reconnecting in 4s..."),
        (ev.Info("plain text"), "plain text"),
        (ev.Usage("Usage: /cancel <id>"), "! Usage: /cancel <id>"),
        (ev.Problem("Not sent: not connected"), "! Not sent: not connected"),
    ],
)
def test_render(event: ev.Event, line: str | None) -> None:
    assert r(event) == line


def test_every_line_is_one_line_without_control_characters() -> None:
    evil = ev.Chat(T, "mallory", "#general", "a\x1b[2Jb\nc\x02bold\x02 \x0304red\x03\x07")
    assert r(evil) == "[12:05] #general <mallory> a[2Jb cbold red"


def test_clean_keeps_unicode() -> None:
    assert clean("héllo → 世界 🎉") == "héllo → 世界 🎉"


def test_time_is_shown_in_the_given_zone() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert render(ev.Chat(T, "a", "#g", "x"), tz=plus2, now=NOW) == "[14:05] #g <a> x"
    # without "now" the date is never added
    assert stamp(YESTERDAY, UTC) == "[23:59]"
    assert stamp(YESTERDAY, UTC, NOW) == "[2026-04-30 23:59]"
