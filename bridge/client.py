"""The IRC connection, built on pydle. THE ONLY module that imports pydle.

:class:`BridgeClient` is a ``pydle.Client`` that also negotiates the IRCv3 caps pydle does not
know (server-time, batch, standard-replies, labeled-response, draft/chathistory,
draft/read-marker, draft/message-redaction and our vendor cap) when the server offers them,
and hands every incoming line, in arrival order, to a :class:`~bridge.protocol.Translator`; the
resulting events go to the sink *before* anything awaits (pydle runs each line in its own
task, so order is only guaranteed up to the first ``await``).

One client object is one connection: the app makes a new one to reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pydle
from pydle.protocol import ProtocolViolation

from . import events as ev
from .protocol import Line, Purpose, Translator, iso_time, split_text

log = logging.getLogger(__name__)

Sink = Callable[[ev.Event], None]

VENDOR_CAP = "messenger.chat/commands"
LINE_LIMIT = 512  # bytes, with CRLF, without tags
HOST_ALLOWANCE = 1 + 11 + 1 + 64  # "!~user@host" as the server will relay it


class NotConnected(Exception):
    """The command could not be sent: there is no registered connection."""


class CannotSend(Exception):
    """The command cannot be written as a valid IRC line."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def to_line(message: Any) -> Line:
    """A pydle message -> our :class:`Line`."""
    command = message.command
    cmd = str(command).zfill(3) if isinstance(command, int) else str(command).upper()
    raw_tags = getattr(message, "tags", None) or {}
    tags = {str(k): ("" if v is True or v is None else str(v)) for k, v in raw_tags.items()}
    params = tuple(str(p) for p in (message.params or ()))
    return Line(cmd, params, message.source, tags)


