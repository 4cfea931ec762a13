"""Main-path conformance on the real server (port 0, raw sockets): the 512-byte boundary,
invalid UTF-8 from the socket, NOTICE never answered, JOIN without a topic, bot mode, a
message to oneself, REGISTER's advertised options and ``[chat] auto_join``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ircd.wire import Message, parse
from tests.conftest import RawClient
from tests.server.conftest import StartServer

Clients = Callable[[int], Awaitable[RawClient]]


async def _quiet_after(c: RawClient, *lines: str | bytes) -> list[Message]:
    """Send ``lines`` (bytes as they are), then sync: what came back before the PONG (what
    had come before is read first)."""
    await c.sync()
    start = len(c.lines)
    for line in lines:
        if isinstance(line, bytes):
            c.writer.write(line + b"\r\n")
        else:
            c.send(line)
    await c.sync()
    return [m for m in map(parse, c.lines[start:]) if m.command != "PONG"]


async def _user(start: int, clients: Clients, nick: str, caps: str = "", **kw: str) -> RawClient:
    c = await clients(start)
    await c.registered_and_joined(nick, caps=caps, **kw)
    await c.sync()
    return c


async def test_relayed_line_of_512_bytes_passes_and_513_is_refused(
    start_server: StartServer, clients: Clients
) -> None:
    """modern.ircdocs.horse, "Message format": lines "SHALL NOT exceed 512 bytes in length,
    counting all characters including the trailing CR-LF"; tags apart (ircv3.net
    message-tags, "Size limit"). Too long: ERR_INPUTTOOLONG (417)."""
    srv = await start_server()
    a = await _user(srv.port, clients, "alice")
    b = await _user(srv.port, clients, "bob", caps="message-tags server-time")
    a.send("WHOIS alice")
    who = await a.expect("311")
    mask = f"alice!{who.params[2]}@{who.params[3]}"
    text = "x" * (512 - len(f":{mask} PRIVMSG #general :\r\n"))
    assert await _quiet_after(a, f"PRIVMSG #general :{text}") == []
    got = await b.expect("PRIVMSG")
    line = b.lines[-1]
    assert len((line.split(" ", 1)[1] + "\r\n").encode()) == 512  # the body, tags apart
    assert got.params == ("#general", text)
    out = await _quiet_after(a, f"PRIVMSG #general :{text}y")
    assert [m.command for m in out] == ["417"]
    assert not [m for m in map(parse, b.lines[b.lines.index(line) + 1 :]) if m.command == "PRIVMSG"]


async def test_invalid_utf8_from_the_socket_is_refused(
    start_server: StartServer, clients: Clients
) -> None:
    """ircv3.net UTF8ONLY: "Servers publishing this token MUST NOT relay content ...
    containing non-UTF-8 data"; ``FAIL <command> INVALID_UTF8`` says the message was rejected
    (irctest ``testUtf8Validation``, ``testNonUtf8Filtering`` with a label)."""
    srv = await start_server()
    a = await _user(srv.port, clients, "alice", caps="labeled-response batch")
    b = await _user(srv.port, clients, "bob")
    out = await _quiet_after(a, b"PRIVMSG bob :hi\xaa", b"@label=xyz PRIVMSG #general :caf\xe9")
    assert [(m.command, m.params[:2]) for m in out] == [("FAIL", ("PRIVMSG", "INVALID_UTF8"))] * 2
    assert (out[1].tags or {}).get("label") == "xyz"
    await b.sync()
    assert not [ln for ln in b.lines if " PRIVMSG " in ln]
    a.send("PRIVMSG bob :héllo ☃")
    assert (await b.expect("PRIVMSG")).params == ("bob", "héllo ☃")


async def test_notice_gets_no_reply_and_join_without_topic_no_331(
    start_server: StartServer, clients: Clients
) -> None:
    """RFC 2812 3.3.2: servers "MUST NOT send any error reply back to the client on receipt
    of a notice" (irctest ``testNoticeNonexistentChannel``). modern.ircdocs.horse JOIN: the
    topic "and no message if the channel does not have a topic"."""
    srv = await start_server()
    a = await _user(srv.port, clients, "alice")
    assert "331" not in a.numerics()
    assert await _quiet_after(a, "NOTICE #nonexistent :hi", "NOTICE nobody :hi", "NOTICE") == []
    out = await _quiet_after(a, "JOIN #dev")
    assert [m.command for m in out] == ["JOIN", "353", "366"]
    out = await _quiet_after(a, "TOPIC #dev")
    assert [m.command for m in out] == ["331"]


async def test_bot_tag_and_echo_to_oneself(start_server: StartServer, clients: Clients) -> None:
    """ircv3.net bot-mode: the ``bot`` tag on messages from a +B user, 335 in WHOIS.
    ircv3.net echo-message: a message to oneself comes back as the echo and the delivery
    (irctest ``testMessagesToSelf``)."""
    srv = await start_server()
    bot = await _user(srv.port, clients, "botnick", caps="message-tags echo-message")
    user = await _user(srv.port, clients, "usernick", caps="message-tags")
    bot.send("MODE botnick +B")
    assert (await bot.expect("MODE")).params == ("botnick", "+B")
    bot.send("PRIVMSG usernick :beep boop")
    got = await user.expect("PRIVMSG")
    assert got.tags is not None and "bot" in got.tags
    user.send("WHOIS botnick")
    assert (await user.expect("335")).params[1] == "botnick"
    out = await _quiet_after(bot, "PRIVMSG botnick :note to self")
    assert [m.params for m in out] == [("botnick", "note to self")] * 2


async def test_register_options_and_auto_join_off(
    start_server: StartServer, clients: Clients
) -> None:
    """ircv3.net account-registration "Capability" (``email-required``, no ``before-connect``:
    then ``FAIL REGISTER COMPLETE_CONNECTION_REQUIRED``), and ``[chat] auto_join = false``:
    the welcome burst ends with the MOTD, no JOIN (modern.ircdocs.horse, "Connection
    Registration")."""
    srv = await start_server(
        chat={"auto_join": False},
        accounts={"register_before_connect": False, "register_email_required": True},
    )
    c = await clients(srv.port)
    c.send("CAP LS 302")
    ls = await c.expect(lambda m: m.command == "CAP" and m.params[1] == "LS")
    assert "draft/account-registration=email-required" in ls.params[-1].split()
    c.send("CAP REQ :draft/account-registration", "NICK bar", "REGISTER * * barpassphrase")
    fail = await c.expect("FAIL")
    assert fail.params[:2] == ("REGISTER", "COMPLETE_CONNECTION_REQUIRED")
    c.send("USER bar 0 * :bar", "CAP END")
    await c.expect(lambda m: m.command in ("376", "422"))
    c.send("REGISTER * * barpassphrase")
    assert (await c.expect("FAIL")).params[:2] == ("REGISTER", "INVALID_EMAIL")
    c.send("REGISTER * bar@example.org barpassphrase")
    assert (await c.expect("REGISTER")).params[:2] == ("SUCCESS", "bar")
    await c.sync()
    assert not [ln for ln in c.lines if " JOIN " in ln]
    c.send("JOIN #general")
    names = await c.expect("353")
    assert names.params[3] == "@bar"  # an ordinary channel: its first joiner is operator


async def test_private_chathistory_batch_is_named_as_asked(
    start_server: StartServer, clients: Clients
) -> None:
    """ircv3.net chathistory: the reply is a ``chathistory`` batch with the target as its
    parameter, named as the client asked for it (irctest ``testChathistoryDMs`` asks with the
    nick upper-cased)."""
    srv = await start_server()
    caps = "draft/chathistory batch server-time message-tags"
    a = await _user(srv.port, clients, "alice", caps=caps, password="pw-alice")
    b = await _user(srv.port, clients, "bobby", password="pw-bobby")
    a.send("PRIVMSG bobby :one")
    await b.expect("PRIVMSG")
    b.send("PRIVMSG alice :two")
    await a.expect("PRIVMSG")
    a.send("CHATHISTORY LATEST BOBBY * 10")
    got = await a.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
    opener = next(m for m in got if m.command == "BATCH")
    assert opener.params[1:] == ("chathistory", "BOBBY")
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == ["one", "two"]
