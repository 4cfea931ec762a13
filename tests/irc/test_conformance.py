"""Main-path conformance at the adapter tier: the relayed line's length limit, JOIN without a
topic, LUSERS maxima, bot mode, echo-message to oneself, and NOTICE never answered.

Each test quotes the spec it checks (modern.ircdocs.horse, ircv3.net, RFC 2812)."""

from __future__ import annotations

import base64

from ircd.irc.timefmt import iso_time
from ircd.wire import LineFramer, Message
from tests.irc.harness import Client, Harness, cmds, one, only

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


def test_targets_lists_targets_whose_latest_message_is_in_the_window() -> None:
    """ircv3.net chathistory, TARGETS: ``CHATHISTORY TARGETS <timestamp> <timestamp> <limit>``
    lists the channels and private conversations "ordered by the time of the latest message",
    in a ``draft/chathistory-targets`` batch; the timestamps "match against the latest message
    stored for the target (i.e. a target is not returned if its latest message is outside of
    the selection parameters, even if it has other messages inside them)", otherwise as
    BETWEEN: bounds excluded, the limit counted from the first timestamp, forwards or
    backwards (ircv3-specifications PR 565)."""
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
        line = f"CHATHISTORY TARGETS timestamp={r1} timestamp={r2} {limit}"
        params, inner = _batch(a.send_take(line))
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
    assert targets(t_general + 1, t0, 10) == everything  # backwards: the same, ascending
    # strictly between: only carol's latest message lies between bob's and dave's
    assert targets(times["bob"], times["dave"], 10) == [("carol", iso_time(times["carol"]))]
    # carol writes again, later: her latest message is now outside that window
    h.advance(10)
    others[1].send("PRIVMSG alice :carol again")
    t_carol = h.clock.now()
    assert targets(times["bob"], times["dave"], 10) == []
    assert ("carol", iso_time(t_carol)) in targets(t0, t_carol + 1, 10)
    # the limit counts from the first timestamp: the oldest, or the most recent ones
    assert [t for t, _ in targets(t0, t_carol + 1, 2)] == ["bob", "dave"]
    assert [t for t, _ in targets(t_carol + 1, t0, 2)] == ["#general", "carol"]


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


# ---------------------------------------------------------------------- REGISTER, SASL, MARKREAD

REG = "draft/account-registration"


def _fails(out: list[Message]) -> list[tuple[str, ...]]:
    return [m.params[:2] for m in out if m.command == "FAIL"]


def _cap_ls_value(c: Client, cap: str) -> str | None:
    (ls,) = c.send_take("CAP LS 302")
    for item in ls.params[-1].split():
        name, _, value = item.partition("=")
        if name == cap:
            return value
    raise AssertionError(f"{cap} not offered")


def test_register_options_are_settings_advertised_in_the_cap_value() -> None:
    """ircv3.net account-registration, "Capability": the value is a comma-separated list of
    ``before-connect``, ``email-required``, ``custom-account-name``."""
    assert _cap_ls_value(Harness().connect(), REG) == "before-connect"
    h = Harness(
        accounts={
            "register_before_connect": False,
            "register_email_required": True,
            "register_custom_account_name": True,
        }
    )
    assert _cap_ls_value(h.connect(), REG) == "email-required,custom-account-name"
    h = Harness(accounts={"register_before_connect": False})
    assert _cap_ls_value(h.connect(), REG) == ""


def test_register_before_connect_off_needs_the_connection_first() -> None:
    """account-registration: "FAIL REGISTER COMPLETE_CONNECTION_REQUIRED" is "Sent by the server
    if the client sent a REGISTER command before connection registration" (and never when
    ``before-connect`` is advertised); after the welcome, it works."""
    h = Harness(accounts={"register_before_connect": False})
    c = h.connect()
    out = c.send_take("CAP LS 302", f"CAP REQ :{REG}", "NICK bar", "REGISTER * * barpassphrase")
    assert _fails(out) == [("REGISTER", "COMPLETE_CONNECTION_REQUIRED")]
    assert one(out, "FAIL").params[2] == "*"
    c.send("USER bar 0 * :bar", "CAP END")
    assert c.session.registered and c.session.account is None
    out = c.send_take("REGISTER * * barpassphrase")
    assert one(out, "REGISTER").params[:2] == ("SUCCESS", "bar")
    # on by default: before the welcome too
    c2 = Harness().connect()
    out = c2.send_take("CAP LS 302", f"CAP REQ :{REG}", "NICK bar", "REGISTER * * barpassphrase")
    assert one(out, "REGISTER").params[:2] == ("SUCCESS", "bar")


