"""Main-path conformance at the adapter tier: the relayed line's length limit, JOIN without a
topic, LUSERS maxima, bot mode, echo-message to oneself, and NOTICE never answered.

Each test quotes the spec it checks (modern.ircdocs.horse, ircv3.net, RFC 2812)."""

from __future__ import annotations

from ircd.irc.timefmt import iso_time
from ircd.wire import LineFramer, Message
from tests.irc.harness import Harness, cmds, one, only

MAX_LINE = 512  # bytes, CRLF included, tags apart


def _room_text(mask: str, kind: str, target: str, extra: int = 0) -> str:
    """Text that makes ``:mask KIND target :text\\r\\n`` exactly 512 bytes (+ ``extra``)."""
    overhead = len(f":{mask} {kind} {target} :\r\n".encode())
    return "x" * (MAX_LINE - overhead + extra)


def test_a_relayed_line_of_exactly_512_bytes_is_sent_and_one_more_is_refused() -> None:
    """modern.ircdocs.horse, "Message format": messages "SHALL NOT exceed 512 bytes in length,
    counting all characters including the trailing CR-LF"; ircv3.net message-tags "Size
    limit": the tags have their own budget. A too-long line gets ERR_INPUTTOOLONG (417)."""
    h = Harness()
    a = h.user("alice")
    b = h.user("bob", "message-tags server-time")
    h.drain(a, b)
    for kind in ("PRIVMSG", "NOTICE"):
        text = _room_text(a.session.mask, kind, "#general")
        assert a.send_take(f"{kind} #general :{text}") == []
        raw = b.take_lines()
        assert len(raw) == 1
        body = raw[0].split(" ", 1)[1]  # the tags apart
        assert len((body + "\r\n").encode()) == MAX_LINE
        assert body == f":{a.session.mask} {kind} #general :{text}"
        out = a.send_take(f"PRIVMSG #general :{text}x{'x' if kind == 'PRIVMSG' else ''}")
        assert cmds(out) == ["417"]
        assert b.take() == []


