"""Translator: IRC lines -> events (sans-I/O; lines as our server sends them)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bridge import events as ev
from bridge.protocol import Line, Translator, fold, parse_line, parse_time, split_text

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc)
T1 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
SRV = ":irc.messenger.local"


def feed(t: Translator, *lines: str) -> list[ev.Event]:
    out: list[ev.Event] = []
    for raw in lines:
        out += t.feed(parse_line(raw), NOW)
    return out


@pytest.fixture
def t() -> Translator:
    tr = Translator("carol")
    tr.caps = {"batch", "server-time", "labeled-response"}
    feed(
        tr,
        f"{SRV} 001 carol :Welcome to the Messenger Network, carol!~carol@127.0.0.1",
        f"{SRV} 005 carol CASEMAPPING=ascii CHANTYPES=# CHATHISTORY=100 :are supported",
    )
    return tr


# ---------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ("PING :x", Line("PING", ("x",))),
        (":a!b@c PRIVMSG #g :hi there", Line("PRIVMSG", ("#g", "hi there"), "a!b@c")),
        (":a!b@c PRIVMSG #g ::)", Line("PRIVMSG", ("#g", ":)"), "a!b@c")),
        (":srv 005 me A B :are supported", Line("005", ("me", "A", "B", "are supported"), "srv")),
        (
            "@time=2026-05-01T10:00:00.000Z;msgid=x-1;+draft/x=a\\sb :s NOTICE me :t",
            Line(
                "NOTICE",
                ("me", "t"),
                "s",
                {"time": "2026-05-01T10:00:00.000Z", "msgid": "x-1", "+draft/x": "a b"},
            ),
        ),
        ("@batch=ab :s BATCH -ab", Line("BATCH", ("-ab",), "s", {"batch": "ab"})),
        ("privmsg #g :lower", Line("PRIVMSG", ("#g", "lower"))),
        (":s CAP * LS :a b c", Line("CAP", ("*", "LS", "a b c"), "s")),
        ("", Line("")),
    ],
)
def test_parse_line(raw: str, line: Line) -> None:
    assert parse_line(raw) == line


def test_parse_time() -> None:
    assert parse_time("2026-05-01T10:00:00.000Z") == T1
    assert parse_time("2026-05-01T12:00:00+02:00") == T1
    assert parse_time("garbage") is None
    assert parse_time(None) is None


@pytest.mark.parametrize(
    ("text", "limit", "pieces"),
    [
        ("short", 100, ["short"]),
        ("", 100, [""]),
        ("aaaa bbbb cccc dddd", 16, ["aaaa bbbb cccc", "dddd"]),
        ("x" * 40, 16, ["x" * 16, "x" * 16, "x" * 8]),
        ("é" * 10, 16, ["é" * 8, "é" * 2]),  # 2 bytes each, never split inside
    ],
)
def test_split_text(text: str, limit: int, pieces: list[str]) -> None:
    assert split_text(text, limit) == pieces
    assert all(len(p.encode()) <= max(limit, 16) for p in pieces)


def test_fold() -> None:
    assert fold("Bob[]", "ascii") == "bob[]"
    assert fold("Bob[]~", "rfc1459") == "bob{}^"
    assert fold("Bob[]~", "strict-rfc1459") == "bob{}~"


# ---------------------------------------------------------------------- registration


def test_connected_after_motd_with_caps() -> None:
    tr = Translator("carol")
    tr.caps = {"batch"}
    got = feed(
        tr,
        f"{SRV} 900 carol carol!~carol@127.0.0.1 carol :You are now logged in as carol",
        f"{SRV} 001 carol :Welcome",
        f"{SRV} 375 carol :- irc.messenger.local Message of the day -",
        f"{SRV} 372 carol :- Be nice.",
        f"{SRV} 376 carol :End of /MOTD command.",
        f"{SRV} 376 carol :End of /MOTD command.",  # /MOTD later: not a second Connected
    )
    assert got == [
        ev.LoggedIn("carol"),
        ev.Motd("Be nice."),
        ev.Connected("carol", "irc.messenger.local", ("batch",)),
    ]
    assert tr.registered


def test_nick_refused_before_registration_but_an_error_after() -> None:
    tr = Translator("bob")
    assert feed(tr, f"{SRV} 433 * bob :Nickname is already in use") == [
        ev.NickInUse("bob", "Nickname is already in use")
    ]
    feed(tr, f"{SRV} 001 bob :hi", f"{SRV} 422 bob :MOTD File is missing")
    assert feed(tr, f"{SRV} 433 bob alice :Nickname is already in use") == [
        ev.ErrorReply("433", ("alice",), "Nickname is already in use")
    ]


def test_password_refused() -> None:
    tr = Translator("bob")
    got = feed(tr, f"{SRV} 464 bob :Password incorrect", "ERROR :Closing link: Password incorrect")
    assert got == [
        ev.AuthFailed("Password incorrect"),
        ev.ServerError("Closing link: Password incorrect"),
        ev.AuthFailed("Closing link: Password incorrect"),
    ]


# ---------------------------------------------------------------------- messages


def test_live_messages(t: Translator) -> None:
    got = feed(
        t,
        "@time=2026-05-01T10:00:00.000Z;msgid=m-1 :alice!~a@h PRIVMSG #general :hello",
        "@time=2026-05-01T10:00:00.000Z;msgid=m-2 :carol!~c@h PRIVMSG #general :mine",
        ":bob!~b@h PRIVMSG carol :psst",
        "@msgid=m-3 :carol!~c@h PRIVMSG bob :back",
        ":alice!~a@h PRIVMSG #general :\x01ACTION waves\x01",
        ":alice!~a@h PRIVMSG carol :\x01VERSION\x01",
        ":alice!~a@h NOTICE carol :\x01VERSION x\x01",
        ":alice!~a@h PRIVMSG @#general :ops only",
    )
    assert got == [
        ev.Chat(T1, "alice", "#general", "hello", msgid="m-1"),
        ev.Chat(T1, "carol", "#general", "mine", own=True, msgid="m-2"),
        ev.Chat(NOW, "bob", "carol", "psst", private=True),
        ev.Chat(NOW, "carol", "bob", "back", private=True, own=True, msgid="m-3"),
        ev.Chat(NOW, "alice", "#general", "waves", "action"),
        ev.Chat(NOW, "alice", "#general", "ops only"),
    ]


def test_redactions_say_what_was_deleted_when_it_was_seen(t: Translator) -> None:
    """ircv3.net/specs/extensions/message-redaction: ``:by REDACT <target> <msgid> [:reason]``."""
    got = feed(
        t,
        "@msgid=m-1 :alice!~a@h PRIVMSG #general :oops",
        "@msgid=m-2 :carol!~c@h PRIVMSG #general :mine",
        "@time=2026-05-01T10:00:00.000Z :alice!~a@h REDACT #general m-1",
        ":root!~r@h REDACT #general m-2 :spam",
        ":carol!~c@h REDACT #general m-9",
        ":carol!~c@h REDACT #general",
    )[2:]
    assert got == [
        ev.Redacted(T1, "alice", "#general", "m-1", "", "alice", "oops"),
        ev.Redacted(NOW, "root", "#general", "m-2", "spam", "carol", "mine", mine=True),
        ev.Redacted(NOW, "carol", "#general", "m-9", own=True),
    ]


def test_server_and_service_notices(t: Translator) -> None:
    got = feed(
        t,
        f"{SRV} NOTICE carol :No unread messages since your last visit.",
        ":Messenger!service@irc.messenger.local NOTICE carol :Scheduled message #1 was sent.",
        f"{SRV} NOTICE #general :*** Replaying 2 unread messages",
        "NOTICE * :*** Looking up your hostname",
    )
    assert got == [
        ev.ServerNotice(NOW, "irc.messenger.local", "No unread messages since your last visit."),
        ev.Chat(NOW, "Messenger", "carol", "Scheduled message #1 was sent.", "notice", True),
        ev.ServerNotice(NOW, "irc.messenger.local", "*** Replaying 2 unread messages", "#general"),
        ev.ServerNotice(NOW, "irc.messenger.local", "*** Looking up your hostname"),
    ]


# ---------------------------------------------------------------------- history and unread


UNREAD_REPLY = [
    f"@label=b1 {SRV} BATCH +L labeled-response",
    f"@batch=L {SRV} BATCH +h1 chathistory #general",
    "@batch=h1;time=2026-05-01T10:00:00.000Z;msgid=m-1 :bob!~b@h PRIVMSG #general :one",
    "@batch=h1;time=2026-05-01T10:00:00.000Z;msgid=m-2 :bob!~b@h PRIVMSG #general :two",
    f"@batch=L {SRV} BATCH -h1",
    f"@batch=L {SRV} BATCH +h2 chathistory bob",
    "@batch=h2;time=2026-05-01T10:00:00.000Z;msgid=m-3 :bob!~b@h PRIVMSG carol :psst",
    f"@batch=L {SRV} BATCH -h2",
    f"@batch=L {SRV} NOTICE carol :You had 3 unread messages: 2 in #general, 1 private from bob.",
    "@batch=L PING :ack-3",
    f"{SRV} BATCH -L",
]


def test_unread_blocks_from_a_labeled_reply(t: Translator) -> None:
    t.expect("b1", "unread")
    got = feed(t, *UNREAD_REPLY)
    assert got == [
        ev.BlockStart("unread", "#general"),
        ev.Chat(T1, "bob", "#general", "one", context="unread", msgid="m-1"),
        ev.Chat(T1, "bob", "#general", "two", context="unread", msgid="m-2"),
        ev.BlockEnd("unread", "#general", 2, T1),
        ev.BlockStart("unread", "bob"),
        ev.Chat(T1, "bob", "carol", "psst", private=True, context="unread", msgid="m-3"),
        ev.BlockEnd("unread", "bob", 1, T1),
        ev.ServerNotice(
            NOW,
            "irc.messenger.local",
            "You had 3 unread messages: 2 in #general, 1 private from bob.",
        ),
    ]


def test_unread_drops_messages_already_shown_live(t: Translator) -> None:
    feed(t, "@msgid=m-1 :bob!~b@h PRIVMSG #general :one")
    t.expect("b1", "unread")
    got = [e for e in feed(t, *UNREAD_REPLY[:5]) if not isinstance(e, ev.ServerNotice)]
    assert got == [
        ev.BlockStart("unread", "#general"),
        ev.Chat(T1, "bob", "#general", "two", context="unread", msgid="m-2"),
        ev.BlockEnd("unread", "#general", 1, T1),
    ]


def test_history_is_shown_even_when_seen(t: Translator) -> None:
    feed(t, "@msgid=m-1 :bob!~b@h PRIVMSG #general :one")
    t.expect("b2", "history")
    got = feed(
        t,
        f"@label=b2 {SRV} BATCH +L2 labeled-response",
        f"@batch=L2 {SRV} BATCH +h chathistory #general",
        "@batch=h;time=2026-05-01T10:00:00.000Z;msgid=m-1 :bob!~b@h PRIVMSG #general :one",
        f"@batch=L2 {SRV} BATCH -h",
        f"{SRV} BATCH -L2",
    )
    assert got == [
        ev.BlockStart("history", "#general"),
        ev.Chat(T1, "bob", "#general", "one", context="history", msgid="m-1"),
        ev.BlockEnd("history", "#general", 1, T1),
    ]


def test_empty_history(t: Translator) -> None:
    t.expect("b3", "history")
    got = feed(
        t,
        f"@label=b3 {SRV} BATCH +L3 labeled-response",
        f"@batch=L3 {SRV} BATCH +h chathistory #quiet",
        f"@batch=L3 {SRV} BATCH -h",
        f"{SRV} BATCH -L3",
    )
    assert got == [ev.BlockEnd("history", "#quiet", 0, None)]


def test_without_labels_the_last_request_names_the_block() -> None:
    tr = Translator("carol")
    tr.expect(None, "unread")
    got = feed(
        tr,
        ":s BATCH +x chathistory #general",
        "@batch=x :bob!~b@h PRIVMSG #general :one",
        ":s BATCH -x",
    )
    assert got[0] == ev.BlockStart("unread", "#general")
    assert got[-1] == ev.BlockEnd("unread", "#general", 1, NOW)


def test_other_batches_pass_through(t: Translator) -> None:
    got = feed(
        t,
        ":s BATCH +n netsplit a.b c.d",
        "@batch=n :bob!~b@h QUIT :a.b c.d",
        ":s BATCH -n",
    )
    assert got == [ev.Quit("bob", "a.b c.d")]


# ---------------------------------------------------------------------- our custom replies


def test_delay_and_complaint_replies(t: Translator) -> None:
    due = datetime(2026, 5, 1, 12, 5, tzinfo=timezone.utc)
    got = feed(
        t,
        f"{SRV} NOTE DELAY SCHEDULED 7 #general 2026-05-01T12:05:00.000Z :Message #7 scheduled",
        f"{SRV} NOTE DELAY ENTRY 7 #general 2026-05-01T12:05:00.000Z :#7 to #general (in 5m): hi",
        f"{SRV} NOTE DELAY END 1 :1 scheduled message",
        f"{SRV} NOTE DELAY CANCELLED 7 :Scheduled message #7 cancelled",
        f"{SRV} FAIL DELAY UNKNOWN_ID 8 :No scheduled message #8 of yours",
        f"{SRV} NOTE COMPLAIN RECORDED bob :Your complaint about bob was recorded",
        f"{SRV} FAIL COMPLAIN NO_SUCH_NICK zed :No such user: zed",
        f"{SRV} NOTE UNREAD PENDING 4 :You had 4 unread messages: 4 in #general.",
        f"{SRV} FAIL PRIVMSG RATE_LIMITED #general 1777640400 :Rate limit: 20 messages",
    )
    assert got == [
        ev.DelayScheduled("7", "#general", due, "Message #7 scheduled"),
        ev.DelayEntry("7", "#general", due, "#7 to #general (in 5m): hi"),
        ev.DelayListEnd(1),
        ev.DelayCancelled("7"),
        ev.Reply("FAIL", "DELAY", "UNKNOWN_ID", ("8",), "No scheduled message #8 of yours"),
        ev.ComplaintRecorded("bob", "Your complaint about bob was recorded"),
        ev.Reply("FAIL", "COMPLAIN", "NO_SUCH_NICK", ("zed",), "No such user: zed"),
        ev.UnreadPending(4, "You had 4 unread messages: 4 in #general."),
        ev.Reply(
            "FAIL", "PRIVMSG", "RATE_LIMITED", ("#general", "1777640400"), "Rate limit: 20 messages"
        ),
    ]
    assert t.unread_pending == 4


def test_error_numerics(t: Translator) -> None:
    got = feed(
        t,
        f"{SRV} 404 carol #general :Cannot send to #general: You are muted until 14:05 UTC",
        f"{SRV} 531 carol bob :You are muted until 14:05 UTC",
        f"{SRV} 401 carol zed :No such nick/channel",
        f"{SRV} 421 carol FOO :Unknown command",
        f"{SRV} 324 carol #general +nt",  # answers pydle's own MODE query: not shown
        f"{SRV} 301 carol bob :gone fishing",
    )
    assert got == [
        ev.ErrorReply(
            "404", ("#general",), "Cannot send to #general: You are muted until 14:05 UTC"
        ),
        ev.ErrorReply("531", ("bob",), "You are muted until 14:05 UTC"),
        ev.ErrorReply("401", ("zed",), "No such nick/channel"),
        ev.ErrorReply("421", ("FOO",), "Unknown command"),
        ev.Away("bob", "gone fishing"),
    ]


# ---------------------------------------------------------------------- channels


def test_join_names_who_part_nick(t: Translator) -> None:
    got = feed(
        t,
        ":carol!~c@h JOIN #general",
        f"{SRV} 332 carol #general :Be nice",
        f"{SRV} 353 carol = #general :@alice carol!~c@h +bob",
        f"{SRV} MARKREAD #general timestamp=2026-05-01T10:00:00.000Z",
        f"{SRV} 366 carol #general :End of /NAMES list",
        ":bob!~b@h JOIN #general * :Bob",  # extended-join
        f"{SRV} 352 carol #general ~a h srv alice H@ :0 alice",
        f"{SRV} 352 carol #general ~b h srv bob G :0 bob",
        f"{SRV} 315 carol #general :End of /WHO list",
        f"{SRV} 352 carol * ~b h srv bob H :0 bob",
        f"{SRV} 315 carol bob :End of /WHO list",
        ":bob!~b@h PART #general :bye",
        ":alice!~a@h NICK alicia",
        ":carol!~c@h NICK Caro",
        ":op!~o@h KICK #general caro :flood",
        ":alicia!~a@h QUIT :Quit: gone",
        ":alicia!~a@h TOPIC #general :New topic",
    )
    assert got == [
        ev.Joined("carol", "#general", own=True),
        ev.Topic("#general", "Be nice"),
        ev.ReadMarker("#general", T1),
        ev.Names("#general", ("alice", "carol", "bob")),
        ev.Joined("bob", "#general"),
        ev.WhoList(
            "#general",
            (ev.WhoEntry("alice", "~a@h", op=True), ev.WhoEntry("bob", "~b@h", away=True)),
        ),
        ev.WhoList("bob", (ev.WhoEntry("bob", "~b@h"),)),
        ev.Parted("bob", "#general", "bye"),
        ev.NickChanged("alice", "alicia"),
        ev.NickChanged("carol", "Caro", own=True),
        ev.Kicked("caro", "#general", "op", "flood", own=True),
        ev.Quit("alicia", "Quit: gone"),
        ev.Topic("#general", "New topic", "alicia"),
    ]
    assert t.nick == "Caro"


def test_unknown_lines_are_ignored(t: Translator) -> None:
    assert feed(t, ":s FROB x y", "PING :ack-3", ":s ACK", ":s CAP carol ACK :batch", "") == []