def test_register_email_required_and_kept() -> None:
    """account-registration: "email-required - if present, registrations require a valid email
    address"; "FAIL REGISTER INVALID_EMAIL <account> <message>". The address is kept with
    the account (no mail is sent)."""
    h = Harness(accounts={"register_email_required": True})
    g = h.user("dora", REG)
    for email in ("*", "not-an-address", "a@b", "@example.org"):
        out = g.send_take(f"REGISTER * {email} dora-pw")
        assert _fails(out) == [("REGISTER", "INVALID_EMAIL")], email
        assert one(out, "FAIL").params[2] == "dora"
    out = g.send_take("REGISTER * dora@example.org dora-pw")
    assert one(out, "REGISTER").params[:2] == ("SUCCESS", "dora")
    assert h.messenger.setting(g.session.user_key, "email", "") == "dora@example.org"
    # without the option an address is optional, but a given one must be an address
    h = Harness()
    e = h.user("erin", REG)
    assert _fails(e.send_take("REGISTER * nonsense erin-pw")) == [("REGISTER", "INVALID_EMAIL")]
    assert one(e.send_take("REGISTER * * erin-pw"), "REGISTER").params[0] == "SUCCESS"


def test_register_custom_account_name() -> None:
    """account-registration: "If the server advertises the custom-account-name key, then this
    desired account name can be different from the user's current nickname"; without it,
    "FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK"."""
    h = Harness()
    g = h.user("fred", REG)
    out = g.send_take("REGISTER fredacct * fred-pw")
    assert _fails(out) == [("REGISTER", "ACCOUNT_NAME_MUST_BE_NICK")]
    h = Harness(accounts={"register_custom_account_name": True})
    g = h.user("fred", REG)
    b = h.user("bob")
    assert _fails(g.send_take("REGISTER bob * fred-pw")) == [("REGISTER", "BAD_ACCOUNT_NAME")]
    assert _fails(g.send_take("REGISTER b@d * fred-pw")) == [("REGISTER", "BAD_ACCOUNT_NAME")]
    out = g.send_take("REGISTER fredacct * fred-pw")
    assert one(out, "REGISTER").params[:2] == ("SUCCESS", "fredacct")
    assert one(out, "900").params[2] == "fredacct"
    assert g.session.account == "fredacct" and g.nick == "fred"
    # the account works: a later connection logs in to it with SASL
    g.quit()
    c = h.connect()
    auth = base64.b64encode(b"\0fredacct\0fred-pw").decode()
    out = c.send_take("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN", f"AUTHENTICATE {auth}")
    assert "903" in cmds(out)
    assert b.session.registered


def test_register_errors_are_fail_for_clients_with_the_capability() -> None:
    """account-registration "Responses": every error is ``FAIL REGISTER <code>``; a client
    without the capability (or standard-replies) is told in a notice, and a missing parameter
    is 461 for it."""
    h = Harness()
    g = h.user("gina", REG)
    assert _fails(g.send_take("REGISTER * *")) == [("REGISTER", "NEED_MORE_PARAMS")]
    assert _fails(g.send_take("REGISTER * * abc")) == [("REGISTER", "WEAK_PASSWORD")]
    plain = h.user("hal")
    assert cmds(plain.send_take("REGISTER * *")) == ["461"]
    assert cmds(plain.send_take("REGISTER * * abc")) == ["NOTICE"]
    assert one(g.send_take("REGISTER * * gina-pw"), "REGISTER").params[0] == "SUCCESS"
    out = g.send_take("REGISTER * * gina-pw")
    assert _fails(out) == [("REGISTER", "ALREADY_AUTHENTICATED")]


def _sasl(c: Client, payload: bytes) -> list[Message]:
    auth = base64.b64encode(payload).decode()
    return c.send_take("AUTHENTICATE PLAIN", f"AUTHENTICATE {auth}")


