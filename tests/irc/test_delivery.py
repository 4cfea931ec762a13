"""Issue 9, "unread means unread", at the adapter tier (lines in, lines out, a fake clock):

* when ack PINGs go out (at once to a quiet client, one at a time, never within ACK_QUIET
  seconds of the client's own last line), and what a PONG, or a QUIT with the peer's TCP
  acknowledgement (faked through ``Session.peer_unacked``), confirms;
* unconfirmed lines come back marked ``[repeat?]``, in every replay tier;
* ``set backlog off`` does not mark the waiting messages delivered, and a first visit that
  ended before any ack is followed by the unread;
* replayed lines from another day carry their date in every tier;
* a refused private message is answered where irssi shows it (a notice to that nick);
* the service's ``delay`` never posts to #general when the first word could be a nick.
"""

from __future__ import annotations

import re

from ircd.irc import tick
from ircd.irc.acks import ACK_MAX_WAIT, ACK_QUIET
from ircd.wire import Message

from .harness import SERVER, Client, Harness, only

DAY = 86400
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] ")
BATCH_CAPS = "batch server-time message-tags"  # WeeChat
HEXCHAT_CAPS = "server-time message-tags"  # HexChat: the tag's time only
IRSSI_CAPS = "server-time znc.in/self-message"  # irssi: hides the tag's time


def acks_in(msgs: list[Message]) -> list[str]:
    return [m.params[-1] for m in msgs if m.command == "PING" and m.params[-1].startswith("ack-")]


def answer(c: Client, msgs: list[Message]) -> None:
    for token in acks_in(msgs):
        c.send(f"PONG :{token}")


def texts(msgs: list[Message], target: str | None = None) -> list[str]:
    return [
        m.params[1]
        for m in msgs
        if m.command == "PRIVMSG" and (target is None or m.params[0] == target)
    ]


def notices(msgs: list[Message]) -> list[str]:
    return [m.params[-1] for m in msgs if m.command == "NOTICE"]


def setup() -> tuple[Harness, Client]:
    # no command budget here: these tests send bursts (flood control is tested elsewhere)
    h = Harness(limits={"messages_per_period": 1000}, server={"commands_per_second": 0.0})
    bob = h.user("bob")
    return h, bob


def alice_in(h: Harness, caps: str = HEXCHAT_CAPS) -> tuple[Client, list[Message]]:
    """alice (an account) connects; her landing's ack PING is answered; the burst."""
    a = h.connect()
    burst = a.register("alice", caps, password="pw")
    answer(a, burst)
    return a, burst


# ---------------------------------------------------------------------- when PINGs go out


def test_posts_to_a_quiet_client_are_acked_at_once_one_ping_at_a_time() -> None:
    h, bob = setup()
    a, _ = alice_in(h)
    h.advance(ACK_QUIET)  # she has been quiet
    a.take()
    bob.send("PRIVMSG #general :one")
    got = a.take()
    assert texts(got) == ["one"]
    assert acks_in(got) == [f"ack-{h.messenger.seq}"]  # in the same write, behind the post
    bob.send("PRIVMSG #general :two")
    got = a.take()
    assert texts(got) == ["two"] and acks_in(got) == []  # one PING outstanding at a time
    a.send(f"PONG :ack-{h.messenger.seq - 1}")
    assert h.messenger.user("alice").delivered_seq == h.messenger.seq - 1  # "two" is not yet
    # she just answered: the next PING waits until she has been quiet again (ACK_QUIET)
    h.advance(1)
    assert acks_in(a.take()) == []
    h.advance(ACK_QUIET)
    got = a.take()
    assert acks_in(got) == [f"ack-{h.messenger.seq}"]
    answer(a, got)
    assert h.messenger.user("alice").delivered_seq == h.messenger.seq
    h.advance(ACK_MAX_WAIT)
    assert acks_in(a.take()) == []  # everything is confirmed: no more PINGs


