"""IRC over WebSocket on the real server: the subprotocols, framing, limits and the Origin
check (https://ircv3.net/specs/extensions/websocket; RFC 6455), and the listener's other side,
the static files of the web messenger."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from ircd.server import Server
from tests.conftest import TIMEOUT, RawClient

from .conftest import WSClient

StartWeb = Callable[..., Awaitable[Server]]
OpenWS = Callable[..., Awaitable[WSClient]]


async def http_get(port: int, path: str, headers: str = "") -> tuple[str, dict[str, str], bytes]:
    r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode())
    raw = await asyncio.wait_for(r.read(), TIMEOUT)  # the server closes after one response
    w.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    hdrs = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
    return status, hdrs, body


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["text.ircv3.net"], "text.ircv3.net"),
        (["binary.ircv3.net"], "binary.ircv3.net"),
        (["text.ircv3.net", "binary.ircv3.net"], "text.ircv3.net"),
        (["binary.ircv3.net", "text.ircv3.net"], "binary.ircv3.net"),
        (["chat.example", "binary.ircv3.net"], "binary.ircv3.net"),
        (None, None),
        (["chat.example"], None),
    ],
)
async def test_subprotocol_in_the_clients_order(
    web_server: StartWeb, ws_clients: OpenWS, offered: list[str] | None, chosen: str | None
) -> None:
    """IRCv3 WebSocket, "WebSocket features and encoding": the server accepts a subprotocol it
    supports in the client's order of preference; with none agreed it goes on without the
    header, and then sends text (as gamja expects). Binary exchanges binary messages, text
    exchanges text messages; one line per message, no CR LF."""
    srv = await web_server()
    c = await ws_clients(srv.web_port, subprotocols=offered)
    assert c.ws.subprotocol == chosen
    await c.registered_and_joined("alice")
    kinds = {type(f) for f in c.frames}
    assert kinds == ({bytes} if chosen == "binary.ircv3.net" else {str})
    assert any(line.split(" ")[1] == "001" for line in c.lines)


async def test_a_tcp_and_a_websocket_client_chat(web_server: StartWeb, ws_clients: OpenWS) -> None:
    """IRCv3 WebSocket, "Introduction": web clients join the same network as TCP clients."""
    srv = await web_server()
    tcp = await RawClient.connect(srv.port)
    try:
        await tcp.registered_and_joined("tess", password="pw")
        web = await ws_clients(srv.web_port, subprotocols=["text.ircv3.net"])
        await web.registered_and_joined("wendy", password="pw")
        web.send("PRIVMSG #general :hello from the browser é")
        got = await tcp.expect("PRIVMSG")
        assert got.source.startswith("wendy!") and got.params == (
            "#general",
            "hello from the browser é",
        )
        tcp.send("PRIVMSG wendy :hi over TCP")
        got = await web.expect("PRIVMSG")
        assert got.source.startswith("tess!") and got.params == ("wendy", "hi over TCP")
    finally:
        await tcp.close()


async def test_crlf_inside_a_message_and_a_trailing_crlf(
    web_server: StartWeb, ws_clients: OpenWS
) -> None:
    """IRCv3 WebSocket, "Messages": one message is one line without CR LF. A trailing CR LF is
    tolerated; a message holding several lines is taken as those lines, in order, as the same
    bytes would be on TCP (RFC 1459 2.3: lines end with CR LF)."""
    srv = await web_server()
    a = await ws_clients(srv.web_port, subprotocols=["text.ircv3.net"])
    b = await ws_clients(srv.web_port, subprotocols=["binary.ircv3.net"])
    await a.registered_and_joined("alice")
    await b.registered_and_joined("bob")
    a.send_raw("PRIVMSG #general :one\r\nPRIVMSG #general :two")
    a.send_raw("PRIVMSG #general :three\r\n")
    a.send_raw(b"PRIVMSG #general :four\r\n")
    texts = [(await b.expect("PRIVMSG")).params[1] for _ in range(4)]
    assert texts == ["one", "two", "three", "four"]


async def test_an_over_long_line_gets_417_and_a_huge_message_closes(
    web_server: StartWeb, ws_clients: OpenWS
) -> None:
    """Modern IRC, ERR_INPUTTOOLONG (417): a line over 512 bytes is refused and the connection
    goes on, as on TCP. RFC 6455 7.4.1: a message too big to process closes with 1009."""
    srv = await web_server()
    c = await ws_clients(srv.web_port)
    await c.registered_and_joined("alice")
    c.send("PRIVMSG #general :" + "x" * 600)
    await c.expect("417")
    await c.sync()  # still connected and served
    c.send_raw("PRIVMSG #general :" + "y" * 70_000)
    await asyncio.wait_for(c.ws.wait_closed(), TIMEOUT)
    assert c.ws.close_code == 1009


async def test_invalid_utf8_in_a_text_message_fails_the_connection(
    web_server: StartWeb, ws_clients: OpenWS
) -> None:
    """RFC 6455 8.1: a text message that is not valid UTF-8 fails the connection (1007). In a
    binary message (IRCv3 WebSocket: binary carries any bytes) invalid bytes are handled as on
    TCP: we advertise UTF8ONLY, so the line is refused with ``FAIL PRIVMSG INVALID_UTF8`` and
    nothing of it is relayed (ircv3.net UTF8ONLY)."""
    srv = await web_server()
    watcher = await ws_clients(srv.web_port)
    await watcher.registered_and_joined("wanda")
    b = await ws_clients(srv.web_port, subprotocols=["binary.ircv3.net"])
    await b.registered_and_joined("bin")
    b.send_raw(b"PRIVMSG #general :caf\xe9 au lait")
    fail = await b.expect("FAIL")
    assert fail.params[:2] == ("PRIVMSG", "INVALID_UTF8")
    b.send("PRIVMSG #general :café au lait")
    got = await watcher.expect("PRIVMSG")
    assert got.params[1] == "café au lait"  # the first one never came
    t = await ws_clients(srv.web_port, subprotocols=["text.ircv3.net"])
    await t.registered_and_joined("txt")
    proto = t.ws.protocol
    proto.send_text(b"PRIVMSG #general :caf\xe9")  # the library's client would refuse to
    t.ws.transport.write(b"".join(proto.data_to_send()))
    await asyncio.wait_for(t.ws.wait_closed(), TIMEOUT)
    assert t.ws.close_code == 1007
    quit_ = await watcher.expect(lambda m: m.command == "QUIT" and m.source.startswith("txt!"))
    assert "UTF-8" in quit_.params[0]
    assert not any('caf\ufffd"' in line or line.endswith("caf\ufffd") for line in watcher.lines)


@pytest.mark.parametrize(
    ("allowed", "origin", "ok"),
    [
        ("", None, True),  # not a browser
        ("", "http://127.0.0.1:{port}", True),  # the page this listener serves
        ("", "http://evil.example", False),
        ("", "https://127.0.0.1:{port}", False),  # another scheme is another origin
        ("*", "http://evil.example", True),
        ("https://chat.example.com", "https://chat.example.com", True),
        ("https://chat.example.com", "http://127.0.0.1:{port}", False),
    ],
)
async def test_origin_check(
    web_server: StartWeb, allowed: str, origin: str | None, ok: bool
) -> None:
    """RFC 6455 10.2 (Origin considerations), as [web] allowed_origins sets it: by default only
    pages of this listener may connect; a browser page from another origin gets 403."""
    srv = await web_server(web={"allowed_origins": allowed})
    if origin is not None:
        origin = origin.format(port=srv.web_port)
    if ok:
        c = await WSClient.open(srv.web_port, origin=origin)
        await c.register("alice")
        await c.close()
    else:
        with pytest.raises(InvalidStatus) as refused:
            await WSClient.open(srv.web_port, origin=origin)
        assert refused.value.response.status_code == 403
        assert not srv.hub.sessions


async def test_forwarded_for_only_from_trusted_proxies(web_server: StartWeb) -> None:
    """[web] trusted_proxies: behind a reverse proxy the client's address is the nearest one
    in X-Forwarded-For that is not a trusted proxy; from anyone else the header is ignored."""
    srv = await web_server(web={"trusted_proxies": "127.0.0.0/8 10.0.0.0/8"})
    c = await WSClient.open(srv.web_port, headers={"X-Forwarded-For": "203.0.113.7, 10.1.2.3"})
    await c.register("alice")
    (s,) = srv.hub.sessions
    assert s.ip == "203.0.113.7"
    await c.close()
    other = await web_server(web={"trusted_proxies": "10.0.0.0/8"})
    c = await WSClient.open(other.web_port, headers={"X-Forwarded-For": "203.0.113.7"})
    await c.register("bob")
    (s,) = other.hub.sessions
    assert s.ip == "127.0.0.1"
    await c.close()


async def test_per_ip_limit_counts_websocket_and_tcp_together(web_server: StartWeb) -> None:
    """server.max_clients_per_ip applies to every transport alike."""
    srv = await web_server(server={"max_clients_per_ip": 2})
    tcp = await RawClient.connect(srv.port)
    a = await WSClient.open(srv.web_port)
    try:
        await a.register("alice")
        b = await WSClient.open(srv.web_port)
        err = await b.expect("ERROR")
        assert "Too many connections" in err.params[0]
        await b.close()
    finally:
        await a.close()
        await tcp.close()


async def test_flood_control_and_ping_like_tcp(web_server: StartWeb) -> None:
    """The command budget (server.command_burst, commands_per_second, max_queued_commands) and
    the server's PING (Modern IRC, PING) work over WebSocket as over TCP."""
    srv = await web_server(
        server={
            "command_burst": 2,
            "commands_per_second": 0.5,
            "max_queued_commands": 5,
            "ping_interval": 0.5,
        }
    )
    idle = await WSClient.open(srv.web_port)
    flood = await WSClient.open(srv.web_port)
    try:
        idle.auto_pong = False  # type: ignore[attr-defined]
        await idle.register("idle")
        await idle.expect(lambda m: m.command == "PING" and not m.params[-1].startswith("ack"), 4)
        await flood.register("flood")
        for i in range(20):
            flood.send(f"PRIVMSG #general :{i}")
        err = await flood.expect("ERROR", 10)
        assert "Excess flood" in err.params[0]
    finally:
        await idle.close()
        await flood.close()