def test_sasl_too_long_payload_and_authenticate_after_success() -> None:
    """ircv3.net sasl-3.1: the response is "split to 400-byte chunks"; 905 "is sent when ...
    the client-sent AUTHENTICATE command was too long (i.e. the parameter longer than 400
    bytes)"; "The server MAY place a limit on the total length of a response", and going over
    it fails the authentication: 904, "other errors not explicitly mentioned". "If the client
    attempts to issue the AUTHENTICATE command after already authenticating successfully,
    the server MUST reject it with a 907 numeric"; a guest already connected gets
    ERR_ALREADYREGISTERED (462: SASL after registration is not offered)."""
    h = Harness()
    h.user("ivy", password="ivy-pw").quit()
    c = h.connect()
    c.send_take("CAP LS 302", "CAP REQ :sasl")
    assert cmds(c.send_take("AUTHENTICATE PLAIN", "AUTHENTICATE " + "A" * 401)) == [
        "AUTHENTICATE",
        "905",
    ]
    c.send("AUTHENTICATE PLAIN")
    out: list[Message] = []
    for _ in range(4):  # 4 full chunks: 1600 bytes, more than a PLAIN login can be
        out += c.send_take("AUTHENTICATE " + "A" * 400)
    assert cmds(out) == ["904"]
    out = _sasl(c, b"\0ivy\0ivy-pw")
    assert cmds(out)[-2:] == ["900", "903"]
    out = c.send_take("AUTHENTICATE PLAIN")
    assert cmds(out) == ["907"]
    c.send("NICK ivy", "USER ivy 0 * :Ivy", "CAP END")
    assert c.session.registered
    c.take()
    c.land()  # the landing comes on its next line
    assert [m.params[0] for m in c.send_take("AUTHENTICATE PLAIN")] == ["ivy"]  # 907 to ivy
    guest = h.user("jo", "sasl")
    assert cmds(guest.send_take("AUTHENTICATE PLAIN")) == ["462"]


def test_markread_without_parameters_is_need_more_params() -> None:
    """ircv3.net read-marker: errors are standard replies; MARKREAD without a target is
    ``FAIL MARKREAD NEED_MORE_PARAMS``."""
    h = Harness()
    a = h.user("alice", "draft/read-marker")
    assert _fails(a.send_take("MARKREAD")) == [("MARKREAD", "NEED_MORE_PARAMS")]
    assert _fails(a.send_take("MARKREAD :")) == [("MARKREAD", "NEED_MORE_PARAMS")]


# ---------------------------------------------------------------------- [chat] auto_join


def test_auto_join_off_makes_a_plain_irc_server() -> None:
    """``[chat] auto_join = false``: nobody is put into #general on connect (modern.ircdocs.horse,
    "Connection Registration": the welcome burst, then nothing until the client JOINs), and
    #general is an ordinary channel (RFC 2812 1.3: "The channel is created implicitly when
    the first client joins it, and the channel ceases to exist when the last client leaves
    it"): its first joiner is its operator, as in every other channel here, it is +t only
    while it has one, and it goes when its last member leaves."""
    h = Harness(chat={"auto_join": False})
    assert "#general" not in h.messenger.rooms
    a = h.connect()
    burst = a.register("alice")
    assert "JOIN" not in cmds(burst) and "353" not in cmds(burst)
    assert cmds(burst)[-1] in ("376", "422")  # the MOTD (or its absence) ends the burst
    b = h.user("bob")
    out = a.send_take("JOIN #general")
    assert one(out, "353").params[3] == "@alice"  # the first joiner is its operator
    b.send_take("JOIN #general")
    assert cmds(b.send_take("TOPIC #general :mine")) == ["482"]
    assert cmds(a.send_take("TOPIC #general :ours")) == ["TOPIC"]
    a.send_take("PART #general")
    assert cmds(b.send_take("TOPIC #general :open now")) == ["TOPIC"]  # no operator: -t
    b.send_take("PART #general")
    assert "#general" not in h.messenger.rooms  # ceased, as any empty channel
    out = a.send_take("LIST")
    assert cmds(out) == ["321", "323"]


def test_auto_join_off_gives_no_backlog_but_keeps_an_accounts_channels() -> None:
    """With auto_join off a guest gets no #general backlog on connect, and a returning
    account is put back into the channels it was in (its unread replayed as usual)."""
    h = Harness(chat={"auto_join": False})
    a = h.user("alice", password="pw-alice")
    a.send("JOIN #dev", "JOIN #general")
    b = h.user("bob")
    b.send("JOIN #general", "PRIVMSG #general :hello")
    a.quit()
    b.send("PRIVMSG #general :while you were away")
    g = h.connect()
    burst = g.register("guest1")
    assert only(burst, "PRIVMSG") == [] and "JOIN" not in cmds(burst)
    a = h.connect()
    burst = a.register("alice", password="pw-alice")
    assert sorted(m.params[0] for m in only(burst, "JOIN")) == ["#dev", "#general"]
    replayed = [m.params[1] for m in only(burst, "PRIVMSG")]
    assert replayed and replayed[-1].endswith("while you were away")