def test_ack_pings_never_follow_the_clients_own_lines_within_the_quiet_time() -> None:
    """irssi counts each PONG as one of its own lines and, once it counts 5, holds what its
    user typed until 2.2 s pass without one: a PING is only sent after the client was quiet
    for ACK_QUIET (or after ACK_MAX_WAIT), however busy the channel."""
    h, bob = setup()
    a, _ = alice_in(h)
    start = last_line = last_ping = h.clock.now()
    pings: list[tuple[float, float, float]] = []  # (when, quiet for, since the last PING)
    for step in range(400):  # 100 s: bob posts every 0.25 s, alice types every 2 s for 50 s
        h.clock.advance(0.25)
        bob.send(f"PRIVMSG #general :busy {step}")
        if step % 8 == 0 and step < 200:
            a.send(f"PRIVMSG #general :typing {step}")
            last_line = h.clock.now()
        if step % 4 == 0:
            tick(h.hub)
        got = a.take()
        for token in acks_in(got):
            now = h.clock.now()
            pings.append((now, now - last_line, now - last_ping))
            a.send(f"PONG :{token}")
            last_line = last_ping = now
    for when, quiet, since in pings:
        assert quiet >= ACK_QUIET or since >= ACK_MAX_WAIT, (when - start, quiet, since)
    typing = [p for p in pings if p[0] - start < 50]
    # while she typed every 2 s, only the 30 s ceiling asked; once she stopped, a PING
    # came every time she had been quiet for ACK_QUIET
    assert len(typing) == 1 and len(pings) - len(typing) >= 10, pings
    assert h.messenger.user("alice").delivered_seq >= h.messenger.seq - 16


def test_a_pong_for_a_ping_never_sent_confirms_nothing() -> None:
    h, bob = setup()
    a, _ = alice_in(h)
    a.send("PRIVMSG #general :busy")  # not quiet: no PING yet
    bob.send("PRIVMSG #general :unconfirmed")
    assert acks_in(a.take()) == []
    before = h.messenger.user("alice").delivered_seq
    a.send(f"PONG :ack-{h.messenger.seq}", "PONG :ack-99999", "PONG :ack-x")
    assert h.messenger.user("alice").delivered_seq == before


# ---------------------------------------------------------------------- QUIT and the TCP credit


def quit_with(a: Client, unacked: int | None) -> None:
    a.session.peer_unacked = lambda: unacked
    a.send("QUIT :bye")
    a.take()


def test_quit_counts_what_the_peers_tcp_acknowledged() -> None:
    h, bob = setup()
    a, _ = alice_in(h)
    a.send("PRIVMSG #general :here")  # active: the PING waits
    bob.send("PRIVMSG #general :seen 1", "PRIVMSG alice :seen 2")
    assert texts(a.take()) == ["seen 1", "seen 2"]
    quit_with(a, 0)  # everything written was acknowledged by her TCP stack
    bob.send("PRIVMSG #general :while away")
    a, burst = alice_in(h)
    assert texts(burst) == ["while away"]
    assert "You had 1 unread message: 1 in #general." in notices(burst)


def test_quit_with_bytes_in_flight_counts_only_what_arrived_before() -> None:
    h, bob = setup()
    a, _ = alice_in(h)
    a.send("PRIVMSG #general :here")
    bob.send("PRIVMSG #general :arrived")
    a.take()
    bob.send("PRIVMSG #general :in flight")
    last = a.take_lines()
    in_flight = sum(len(x) + 2 for x in last)
    quit_with(a, in_flight)  # the last write is not acknowledged
    a, burst = alice_in(h)
    assert texts(burst) == ["[repeat?] in flight"]


def test_without_the_tcp_count_nothing_unconfirmed_is_lost_and_it_is_marked() -> None:
    h, bob = setup()
    a, _ = alice_in(h)
    a.send("PRIVMSG #general :here")
    bob.send("PRIVMSG #general :maybe seen", "PRIVMSG alice :maybe seen too")
    a.take()
    quit_with(a, None)  # the server cannot tell (another OS, TLS with data in flight)
    bob.send("PRIVMSG #general :not seen")
    a, burst = alice_in(h)
    assert texts(burst) == ["[repeat?] maybe seen", "not seen", "[repeat?] maybe seen too"]
    summary = [n for n in notices(burst) if n.startswith("You had")]
    assert summary == [
        "You had 3 unread messages: 2 in #general, 1 private from bob; "
        "2 of them may have reached you before (marked [repeat?])."
    ]
    # the replay header says it too (irssi and HexChat show the notices)
    heads = [n for n in notices(burst) if n.startswith("*** Replaying")]
    assert heads[0].endswith("; 1 of them may have reached you before (marked [repeat?])")
    assert heads[1].endswith("; it may have reached you before (marked [repeat?])")


