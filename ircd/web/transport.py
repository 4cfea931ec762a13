"""IRC over WebSocket (https://ircv3.net/specs/extensions/websocket) and the static files of the
web messenger, on one listener.

One ``WebConnection`` per TCP connection. Its first bytes are an HTTP request, parsed by the
``websockets`` library's sans-I/O ``ServerProtocol`` (which also does the WebSocket framing,
masking, fragmentation, ping/pong and the close handshake; nothing here frames by hand):

- ``GET /irc`` with a WebSocket upgrade: the Origin is checked (``[web] allowed_origins``), the
  client's address is taken from ``X-Forwarded-For`` when the peer is a trusted proxy, the
  subprotocol is the first of ``binary.ircv3.net`` / ``text.ircv3.net`` in the client's order
  (none offered: text, as gamja expects), and the connection becomes a ``Link`` of the server
  core (``attach``): each WebSocket message is one IRC line, without CR LF;
- ``GET`` of any other path: one of the web messenger's static files (or 404), then the
  connection closes.

From then on the connection is like a TCP one for the rest of the server: the same per-IP
limit (at ``attach``), command budget and flood control, PING timeouts, SendQ and delivery
acknowledgements (``unacked`` maps the socket's unacknowledged bytes back to IRC bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from importlib import resources
from typing import Protocol, cast
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ..config import WebConfig
from ..irc import Session
from ..irc.link import Link
from ..wire import LineFramer, TooLong

log = logging.getLogger(__name__)
# the library logs every connection and HTTP response at INFO: keep only its warnings
_protocol_log = logging.getLogger(__name__ + ".protocol")
_protocol_log.setLevel(logging.WARNING)

TEXT = Subprotocol("text.ircv3.net")
BINARY = Subprotocol("binary.ircv3.net")
SUBPROTOCOLS = (BINARY, TEXT)
IRC_PATH = "/irc"
# A message longer than an IRC line (8191 bytes of tags + 512) gets 417 like on TCP; one longer
# than this is not even read: the connection is closed (1009, message too big).
MAX_MESSAGE = 64 * 1024
HANDSHAKE_SECONDS = 10.0  # a connection must have sent its HTTP request by then
CLOSE_SECONDS = 2.0  # after our close frame, the client has this long to answer it
_MARKS_LIMIT = 4096  # (wire, IRC) byte marks kept for the acknowledgements

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
# Everything the page loads comes from this listener; its scripts may open WebSockets to it.
_CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)


class Core(Protocol):
    """What a transport needs from the server core (``ircd/server.py``'s ``Server``)."""

    def attach(self, link: Link) -> Session | None: ...

    def received(self, s: Session, lines: Iterable[str | TooLong]) -> None: ...

    def detached(self, s: Session, reason: str) -> None: ...


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _words(text: str) -> list[str]:
    return text.replace(",", " ").split()


def load_static() -> dict[str, tuple[bytes, str]]:
    """The web messenger's files, by URL path (``/`` is ``index.html``): (body, content type)."""
    out: dict[str, tuple[bytes, str]] = {}
    root = resources.files(__package__ or "ircd.web") / "static"
    for item in root.iterdir():
        name = item.name
        dot = name.rfind(".")
        ctype = CONTENT_TYPES.get(name[dot:] if dot >= 0 else "")
        if not item.is_file() or ctype is None or name.startswith("."):
            continue
        out["/" + name] = (item.read_bytes(), ctype)
    if "/index.html" in out:
        out["/"] = out["/index.html"]
    return out


@dataclass(slots=True)
class WebSettings:
    """The listener's settings, shared by its connections."""

    origins: tuple[str, ...] | None  # None: any origin; (): only this listener's own pages
    proxies: tuple[Network, ...]
    static: Mapping[str, tuple[bytes, str]]
    # bytes handed to a transport that the peer's TCP stack has not acknowledged (None: unknown)
    tcp_unacked: Callable[[asyncio.Transport], int | None]
    handshake_seconds: float = HANDSHAKE_SECONDS
    close_seconds: float = CLOSE_SECONDS
    connections: set[WebConnection] = field(default_factory=set)  # open ones, for shutdown

    @classmethod
    def from_config(
        cls, web: WebConfig, tcp_unacked: Callable[[asyncio.Transport], int | None]
    ) -> WebSettings:
        words = _words(web.allowed_origins)
        origins = None if words == ["*"] else tuple(w.lower() for w in words)
        proxies = tuple(ipaddress.ip_network(w, strict=False) for w in _words(web.trusted_proxies))
        return cls(origins, proxies, load_static(), tcp_unacked)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a proxy writes it in X-Forwarded-For (``1.2.3.4``, ``[::1]:5``...)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _canonical(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _response(status: int, reason: str, body: bytes, ctype: str) -> Response:
    headers = Headers(
        [
            ("Date", formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", ctype),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", _CSP),
        ]
    )
    return Response(status, reason, headers, body)


def _select_subprotocol(
    _protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The first of ours in the client's order of preference; none: no header (then text)."""
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


class WebConnection(asyncio.Protocol):
    """One TCP connection of the web listener: an HTTP request, then (for ``/irc``) the
    ``Link`` (``ircd/irc/link.py``) of one IRC client over WebSocket."""

    def __init__(self, core: Core, settings: WebSettings) -> None:
        self.core = core
        self.settings = settings
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.peer = "unknown"
        self.secure = False
        self.binary = False  # binary.ircv3.net was negotiated (else text frames)
        self.ws = ServerProtocol(
            select_subprotocol=_select_subprotocol,
            max_size=MAX_MESSAGE,
            logger=_protocol_log,
        )
        self.framer = LineFramer()
        self._parts: list[bytes] = []  # the fragments of the message being received
        self._kind = Opcode.TEXT
        self._timer: asyncio.TimerHandle | None = None
        self._why: str | None = None  # why we failed the connection, for the session's QUIT
        # bytes written to the socket, the IRC bytes among them, and marks (wire, IRC) after
        # each write, to tell how many IRC bytes the peer has acknowledged
        self._wire_sent = 0
        self._irc_sent = 0
        self._irc_acked = 0
        self._marks: deque[tuple[int, int]] = deque()
        self._marks_lost = False

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "unknown"
        addr = _address(self.peer)
        if addr is not None:
            self.peer = _canonical(addr)
        self.secure = transport.get_extra_info("sslcontext") is not None
        self.settings.connections.add(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.settings.handshake_seconds, self._handshake_late)

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        self._pump()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._pump()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.settings.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        s, self.session = self.session, None
        if s is not None:
            if self._why is not None:
                why = self._why
            elif exc is None or self.ws.close_rcvd is not None:
                why = "Connection closed"
            else:
                why = f"Connection reset: {exc}"
            self.core.detached(s, why)

    # ------------------------------------------------------------------ input

    def _pump(self) -> None:
        """Handle what the protocol made of the received bytes, then write its output."""
        lines: list[str | TooLong] = []
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._write()  # nothing to write yet; keeps the byte marks in order
                self._request(event)
            elif isinstance(event, Frame):
                self._frame(event, lines)
        if lines and self.session is not None:
            # before the close handshake's answer (if any) closes the transport: a QUIT counts
            # what the peer acknowledged, which cannot be told once the socket is closing
            self.core.received(self.session, lines)
        self._write()
        if self.ws.close_expected():
            self._close_soon()

    def _frame(self, frame: Frame, lines: list[str | TooLong]) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._kind = frame.opcode
            self._parts = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT:
            self._parts.append(bytes(frame.data))
        else:
            return  # ping, pong, close: the protocol answers them
        if not frame.fin:
            return
        data = b"".join(self._parts)
        self._parts = []
        if self.session is None or self._why is not None:
            return  # (a message before the client's close frame still counts: its QUIT)
        if self._kind is Opcode.TEXT and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                # RFC 6455 8.1: a text message that is not UTF-8 fails the connection
                self._why = "Invalid UTF-8 in a text message"
                self.ws.fail(CloseCode.INVALID_DATA, "invalid UTF-8")
                return
        # One message is one line; a trailing CR LF is tolerated. Several lines in one message
        # are taken in order, as on TCP; the TCP framer applies the same limits (417).
        lines.extend(self.framer.feed(data + b"\n"))

    # ------------------------------------------------------------------ the handshake

    def _request(self, request: Request) -> None:
        path = urlsplit(request.path).path
        if path != IRC_PATH:
            self.ws.send_response(self._static(path))
            return
        headers = request.headers
        self._from_proxy(headers)
        if not self._origin_allowed(headers):
            origin = ", ".join(headers.get_all("Origin"))
            log.info(
                "web: refused a WebSocket from %s: origin %r is not allowed", self.peer, origin
            )
            self.ws.send_response(
                self.ws.reject(403, "This page's origin may not connect to this IRC server.\n")
            )
            return
        response = self.ws.accept(request)
        self.ws.send_response(response)
        if response.status_code != 101:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.binary = self.ws.subprotocol == BINARY
        self._write()  # the 101 goes out before any IRC line
        self.session = self.core.attach(self)

    def _from_proxy(self, headers: Headers) -> None:
        """Behind a trusted reverse proxy, the client's address and scheme are the ones the
        proxy says (the nearest address in X-Forwarded-For that is not a trusted proxy)."""
        proxies = self.settings.proxies
        peer = _address(self.peer)
        if not proxies or peer is None or not any(peer in net for net in proxies):
            return
        hops = [h for v in headers.get_all("X-Forwarded-For") for h in v.split(",") if h.strip()]
        client = None
        for hop in reversed(hops):
            addr = _address(hop)
            if addr is None:
                break
            client = addr
            if not any(addr in net for net in proxies):
                break
        if client is not None:
            self.peer = _canonical(client)
        proto = headers.get_all("X-Forwarded-Proto")
        if proto and proto[-1].split(",")[-1].strip().lower() == "https":
            self.secure = True

    def _origin_allowed(self, headers: Headers) -> bool:
        origins = headers.get_all("Origin")
        if not origins:
            return True  # not a browser: Origin is what protects a browser's user
        if len(origins) > 1:
            return False
        origin = origins[0].strip().lower()
        allowed = self.settings.origins
        if allowed is None or origin in allowed:
            return True
        hosts = headers.get_all("Host")
        if allowed or len(hosts) != 1:
            return False
        parts = urlsplit(origin)
        scheme = "https" if self.secure else "http"
        return parts.scheme == scheme and parts.netloc == hosts[0].strip().lower()

    def _static(self, path: str) -> Response:
        found = self.settings.static.get(path)
        if found is None:
            return _response(404, "Not Found", b"Not found.\n", "text/plain; charset=utf-8")
        body, ctype = found
        return _response(200, "OK", body, ctype)

    def _handshake_late(self) -> None:
        self._timer = None
        if self.session is None and self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------------ output

    def _write(self, irc_bytes: int = 0) -> int:
        """Write what the protocol has to send; the empty chunk is its end of stream."""
        t = self.transport
        chunks = self.ws.data_to_send()
        if t is None or t.is_closing():
            return 0
        n = 0
        for chunk in chunks:
            if chunk:
                t.write(chunk)
                n += len(chunk)
        if n:
            self._wire_sent += n
            self._irc_sent += irc_bytes
            self._mark()
        if b"" in chunks:
            t.close()
        return n

    def _mark(self) -> None:
        marks = self._marks
        marks.append((self._wire_sent, self._irc_sent))
        if len(marks) > _MARKS_LIMIT:
            self._settle()
            if len(marks) > _MARKS_LIMIT:  # cannot be told: stop counting rather than guess
                marks.clear()
                self._marks_lost = True

    def _settle(self) -> int | None:
        """IRC bytes written that the peer has not acknowledged (None: unknown)."""
        t = self.transport
        if t is None or self._marks_lost:
            return None
        wire_unacked = self.settings.tcp_unacked(t)
        if wire_unacked is None:
            return None
        acked = self._wire_sent - wire_unacked
        marks = self._marks
        while marks and marks[0][0] <= acked:
            self._irc_acked = marks.popleft()[1]
        return self._irc_sent - self._irc_acked

    def _close_soon(self) -> None:
        """We sent (or answered) a close frame: the client closes TCP, or we do shortly."""
        if self._timer is not None or self.transport is None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.settings.close_seconds, self._close_now)

    def _close_now(self) -> None:
        self._timer = None
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------ the Link

    def send(self, data: bytes) -> int:
        t = self.transport
        if t is None or t.is_closing() or self.ws.state is not State.OPEN:
            return 0
        ws = self.ws
        for line in data.split(b"\r\n"):
            if not line:
                continue
            if self.binary:
                ws.send_binary(line)
            else:
                if not line.isascii():  # our lines are UTF-8; never send a text frame that is not
                    line = line.decode("utf-8", "replace").encode("utf-8")
                ws.send_text(line)
        self._write(len(data))
        return t.get_write_buffer_size()

    def close(self) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        if self.ws.state is State.OPEN:
            self.ws.send_close(CloseCode.NORMAL_CLOSURE)
            self._write()
            self._close_soon()
        else:
            t.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def buffered(self) -> int:
        t = self.transport
        return 0 if t is None else t.get_write_buffer_size()

    def unacked(self) -> int | None:
        with contextlib.suppress(Exception):
            return self._settle()
        return None