class BridgeClient(pydle.Client):  # type: ignore[misc]  # pydle is untyped
    RECONNECT_ON_ERROR = False  # the app reconnects, with its own backoff
    READ_TIMEOUT = 90  # silence before pydle PINGs the server to check the link

    def __init__(
        self,
        nick: str,
        sink: Sink,
        *,
        password: str | None = None,
        seen: OrderedDict[str, None] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(
            nick,
            username=_username(nick),
            realname=nick,
            sasl_username=nick if password else None,
            sasl_password=password,
        )
        self._sink = sink
        self._clock = clock
        self._password = password
        self.translator = Translator(nick)
        if seen is not None:
            self.translator.seen = seen
        self.ready = asyncio.Event()  # registration finished (376/422 seen)
        self.closed = asyncio.Event()  # the connection is gone
        self.close_reason = "connection lost"
        self.expected_close = False
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pongs: dict[str, asyncio.Future[None]] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ capabilities

    async def on_capability_server_time_available(self, value: str | None) -> bool:
        return True

    async def on_capability_batch_available(self, value: str | None) -> bool:
        return True

    async def on_capability_standard_replies_available(self, value: str | None) -> bool:
        return True

    async def on_capability_labeled_response_available(self, value: str | None) -> bool:
        return True

    async def on_capability_draft_chathistory_available(self, value: str | None) -> bool:
        return True

    async def on_capability_draft_read_marker_available(self, value: str | None) -> bool:
        return True

    async def on_capability_draft_message_redaction_available(self, value: str | None) -> bool:
        return True

    async def on_capability_messenger_chat_commands_available(self, value: str | None) -> bool:
        return True

    def has_cap(self, name: str) -> bool:
        return bool(getattr(self, "_capabilities", {}).get(name))

    def enabled_caps(self) -> tuple[str, ...]:
        caps: dict[str, Any] = getattr(self, "_capabilities", {})
        return tuple(sorted(c for c, on in caps.items() if on))

    # ------------------------------------------------------------------ connection

    @property
    def is_ready(self) -> bool:
        return self.ready.is_set() and not self.closed.is_set()

    async def start(self, host: str, port: int, *, tls: bool = False, verify: bool = True) -> None:
        """Open the connection and start registering (CAP LS, PASS, NICK, USER).

        Like pydle's ``connect()``, but the reader task is ours (kept and awaited)."""
        await self._connect(hostname=host, port=port, tls=tls, tls_verify=verify)
        self.password = self._password
        self._reader = asyncio.create_task(self._read(), name=f"irc-reader-{host}:{port}")
        await self._register()

    async def _read(self) -> None:
        try:
            await self.handle_forever()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a reset, a line too long for the reader...
            log.debug("connection error: %r", e)
            if self.close_reason == "connection lost":
                self.close_reason = str(e) or type(e).__name__
        finally:
            if self.connected:
                try:
                    await self.disconnect(expected=False)
                except Exception:  # pragma: no cover - best effort
                    log.debug("disconnect failed", exc_info=True)
            self._finish()

    def _finish(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for fut in self._pongs.values():
            if not fut.done():
                fut.set_exception(NotConnected(self.close_reason))
        self._pongs.clear()
        if not self.expected_close:
            self._sink(ev.Disconnected(self.close_reason))

    async def on_disconnect(self, expected: bool) -> None:
        # Not chained on purpose: pydle's version would reconnect by itself.
        self.expected_close = self.expected_close or expected

    async def on_data_error(self, exception: BaseException) -> None:
        # pydle logs an ERROR from the server as a socket error with a traceback; the
        # ERROR text has already been shown, so just close.
        await self.disconnect(expected=False)

    async def close(self) -> None:
        """Drop the connection (no QUIT) and wait for the reader to end."""
        self.expected_close = True
        if self.connected:
            try:
                await self.disconnect(expected=True)
            except Exception:  # pragma: no cover - best effort
                log.debug("disconnect failed", exc_info=True)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 5)
            except (asyncio.TimeoutError, Exception):
                self._reader.cancel()
        self._finish()
        for t in list(self._tasks):
            t.cancel()

    async def leave(self, reason: str) -> None:
        """QUIT and close."""
        self.expected_close = True
        if self.connected:
            try:
                await self.rawmsg("QUIT", reason)
            except Exception:
                log.debug("QUIT failed", exc_info=True)
        await self.close()

    # ------------------------------------------------------------------ incoming lines

    async def on_data(self, data: bytes) -> None:
        """pydle's ``on_data``, with the lines translated here, synchronously and in order,
        and the per-line tasks kept."""
        self._receive_buffer += data
        while self._has_message():
            try:
                message = self._parse_message()
            except (ProtocolViolation, ValueError, IndexError):
                log.debug("unparsable line skipped")
                continue
            self._translate(message)
            self._spawn(self.on_raw(message))

    def _translate(self, message: Any) -> None:
        try:
            line = to_line(message)
            if line.command == "PONG" and line.params:
                fut = self._pongs.pop(line.params[-1], None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
                    return
            if line.command in ("376", "422"):
                self.translator.caps = set(self.enabled_caps())
            if line.command == "ERROR":
                if self.expected_close:
                    return  # the goodbye after our QUIT
                self.close_reason = line.params[-1] if line.params else "closed by the server"
            events = self.translator.feed(line, self._clock())
        except Exception:
            log.exception("cannot make sense of %r", getattr(message, "_raw", message))
            return
        for e in events:
            self._sink(e)
            if isinstance(e, ev.Connected):
                self.ready.set()
            elif (
                isinstance(e, ev.BlockEnd)
                and e.last is not None
                and self.has_cap("draft/read-marker")
            ):
                marker = f"timestamp={iso_time(e.last)}"
                self._spawn(self._send_quietly("MARKREAD", e.target, marker))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_quietly(self, command: str, *params: str) -> None:
        try:
            await self.rawmsg(command, *params)
        except Exception:
            log.debug("%s not sent", command, exc_info=True)

    async def on_unknown(self, message: Any) -> None:
        # FAIL, NOTE, BATCH, MARKREAD, ACK...: already handled by the translator
        log.debug("pydle has no handler for %s", message.command)

    async def whois(self, nickname: str) -> None:
        # pydle WHOISes every new nick it sees when the server has no WHOX (and awaits the
        # reply inside the line handler); the bridge needs none of that information.
        return None

    async def on_raw_005(self, message: Any) -> None:
        await super().on_raw_005(message)
        # with WHOX, pydle follows each JOIN of ours with "WHO <channel> %tnurha" for the same
        # information (whose replies would read as an answer to /who): not asked for either
        self._isupport.pop("WHOX", None)

    async def on_raw_432(self, message: Any) -> None:
        if self.registered:
            await super().on_raw_432(message)
        # before registration pydle would try "nick_": the app asks the user instead

    async def on_raw_433(self, message: Any) -> None:
        if self.registered:
            await super().on_raw_433(message)

    # ------------------------------------------------------------------ sending

    async def send(self, command: str, *params: str, purpose: Purpose | None = None) -> None:
        """Send one command. With ``purpose``, its reply is attributed to that purpose (a
        label when labeled-response is on)."""
        if not self.connected or self.closed.is_set():
            raise NotConnected("not connected")
        tags: dict[str, str] = {}
        if purpose is not None:
            if self.has_cap("labeled-response"):
                label = f"b{next(self._ids)}"
                tags["label"] = label
                self.translator.expect(label, purpose)
            else:
                self.translator.expect(None, purpose)
        try:
            await self.rawmsg(command, *params, tags=tags)
        except ProtocolViolation as e:
            raise CannotSend(str(e)) from None
        except (OSError, asyncio.TimeoutError, AttributeError) as e:
            raise NotConnected(str(e) or "connection lost") from None

    async def send_raw(self, line: str) -> None:
        if "\r" in line or "\n" in line:
            raise CannotSend("a raw line cannot contain line breaks")
        if not self.connected or self.closed.is_set():
            raise NotConnected("not connected")
        try:
            await self.raw(line + "\r\n")
        except (OSError, asyncio.TimeoutError, AttributeError) as e:
            raise NotConnected(str(e) or "connection lost") from None

    async def say(self, target: str, text: str, *, action: bool = False) -> None:
        """PRIVMSG ``target``, split to fit one relayed line per piece. Without echo-message,
        our own lines are shown right away (with it, the server's echo shows them)."""
        text = text.replace("\r", " ").replace("\n", " ")
        overhead = len(f":{self.nickname} PRIVMSG {target} :\r\n".encode()) + HOST_ALLOWANCE
        if action:
            overhead += len("\x01ACTION \x01")
        for piece in split_text(text, LINE_LIMIT - overhead):
            body = f"\x01ACTION {piece}\x01" if action else piece
            await self.send("PRIVMSG", target, body or " ")
            if not self.has_cap("echo-message"):
                self._sink(
                    ev.Chat(
                        self._clock(),
                        self.nickname,
                        target,
                        piece,
                        "action" if action else "privmsg",
                        private=not self.translator.is_channel(target),
                        own=True,
                    )
                )

    async def sync(self, timeout: float = 10.0) -> None:
        """Wait until the server has processed everything sent so far (PING/PONG)."""
        token = f"bridge-sync-{next(self._ids)}"
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[token] = fut
        try:
            await self.send("PING", token)
            await asyncio.wait_for(fut, timeout)
        finally:
            self._pongs.pop(token, None)


def _username(nick: str) -> str:
    name = "".join(ch for ch in nick.lower() if ch.isalnum())
    return name[:10] or "messenger"