def test_a_dropped_connection_replays_everything_unconfirmed_marked_in_each_tier() -> None:
    for caps in ("", HEXCHAT_CAPS, BATCH_CAPS):
        h, bob = setup()
        a, _ = alice_in(h, caps)
        a.send("PRIVMSG #general :here")
        bob.send("PRIVMSG #general :lost?")
        a.take()
        h.hub.close_session(a.session, "Connection reset")  # no QUIT, no PONG
        bob.send("PRIVMSG #general :new")
        a, burst = alice_in(h, caps)
        got = [STAMP.sub("", t) for t in texts(burst)]
        assert got == ["[repeat?] lost?", "new"], caps
        # confirmed now: the next visit has nothing
        h.advance(ACK_QUIET)
        answer(a, a.take())
        quit_with(a, None)
        a, burst = alice_in(h, caps)
        assert texts(burst) == []


# ---------------------------------------------------------------------- backlog off, first visit


def test_backlog_off_keeps_the_waiting_messages_unread_until_pulled() -> None:
    h, bob = setup()
    a, _ = alice_in(h)
    a.send("PRIVMSG Messenger :set backlog off")
    quit_with(a, 0)
    bob.send("PRIVMSG #general :waiting 1", "PRIVMSG alice :waiting 2")
    a, burst = alice_in(h)
    assert texts(burst) == []  # not pushed
    assert any("You had 2 unread messages" in n and "backlog is off" in n for n in notices(burst))
    # a live line reaches her, and her client confirms it
    h.advance(ACK_QUIET)
    bob.send("PRIVMSG #general :live")
    got = a.take()
    assert texts(got) == ["live"]
    answer(a, got)
    assert h.messenger.user("alice").delivered_seq == h.messenger.seq
    # "unread" still replays the waiting ones (and not the live one)
    a.send("PRIVMSG Messenger :unread")
    got = a.take()
    assert texts(got) == ["waiting 1", "waiting 2"]
    # until that replay is confirmed, they stay unread
    quit_with(a, None)
    a, burst = alice_in(h)
    assert any("You had 2 unread messages" in n for n in notices(burst))
    a.send("PRIVMSG Messenger :unread")
    got = a.take()
    assert texts(got) == ["[repeat?] waiting 1", "[repeat?] waiting 2"]
    quit_with(a, 0)  # confirmed by her TCP stack at QUIT
    a, burst = alice_in(h)
    assert not any("unread message" in n for n in notices(burst))


def test_backlog_off_told_counts_do_not_grow_with_what_came_live() -> None:
    h, bob = setup()
    a, _ = alice_in(h)
    a.send("PRIVMSG Messenger :set backlog off")
    quit_with(a, 0)
    bob.send("PRIVMSG #general :waiting")
    for _ in range(3):  # three visits that never pull, each seeing a live line
        a, burst = alice_in(h)
        assert any("You had 1 unread message: 1 in #general." in n for n in notices(burst))
        h.advance(ACK_QUIET)
        bob.send("PRIVMSG #general :live")
        answer(a, a.take())
        quit_with(a, None)


def test_a_first_visit_that_ended_before_any_ack_is_followed_by_the_unread() -> None:
    h, bob = setup()
    for i in range(25):
        bob.send(f"PRIVMSG #general :old {i}")
    a = h.connect()
    burst = a.register("dora", HEXCHAT_CAPS, password="pw")  # new account: the last 20
    assert texts(burst)[0] == "old 5" and len(texts(burst)) == 20
    bob.send("PRIVMSG #general :live")
    a.take()
    h.hub.close_session(a.session, "Connection reset")  # before any PONG
    for i in range(25):
        bob.send(f"PRIVMSG #general :later {i}")
    a = h.connect()
    burst = a.register("dora", HEXCHAT_CAPS, password="pw")
    got = texts(burst)
    assert got[0] == "[repeat?] live" and got[1:] == [f"later {i}" for i in range(25)]
    assert any(n.startswith("You had 26 unread messages") for n in notices(burst))


# ---------------------------------------------------------------------- the day of replayed lines


def test_replayed_lines_from_another_day_carry_their_date_in_every_tier() -> None:
    h, bob = setup()
    bob.send("PRIVMSG #general :two days ago")
    h.clock.advance(2 * DAY)
    bob.send("PRIVMSG #general :just now")
    for caps in (BATCH_CAPS, HEXCHAT_CAPS, IRSSI_CAPS, ""):
        g = h.connect()
        got = texts(g.register(f"g{len(caps)}", caps), "#general")
        old, new = got[-2:]
        assert STAMP.match(old) and old.endswith("two days ago"), (caps, old)
        if caps in (BATCH_CAPS, HEXCHAT_CAPS):
            assert new == "just now", caps  # today's lines look as before: the tag's time
        else:
            assert STAMP.match(new), caps  # these tiers always had the prefix