async def test_static_files_of_the_web_messenger(web_server: StartWeb) -> None:
    """The same listener serves the web messenger's files at / (everything from this server:
    a Content-Security-Policy that allows only 'self'), and 404 for anything else."""
    srv = await web_server()
    status, headers, body = await http_get(srv.web_port, "/")
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert b"<!doctype html>" in body.lower()
    status, headers, body = await http_get(srv.web_port, "/app.js?v=1")
    assert status == "HTTP/1.1 200 OK" and headers["content-type"].startswith("text/javascript")
    assert int(headers["content-length"]) == len(body) > 0
    status, _, _ = await http_get(srv.web_port, "/../server.py")
    assert status.startswith("HTTP/1.1 404")
    status, _, _ = await http_get(srv.web_port, "/irc")  # not an upgrade
    assert status.startswith("HTTP/1.1 426")


async def test_web_port_zero_means_no_listener(web_server: StartWeb) -> None:
    srv = await web_server(web={"port": 0})
    assert srv.web_port == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is missing")
async def test_tls_when_a_certificate_is_set(web_server: StartWeb, tmp_path: Path) -> None:
    """With server.tls_cert the web listener speaks TLS: wss:// (IRCv3 WebSocket over TLS,
    RFC 6455 11.1.2) and https:// for the page; the connection counts as secure."""
    from tests.bridge.test_tls import make_cert

    cert, key = await make_cert(tmp_path)
    srv = await web_server(server={"tls_cert": str(cert), "tls_key": str(key)})
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    ws = await asyncio.wait_for(
        connect(f"wss://127.0.0.1:{srv.web_port}/irc", ssl=ctx, ping_interval=None), TIMEOUT
    )
    c = WSClient(ws)
    try:
        await c.register("tess")
        (s,) = srv.hub.sessions
        assert srv.conns[s].secure
    finally:
        await c.close()
    with pytest.raises(InvalidMessage):  # plain HTTP to a TLS port gets no answer
        await asyncio.wait_for(connect(f"ws://127.0.0.1:{srv.web_port}/irc"), TIMEOUT)


async def test_a_connection_that_sends_no_request_is_closed(web_server: StartWeb) -> None:
    """A TCP connection to the web listener must send its HTTP request in time (10 s; here
    shortened), so idle sockets cannot pile up before the per-IP limit applies."""
    srv = await web_server()
    assert srv._web is not None
    srv._web.handshake_seconds = 0.3
    r, w = await asyncio.open_connection("127.0.0.1", srv.web_port)
    try:
        assert await asyncio.wait_for(r.read(), TIMEOUT) == b""
    finally:
        w.close()