def test_auto_join_on_by_default() -> None:
    """The product default: everyone lands in #general, which has no operator."""
    h = Harness()
    assert h.config.chat.auto_join
    burst = h.connect().register("alice")
    assert [m.params[0] for m in only(burst, "JOIN")] == ["#general"]
    assert one(burst, "353").params[3] == "alice"


def test_help_says_where_everyone_is_only_with_auto_join() -> None:
    """modern.ircdocs.horse HELP (704 RPL_HELPSTART): the overview names #general only when
    everyone is put into it."""
    on = one(Harness().user("alice").send_take("HELP"), "704")
    assert on.params[-1].endswith("Everyone lands in #general.")
    off = one(Harness(chat={"auto_join": False}).user("alice").send_take("HELP"), "704")
    assert "#general" not in off.params[-1]


def test_auto_join_off_general_takes_any_mode_from_its_operator() -> None:
    """With auto_join off #general is an ordinary channel: its operator sets +k and +l on it
    (modern.ircdocs.horse, "Channel Modes": key and client limit), which the general room
    everyone lands in never takes."""
    h = Harness(chat={"auto_join": False})
    a = h.user("alice")
    a.send_take("JOIN #general")
    out = a.send_take("MODE #general +kl secret 5")
    assert [m.command for m in out] == ["MODE"]
    assert cmds(h.user("bob").send_take("JOIN #general")) == ["475"]  # ERR_BADCHANNELKEY


def test_myinfo_lists_every_channel_mode_and_those_with_a_parameter() -> None:
    """modern.ircdocs.horse, "RPL_MYINFO (004)": ``<client> <servername> <version> <available
    user modes> <available channel modes> [<channel modes with a parameter>]``; the channel
    modes are the ones ISUPPORT's CHANMODES and PREFIX advertise (lists, key and limit, and the
    status modes, take a parameter)."""
    h = Harness()
    c = h.connect()
    out = c.register("alice")
    info = one(out, "004")
    isupport = {
        k: v for m in only(out, "005") for k, _, v in (p.partition("=") for p in m.params[1:-1])
    }
    lists, key, limit, plain = isupport["CHANMODES"].split(",")
    status = isupport["PREFIX"][1:].split(")")[0]
    assert set(info.params[4]) == set(lists + key + limit + plain + status)
    assert len(info.params[4]) == len(set(info.params[4]))
    assert set(info.params[5]) == set(lists + key + limit + status)
    assert "n" not in info.params[5] and "k" in info.params[5] and "v" in info.params[5]
    assert set(info.params[3]) == set("iBow")


def test_a_labeled_message_to_oneself_labels_only_the_echo() -> None:
    """ircv3.net labeled-response: "When a client sends a message to itself, the server MUST
    NOT include the label tag, except for any echo-message acknowledgment. This is because the
    delivered message is not a response, but a side effect." So no labeled batch: the echo
    carries the label, the delivery comes unlabeled (irctest labeled_responses *ToSelf)."""
    h = Harness()
    caps = "batch echo-message labeled-response message-tags server-time"
    c = h.user("foo", caps)
    for line in ("@label=12345 PRIVMSG foo :hi", "@label=12345 NOTICE foo :hi"):
        out = c.send_take(line)
        assert "BATCH" not in cmds(out)
        kind = line.split()[1]
        assert cmds(out) == [kind, kind]
        assert [(m.tags or {}).get("label") for m in out] == ["12345", None]
    out = c.send_take("@label=12345;+draft/react=lol TAGMSG foo")
    assert cmds(out) == ["TAGMSG", "TAGMSG"]
    assert [(m.tags or {}).get("label") for m in out] == ["12345", None]
    # without echo-message the response is empty (ACK) and the delivery still arrives
    d = h.user("bar", "batch labeled-response message-tags")
    out = d.send_take("@label=abc PRIVMSG bar :hi")
    assert cmds(out) == ["ACK", "PRIVMSG"] and out[0].tags == {"label": "abc"}
    assert out[1].tags is None or "label" not in out[1].tags