def test_the_private_limit_counts_the_recipient_as_relayed() -> None:
    """modern.ircdocs.horse, "Message format" (512 bytes with CR-LF): the relayed private line
    names the recipient as it is known, whatever case the sender typed."""
    h = Harness()
    a = h.user("alice")
    b = h.user("Bob")
    h.drain(a, b)
    text = _room_text(a.session.mask, "PRIVMSG", "Bob")
    assert a.send_take(f"PRIVMSG bob :{text}") == []
    (line,) = b.take_lines()
    assert len((line + "\r\n").encode()) == MAX_LINE
    assert cmds(a.send_take(f"PRIVMSG bob :{text}y")) == ["417"]
    assert b.take() == []
    # multi-byte text counts in bytes: one "é" too many is refused
    text = "é" * ((MAX_LINE - len(f":{a.session.mask} PRIVMSG Bob :\r\n")) // 2)
    assert a.send_take(f"PRIVMSG bob :{text}") == []
    (line,) = b.take_lines()
    assert len((line + "\r\n").encode()) <= MAX_LINE
    assert cmds(a.send_take(f"PRIVMSG bob :{text}é")) == ["417"]


def test_join_without_a_topic_sends_no_331_but_topic_query_does() -> None:
    """modern.ircdocs.horse, JOIN: the server sends "The channel's topic (with RPL_TOPIC (332)
    and optionally RPL_TOPICWHOTIME (333)), and no message if the channel does not have a
    topic"; TOPIC: "If <topic> is not given, either RPL_TOPIC or RPL_NOTOPIC is returned"."""
    h = Harness()
    a = h.connect()
    burst = a.register("alice")
    assert "331" not in cmds(burst)
    out = a.send_take("JOIN #dev")
    assert cmds(out) == ["JOIN", "353", "366"]
    out = a.send_take("TOPIC #dev")
    assert [m.params for m in out] == [("alice", "#dev", "No topic is set")]
    assert cmds(out) == ["331"]
    a.send_take("TOPIC #dev :hello")
    b = h.user("bob")
    out = b.send_take("JOIN #dev")
    assert cmds(out) == ["JOIN", "332", "333", "353", "366"]


def test_lusers_maxima_count_registered_clients_only() -> None:
    """modern.ircdocs.horse, RPL_LOCALUSERS (265) / RPL_GLOBALUSERS (266): "<u> and <m> are
    the current and maximum number of clients"; unregistered connections are the separate
    RPL_LUSERUNKNOWN (253), not clients."""
    h = Harness()
    idle = [h.connect() for _ in range(4)]  # connected, never registered
    a = h.user("alice")
    out = a.send_take("LUSERS")
    assert one(out, "253").params[1] == "4"
    assert one(out, "265").params[1:3] == ("1", "1")
    assert one(out, "266").params[1:3] == ("1", "1")
    b = h.user("bob")
    b.quit()
    out = a.send_take("LUSERS")
    assert one(out, "265").params[1:3] == ("1", "2")  # the maximum is remembered
    assert one(out, "266").params[1:3] == ("1", "2")
    assert len(idle) == 4


def test_bot_mode_tags_messages_and_shows_in_whois_and_who() -> None:
    """ircv3.net bot-mode: "the server SHOULD add the bot tag to PRIVMSG, NOTICE and TAGMSG
    messages sent by the bot" (to clients with message-tags), "RPL_WHOISBOT (335)" in WHOIS,
    the mode character in WHO's flags, and the ``BOT`` ISUPPORT token names the mode."""
    h = Harness()
    bot = h.user("botnick", "message-tags echo-message")
    user = h.user("usernick", "message-tags")
    plain = h.user("plain")
    assert "BOT=B" in h.hub.isupport
    h.drain(bot, user, plain)
    assert [m.format() for m in bot.send_take("MODE botnick +B")] == [
        f":{bot.session.mask} MODE botnick +B"
    ]
    echo = bot.send_take("PRIVMSG usernick :beep boop", "PRIVMSG #general :beep all")
    got = user.take()
    assert [m.params for m in got] == [("usernick", "beep boop"), ("#general", "beep all")]
    assert all(m.tags is not None and m.tags.get("bot") == "" for m in got)
    assert len(echo) == 2 and all(m.tags and "bot" in m.tags for m in echo)
    # a client without message-tags gets no tags at all
    (line,) = plain.take_lines()
    assert not line.startswith("@")
    bot.send("NOTICE #general :n", "@+typing=active TAGMSG #general")
    got = user.take()
    assert cmds(got) == ["NOTICE", "TAGMSG"]
    assert all(m.tags is not None and "bot" in m.tags for m in got)
    out = user.send_take("WHOIS botnick")
    assert one(out, "335").params[:2] == ("usernick", "botnick")
    out = user.send_take("WHO #general")
    flags = {m.params[5]: m.params[6] for m in only(out, "352")}
    assert "B" in flags["botnick"] and "B" not in flags["usernick"]
    # -B: no more tag
    bot.send_take("MODE botnick -B")
    bot.send_take("PRIVMSG usernick :human again")
    (m,) = user.take()
    assert m.tags is not None and "bot" not in m.tags
    assert "335" not in cmds(user.send_take("WHOIS botnick"))


def test_message_to_oneself_with_echo_message_arrives_twice() -> None:
    """ircv3.net echo-message: the server sends the message back to its sender "in addition
    to" delivering it; when the sender is the target, it gets the echo and the delivery."""
    h = Harness()
    a = h.user("alice", "echo-message message-tags")
    out = a.send_take("PRIVMSG alice :note to self")
    assert [m.params for m in out] == [("alice", "note to self")] * 2
    assert out[0].tags and out[1].tags
    assert out[0].tags["msgid"] == out[1].tags["msgid"]
    out = a.send_take("@+typing=active TAGMSG alice")
    assert cmds(out) == ["TAGMSG", "TAGMSG"]
    # without echo-message: the delivery only
    b = h.user("bob")
    out = b.send_take("PRIVMSG bob :me")
    assert [m.params for m in out] == [("bob", "me")]


def test_notice_never_gets_an_error_reply() -> None:
    """RFC 2812 3.3.2 NOTICE: "automatic replies MUST NEVER be sent in response to a NOTICE
    message. This rule applies to servers too - they MUST NOT send any error reply back to
    the client on receipt of a notice". So no 401/403/404/417, and the messenger's refusals
    (mute, rate limit, private flood) drop a NOTICE silently too."""
    h = Harness(limits={"messages_per_period": 1})
    a = h.user("alice")
    b = h.user("bob")
    h.drain(a, b)
    long_text = "x" * 500
    for line in (
        "NOTICE #nonexistent :hello",
        "NOTICE nobody :hello",
        "NOTICE #dev :not a member",
        f"NOTICE #general :{long_text}",
        f"NOTICE bob :{long_text}",
        "NOTICE",
        "NOTICE :",
        "NOTICE bob",
        "NOTICE bob :",
    ):
        assert a.send_take(line) == [], line
    b.send_take("JOIN #dev")
    assert a.send_take("NOTICE #dev :outside") == []
    # the quota: the first notice goes, the second is dropped without a word
    assert a.send_take("NOTICE #general :one") == []
    assert a.send_take("NOTICE #general :two") == []
    assert [m.params[1] for m in only(b.take(), "NOTICE")] == ["one"]
    assert cmds(a.send_take("PRIVMSG #general :three")) == ["404"]  # PRIVMSG is answered
    # a muted user's NOTICE is dropped without a word; its PRIVMSG is answered
    h.messenger.ban(a.session.user_key, 600, "test")
    assert a.send_take("NOTICE bob :psst") == []
    assert b.take() == []
    assert cmds(a.send_take("PRIVMSG bob :psst")) == ["531", "NOTICE"]


# ---------------------------------------------------------------------- CHATHISTORY

HIST = "draft/chathistory batch server-time message-tags"


def _batch(msgs: list[Message]) -> tuple[tuple[str, ...], list[Message]]:
    """(the opening BATCH's params, the lines inside) of one batch reply."""
    assert msgs[0].command == "BATCH" and msgs[-1].command == "BATCH", msgs
    return msgs[0].params, msgs[1:-1]


def test_private_history_batch_names_the_target_as_the_client_sent_it() -> None:
    """ircv3.net chathistory: the reply is a ``chathistory`` batch whose parameter is the
    target; a client files it under the buffer it asked for, so the batch names the target as
    the client wrote it (irctest ``testChathistoryDMs`` asks for ``c1.upper()``)."""
    h = Harness()
    a = h.user("alice", HIST, password="pw-alice")
    b = h.user("Bob", password="pw-bob")
    a.send("PRIVMSG bob :one")
    b.send("PRIVMSG alice :two")
    h.drain(a, b)
    for asked in ("BOB", "bob", "Bob"):
        params, inner = _batch(a.send_take(f"CHATHISTORY LATEST {asked} * 10"))
        assert params[1:] == ("chathistory", asked)
        assert [m.params[1] for m in inner] == ["one", "two"]
    # a channel keeps its own name
    params, _ = _batch(a.send_take("CHATHISTORY LATEST #GENERAL * 10"))
    assert params[1:] == ("chathistory", "#general")


def test_history_of_messages_to_oneself_has_each_message_once() -> None:
    """ircv3.net chathistory: a nick target gives the conversation with it "including outgoing
    messages"; a message to oneself is one message (irctest ``testMessagesToSelf``), though
    echo-message delivered it twice."""
    h = Harness()
    a = h.user("alice", HIST + " echo-message", password="pw")
    assert len(a.send_take("PRIVMSG alice :to me")) == 2
    _, inner = _batch(a.send_take("CHATHISTORY LATEST alice * 10"))
    assert [m.params for m in inner] == [("alice", "to me")]


def test_targets_lists_activity_in_the_window_in_the_asked_direction() -> None:
    """ircv3.net chathistory, TARGETS: ``CHATHISTORY TARGETS <timestamp> <timestamp> <limit>``
    lists the channels and private conversations with messages between the two timestamps,
    each with the time of its latest one, in a ``draft/chathistory-targets`` batch. Bounds are
    exclusive; from the first timestamp towards the second, at most ``limit``."""
    h = Harness()
    a = h.user("alice", HIST, password="pw-alice")
    others = [h.user(n, password=f"pw-{n}") for n in ("bob", "carol", "dave")]
    a.send("JOIN #quiet")
    h.advance(10)
    t0 = h.clock.now()
    times = {}
    for peer in others:  # bob, carol, dave write in turn, 10 s apart
        h.advance(10)
        peer.send(f"PRIVMSG alice :hi from {peer.nick}")
        times[peer.nick] = h.clock.now()
    h.advance(10)
    a.send("PRIVMSG #general :late")
    t_general = h.clock.now()
    h.drain(a, *others)

    def targets(ref1: float, ref2: float, limit: int) -> list[tuple[str, str]]:
        r1, r2 = iso_time(ref1), iso_time(ref2)
        params, inner = _batch(
            a.send_take(f"CHATHISTORY TARGETS timestamp={r1} timestamp={r2} {limit}")
        )
        assert params[1:] == ("draft/chathistory-targets",)
        assert all(m.command == "CHATHISTORY" and m.params[0] == "TARGETS" for m in inner)
        return [(m.params[1], m.params[2]) for m in inner]

    everything = targets(t0, t_general + 1, 10)
    assert everything == [
        ("bob", iso_time(times["bob"])),
        ("carol", iso_time(times["carol"])),
        ("dave", iso_time(times["dave"])),
        ("#general", iso_time(t_general)),
    ]  # #quiet had no message: not listed
    # the window: only carol's message lies strictly between these
    assert targets(times["bob"], times["dave"], 10) == [("carol", iso_time(times["carol"]))]
    # a target with later messages is listed with its latest message inside the window
    h.advance(10)
    others[1].send("PRIVMSG alice :carol again")
    assert ("carol", iso_time(times["carol"])) in targets(t0, t_general, 10)
    # the limit keeps the end the client starts from: oldest first, or newest first
    assert [t for t, _ in targets(t0, t_general + 1, 2)] == ["bob", "carol"]
    newest = targets(h.clock.now() + 1, t0, 2)
    assert [t for t, _ in newest] == ["carol", "#general"]


# ---------------------------------------------------------------------- UTF8ONLY


def _framed(raw: bytes) -> str:
    """One line as the server's framer decodes it."""
    (line,) = LineFramer().feed(raw + b"\r\n")
    assert isinstance(line, str)
    return line


def test_invalid_utf8_is_refused_with_fail_and_nothing_is_relayed() -> None:
    """ircv3.net UTF8ONLY: servers advertising it "MUST NOT relay content (such as PRIVMSG or
    NOTICE message data, channel topics, or realnames) containing non-UTF-8 data"; FAIL with
    INVALID_UTF8 "indicates that the client's message was rejected", ``FAIL *`` when the
    command name cannot be decoded (standard-replies)."""
    h = Harness()
    a = h.user("alice", "labeled-response batch")
    b = h.user("bob", "echo-message")
    assert "UTF8ONLY" in h.hub.isupport
    a.send("JOIN #dev")
    b.send("JOIN #dev")
    h.drain(a, b)
    for raw, command in (
        (b"PRIVMSG #dev :hi\xaa", "PRIVMSG"),
        (b"NOTICE bob :caf\xe9", "NOTICE"),
        (b"TOPIC #dev :\xff topic", "TOPIC"),
        (b"AWAY :gone \xc3", "AWAY"),
        (b"@+typing=\xaa TAGMSG #dev", "TAGMSG"),
        (b"PRIV\xaaMSG #dev :hi", "*"),
    ):
        out = a.send_take(_framed(raw))
        assert [(m.command, m.params[:2]) for m in out] == [("FAIL", (command, "INVALID_UTF8"))]
        assert b.take() == []
    assert not h.messenger.rooms["#dev"].history
    assert not h.messenger.rooms["#dev"].topic
    # labeled-response: the FAIL carries the label
    out = a.send_take(_framed(b"@label=xyz PRIVMSG #dev :hi\xaa"))
    assert [(m.command, (m.tags or {}).get("label")) for m in out] == [("FAIL", "xyz")]
    # valid UTF-8 still goes through, unaltered
    b.send_take(_framed("PRIVMSG #dev :café ☃".encode()))
    assert [m.params for m in a.take()] == [("#dev", "café ☃")]


def test_invalid_utf8_before_registration_is_refused_too() -> None:
    """ircv3.net UTF8ONLY, example: ``USER u s e :<non-utf8 realname>`` gets ``FAIL USER
    INVALID_UTF8``; the connection can go on and register with valid text."""
    h = Harness()
    c = h.connect()
    c.send("NICK carol")
    out = c.send_take(_framed(b"USER carol 0 * :Carol \xe9"))
    assert [(m.command, m.params[:2]) for m in out] == [("FAIL", ("USER", "INVALID_UTF8"))]
    assert not c.session.registered
    c.send("USER carol 0 * :Carol é")
    assert c.session.registered and c.session.realname == "Carol é"