def test_timestamps_never_means_no_date_either() -> None:
    h, bob = setup()
    a, _ = alice_in(h, HEXCHAT_CAPS)
    a.send("PRIVMSG Messenger :set timestamps never")
    quit_with(a, 0)
    bob.send("PRIVMSG #general :old")
    h.clock.advance(2 * DAY)
    a, burst = alice_in(h, HEXCHAT_CAPS)
    assert texts(burst) == ["old"]


def test_an_old_action_gets_its_date_inside_the_action() -> None:
    h, bob = setup()
    bob.send("PRIVMSG #general :\x01ACTION waves\x01")
    h.clock.advance(2 * DAY)
    g = h.connect()
    (line,) = texts(g.register("gus", HEXCHAT_CAPS))
    assert re.fullmatch(r"\x01ACTION \[\d{4}-\d\d-\d\d \d\d:\d\d\] waves\x01", line)


# ---------------------------------------------------------------------- refused private messages


def test_a_refused_private_message_is_answered_in_the_query_too() -> None:
    h, bob = setup()
    carol = h.user("carol")
    h.messenger.ban(carol.session.user_key, 600, "test")
    got = carol.send_take("PRIVMSG bob :psst")
    (numeric,) = only(got, "531")
    assert numeric.params[1] == "bob" and numeric.params[2].startswith("Message not sent: ")
    # irssi shows 531 in the status window; a server notice to bob lands in bob's query
    (note,) = only(got, "NOTICE")
    assert note.source == SERVER and note.params == ("bob", numeric.params[2])
    assert texts(bob.take()) == []
    # a client with echo-message knows it was not sent (no echo): the numeric alone
    e = h.user("erin", "echo-message")
    h.messenger.ban(e.session.user_key, 600, "test")
    got = e.send_take("PRIVMSG bob :psst")
    assert [m.command for m in got] == ["531"]
    # a NOTICE is never answered, refused or not (RFC 2812 3.3.2: "they MUST NOT send any
    # error reply back to the client on receipt of a notice")
    assert carol.send_take("NOTICE bob :psst") == []
    assert texts(bob.take()) == []


def test_a_private_flood_is_refused_with_a_whole_number_of_seconds() -> None:
    h, _bob = setup()
    carol = h.user("carol")
    got: list[Message] = []
    for i in range(h.config.limits.private_burst + 1):
        got += carol.send_take(f"PRIVMSG bob :{i}")
    (numeric,) = only(got, "531")
    assert re.fullmatch(
        r"Message not sent: you are sending private messages too fast; wait [1-9]\d*s",
        numeric.params[2],
    )
    assert [n.params[0] for n in only(got, "NOTICE")] == ["bob"]


# ---------------------------------------------------------------------- delay's default target


def scheduled(h: Harness, c: Client) -> list[tuple[str, str]]:
    return [(i.target_name, i.text) for i in h.messenger.list_scheduled(c.session.user_key)]


def test_delay_never_posts_a_would_be_nick_to_general() -> None:
    h, _bob = setup()
    a = h.user("alice", password="pw")
    got = notices(a.send_take("PRIVMSG Messenger :delay 1 nosuchnick hi"))
    assert got == [
        'Error: No user named nosuchnick, so nothing was scheduled. To send "nosuchnick hi" '
        "to #general: /msg Messenger delay 1 #general nosuchnick hi"
    ]
    got = notices(a.send_take("PRIVMSG Messenger :delay at 2099-01-01T00:00Z nobody hi"))
    assert got[0].startswith("Error: No user named nobody, so nothing was scheduled.")
    assert scheduled(h, a) == []
    # the raw verb's words: the same refusal, told in its terms
    a.send("MESSENGER delay 1 nosuchnick hi")
    assert "put #general before the text" in notices(a.take())[0]
    assert scheduled(h, a) == []


def test_delay_default_target_rules() -> None:
    h, _bob = setup()
    a = h.user("alice", password="pw")
    for words in (
        "delay 5 hello",  # one word: #general
        "delay 5 bob see you",  # a user: private
        "delay 5 #general see you all",  # a channel
        "delay 5 I'm late, sorry",  # cannot be a nick: #general
        "delay 5 10:30 works",  # nor can this
        "delay 5 nosuchnick",  # one word, even a nick-like one: #general
    ):
        a.send(f"PRIVMSG Messenger :{words}")
    a.take()
    assert scheduled(h, a) == [
        ("#general", "hello"),
        ("bob", "see you"),
        ("#general", "see you all"),
        ("#general", "I'm late, sorry"),
        ("#general", "10:30 works"),
        ("#general", "nosuchnick"),
    ]
