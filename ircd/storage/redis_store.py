"""The Redis backend: the journal is one Redis stream shared by every node of a network, the
snapshot a Redis hash. (``FileStore`` in ``store.py`` is the single-node backend.)

Keys, for ``redis_key = "messenger"``:

``messenger:stream``
    One entry per event-loop pass that produced events, on any node: ``o`` (the writing node
    and its process, ``name/incarnation``), ``b`` (that process's batch number, from 1), ``e``
    (the pass's events, a JSON array). The stream's order is the one order of events.
``messenger:snapshot``
    ``id`` (the stream entry the snapshot includes, and everything before it), ``doc`` (the
    JSON document ``{"version", "state"}``). Entries before the newest snapshot's ``id`` are
    trimmed from the stream once it is written (and no live node still needs them).
``messenger:origins``
    ``origin -> "batch id"``: the last batch each process appended, so a retried append (the
    reply was lost with the connection) is not appended twice.
``messenger:last``
    ``"<id> <origin>"``: the stream's last entry and who wrote it, set by every append (the
    scripts read it instead of ``XINFO STREAM``; a stream without it is asked once).
``messenger:turn``
    The origin that holds the network's write turn (``PX`` 2 s, extended by its appends and
    its keep thread). ``messenger:waiters`` (``origin -> "first ask, last ask"``, Redis's
    clock in ms) lists who waits for it; ``messenger:wanted:<holder>`` tells the holder's keep
    thread (``BLPOP``) that someone does; ``messenger:grant:<origin>`` is where a holder that
    gives the turn back hands it, with the stream's tail, to the waiter that asked first and is
    still asking (it blocks on that list for 50 ms at a time, then asks again).
``messenger:nodes``
    ``origin -> "heartbeat ms, stream position, node name"``.

**Appending** (``append``) is compare-and-append: a small Lua script appends a pass's entry
only if the stream's last entry is still the one this node had applied when it produced the
events (its ``base``); otherwise nothing is appended and the writer reports a conflict. The
appends run in a writer thread with a blocking client, in order, several queued passes per
round trip; each pass's ``Durable`` is resolved on the event loop (through the ``post``
function given to ``start``) once Redis answered. Nothing is ever acknowledged before that.
A turn given back right after some passes (``release_turn``) goes in the same Lua call as
their append.

**Redis unavailable:** the writer keeps the passes it could not append and retries them
every half second, in order (the origins hash makes a retry that had in fact succeeded a
no-op); ``on_status(False, why)`` tells the server, which refuses new writes meanwhile, and
``on_status(True, "")`` when Redis answers again.

**Reading** (``start(..., on_entries=...)``): a reader thread follows the stream from where the
load left off (``XREAD BLOCK``) and hands every entry of another process to the loop, in
stream order; entries of this process are already applied and only move the position.

This module knows nothing about asyncio: its threads use the blocking client and give results
to the loop only through ``post``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..durable import DONE, Durable
from .store import LoadedState, StorageError, _encode_document, _fast_dumps

__all__ = ["RedisStore", "StreamEntry", "stream_id_key"]

log = logging.getLogger(__name__)

try:
    import redis
    from redis.exceptions import ConnectionError as _RedisConnectionError
    from redis.exceptions import RedisError, ResponseError
    from redis.exceptions import TimeoutError as _RedisTimeoutError

    _DOWN: tuple[type[BaseException], ...] = (
        _RedisConnectionError,
        _RedisTimeoutError,
        ConnectionError,
        OSError,
    )
except ImportError:  # pragma: no cover - the redis client is a dependency
    redis = None  # type: ignore[assignment]

_RETRY = 0.5  # seconds between attempts while Redis is unreachable
_MAX_GROUP = 64  # passes appended in one round trip at most
_READ_COUNT = 1000
_GRANT_WAIT = 0.05  # seconds a waiter blocks for the turn to be handed to it, then asks again
_KEEP_BLOCK = 0.5  # seconds an idle holder waits for a waiter before extending its turn
_ACQUIRE_OP = "acquire"
_RELEASE_OP = "release"
_BLOCK_MS = 1000

# What the scripts share. ``tail``: the stream's last id and the origin of its last entry,
# from ``last`` ("id origin", written by every append; a stream appended before that key
# existed is asked with XINFO once). ``give``: the holder gives the turn back, straight to the
# node that has waited longest among those still asking (each waiter asks again every
# ``_GRANT_WAIT`` s; one silent for 250 ms is dropped): the turn is set to it, and its grant
# list gets "last id origin" (it blocks on that list), so a hand-off costs no polling.
_LUA_SHARED = """
local function tail(stream, lastkey)
  local rec = redis.call('GET', lastkey)
  if rec then
    local id, o = string.match(rec, '^(%S+) ?(.*)$')
    return id, o
  end
  local last, origin = '0-0', ''
  if redis.call('EXISTS', stream) == 1 then
    local info = redis.call('XINFO', 'STREAM', stream)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then last = info[i + 1] end
      if info[i] == 'last-entry' and info[i + 1] then
        local f = info[i + 1][2]
        for j = 1, #f, 2 do if f[j] == 'o' then origin = f[j + 1] end end
      end
    end
  end
  return last, origin
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function give(turn, waiters, grant, ms, stream, lastkey)
  redis.call('DEL', turn)
  local now = now_ms()
  local all = redis.call('HGETALL', waiters)
  local best, first = nil, nil
  for i = 1, #all, 2 do
    local f, l = string.match(all[i + 1], '^(%d+) (%d+)$')
    f, l = tonumber(f), tonumber(l)
    if not l or now - l > 250 then
      redis.call('HDEL', waiters, all[i])
    elseif not best or f < first then
      best, first = all[i], f
    end
  end
  if not best then return end
  redis.call('HDEL', waiters, best)
  redis.call('SET', turn, best, 'PX', ms)
  local last, origin = tail(stream, lastkey)
  local g = grant .. best
  redis.call('DEL', g)
  redis.call('RPUSH', g, last .. ' ' .. origin)
  redis.call('PEXPIRE', g, ms)
end
"""

# KEYS: stream, origins, turn, last, waiters. ARGV: expected last id ("" = do not
# check), origin, count, "1" to give the turn back after appending, the turn's milliseconds,
# the grant keys' prefix, then per batch its number and its payload. Returns {"ok", ids},
# {"dup", ids} (already appended by an earlier attempt whose reply was lost), ids
# comma-separated, one per batch, or {"conflict", the stream's last id}. A holder's append
# extends its turn (or, with "1", gives it back: one round trip for the last pass of a turn).
_APPEND = (
    _LUA_SHARED
    + """
local origin, ms = ARGV[2], ARGV[5]
local function after()
  if redis.call('GET', KEYS[3]) == origin then
    if ARGV[4] == '1' then
      give(KEYS[3], KEYS[5], ARGV[6], ms, KEYS[1], KEYS[4])
    else
      redis.call('PEXPIRE', KEYS[3], ms)
    end
  end
end
local done = redis.call('HGET', KEYS[2], origin)
local first = tonumber(ARGV[7])
if done then
  local b, ids = string.match(done, '^(%d+) (.+)$')
  if tonumber(b) >= first then
    after()
    return {'dup', ids}
  end
end
local last = tail(KEYS[1], KEYS[4])
if ARGV[1] ~= '' and ARGV[1] ~= last then return {'conflict', last} end
local n = tonumber(ARGV[3])
local b = first
local ids = {}
for i = 0, n - 1 do
  b = ARGV[7 + 2 * i]
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'o', origin, 'b', b, 'e', ARGV[8 + 2 * i])
end
redis.call('SET', KEYS[4], ids[#ids] .. ' ' .. origin)
local joined = table.concat(ids, ',')
redis.call('HSET', KEYS[2], origin, b .. ' ' .. joined)
after()
return {'ok', joined}
"""
)

# KEYS: turn, stream, last, waiters, this origin's grant list. ARGV: origin, milliseconds, the
# wanted lists' prefix. Takes the turn if free (or ours): returns {1, the stream's last id, the
# origin of its last entry}; else says in the holder's wanted list (its keep thread blocks on
# it) and in ``waiters`` (for ``give``: "first ask, last ask" in Redis's clock) that this node
# waits for it, and returns {0}.
_ACQUIRE = (
    _LUA_SHARED
    + """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local wanted = ARGV[3] .. holder
  if redis.call('LLEN', wanted) < 8 then redis.call('RPUSH', wanted, ARGV[1]) end
  redis.call('PEXPIRE', wanted, ARGV[2])
  local now = now_ms()
  local seen = redis.call('HGET', KEYS[4], ARGV[1])
  local first = seen and string.match(seen, '^(%d+)') or tostring(now)
  redis.call('HSET', KEYS[4], ARGV[1], first .. ' ' .. now)
  redis.call('PEXPIRE', KEYS[4], ARGV[2])
  return {0}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[5])
local last, origin = tail(KEYS[2], KEYS[3])
return {1, last, origin}
"""
)

# KEYS: nodes, turn. ARGV: origin, its stream position, its name, the timeout in ms. Records
# the heartbeat (Redis's clock) and removes the nodes whose last one is older than the
# timeout, freeing the turn if one of them held it: returns {1 if this node's own heartbeat was
# still there (0: it was taken as dead), their origins...} (each origin is returned to the one
# caller that removed it). A caller whose own last heartbeat is that old judges nobody.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], now .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
local dead = {mine and 1 or 0}
if mine then
  local ms = tonumber(string.match(mine, '^(%d+)'))
  -- this node could not beat for that long either (Redis was away): judge nobody now
  if ms and now - ms > tonumber(ARGV[4]) then return dead end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ms = tonumber(string.match(all[i + 1], '^(%d+)'))
  if ms and now - ms > tonumber(ARGV[4]) then
    redis.call('HDEL', KEYS[1], all[i])
    dead[#dead + 1] = all[i]
    if redis.call('GET', KEYS[2]) == all[i] then redis.call('DEL', KEYS[2]) end
  end
end
return dead
"""

# KEYS: turn, waiters, stream, last. ARGV: origin, milliseconds, the grant keys'
# prefix. Gives the turn back (to the longest waiter, see ``give``) if this origin holds it.
_RELEASE = (
    _LUA_SHARED
    + """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  give(KEYS[1], KEYS[2], ARGV[3], ARGV[2], KEYS[3], KEYS[4])
end
return 1
"""
)

# KEYS: turn. ARGV: origin, milliseconds. Keeps an idle holder's turn alive: 1 if still ours.
_KEEP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: snapshot, stream. ARGV: the snapshot's id, its document, the id to trim the stream
# to ("" = keep it whole). A snapshot older than the stored one is not written. Returns 1 if
# written, 0 if not.
_SNAPSHOT = """
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as <= bs)
end
local cur = redis.call('HGET', KEYS[1], 'id')
if cur and older(ARGV[1], cur) then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'doc', ARGV[2])
if ARGV[3] ~= '' then redis.call('XTRIM', KEYS[2], 'MINID', ARGV[3]) end
return 1
"""


def _settle(batches: list[_Batch], error: StorageError | None) -> None:
    """On the loop: the batches are appended (``error`` None), or never will be."""
    for b in batches:
        if error is None:
            b.durable.resolve()
        else:
            b.durable.fail(error)


def _loads(raw: bytes) -> Any:
    if _fast_dumps is not None:
        from msgspec.json import decode

        return decode(raw)
    return json.loads(raw)


def stream_id_key(sid: str) -> tuple[int, int]:
    """A stream id ``"<ms>-<seq>"`` as a sortable pair."""
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)


def _older(a: str, b: str) -> bool:
    return stream_id_key(a) < stream_id_key(b)


def _encode_events(events: Sequence[dict[str, Any]]) -> bytes:
    if _fast_dumps is not None:
        with contextlib.suppress(TypeError, ValueError):
            return _fast_dumps(list(events))
    for event in events:
        if not isinstance(event, dict):
            raise TypeError(f"journal events must be dicts, got {type(event).__name__}")
    try:
        return json.dumps(list(events), separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(list(events), separators=(",", ":"), ensure_ascii=True).encode()


def _decode_events(raw: bytes, where: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise StorageError(f"{where}: corrupt stream entry, not valid JSON: {e}") from e
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise StorageError(f"{where}: corrupt stream entry: 'e' is not a list of events")
    return value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class StreamEntry:
    """One entry of the stream: its id, the process that wrote it, and its events."""

    id: str
    origin: str
    events: list[dict[str, Any]]


@dataclass
class _Batch:
    number: int
    payload: bytes
    base: str | int  # the stream id, or this process's batch number, it was decided on
    durable: Durable
    events: int
    id: str = ""


@dataclass
class _Shared:
    """What the loop and the threads share, under ``lock``."""

    lock: threading.Condition = field(default_factory=threading.Condition)
    queue: list[_Batch | str] = field(default_factory=list)  # passes and turn operations
    ids: dict[int, str] = field(default_factory=dict)  # batch number -> its stream id
    appended: int = 0  # the last batch number appended
    closing: bool = False


class RedisStore:
    """A ``Store`` on a Redis stream (see the module's text). ``node`` names this node in the
    stream and the log; several nodes share one ``url`` and ``key``."""

    def __init__(self, url: str, node: str, key: str = "messenger", *, timeout: float = 5.0):
        if redis is None:  # pragma: no cover
            raise StorageError("the redis backend needs the redis package (pip install redis)")
        self.url = url
        self.node = node
        self.origin = f"{node}/{secrets.token_hex(4)}"
        self.stream = f"{key}:stream"
        self.snapshot_key = f"{key}:snapshot"
        self.origins_key = f"{key}:origins"
        self.turn_key = f"{key}:turn"
        # + origin: the nodes waiting for the turn while that process holds it
        self.wanted_prefix = f"{key}:wanted:"
        self.wanted_key = self.wanted_prefix + self.origin
        self.waiters_key = f"{key}:waiters"  # origin -> "first ask, last ask" (for hand-off)
        self.last_key = f"{key}:last"  # "the stream's last id, its origin"
        self.grant_prefix = f"{key}:grant:"  # + origin: where the turn is handed to a waiter
        self.grant_key = self.grant_prefix + self.origin
        self.holding = False  # this node holds the turn (set by the loop)
        self.nodes_key = f"{key}:nodes"
        self.turn_ms = 2000  # a node that died holding the turn frees it after this
        self.key = key
        self._timeout = timeout
        self._shared = _Shared()
        self._batch = 0  # the last batch number given out
        self._base: str | int = "0-0"  # what the next batch is decided on
        self._loaded = False
        self._failed: str | None = None
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._post: Callable[[Callable[[], None]], None] | None = None
        self._on_status: Callable[[bool, str], None] = lambda _up, _why: None
        self._on_entries: Callable[[list[StreamEntry], str], None] | None = None
        self._up = True
        self._conflict: Callable[[str], None] | None = None
        self._on_turn: Callable[[str, bool], None] | None = None
        self.read_from = "0-0"  # where the reader starts (the load's end)
        self.position = "0-0"  # the last entry the reader handed over (or skipped: ours)
        self.snapshot_id = "0-0"  # the newest snapshot this process read or wrote
        self._client = self._connect()

    # -- connections ------------------------------------------------------------------------

    def _connect(self, *, block: float = 0.0) -> Any:
        return redis.Redis.from_url(
            self.url,
            socket_timeout=self._timeout + block,
            socket_connect_timeout=self._timeout,
            health_check_interval=0,
        )

    def _where(self) -> str:
        return f"{self.url} {self.stream}"

    # -- load -------------------------------------------------------------------------------

    def load(self, accept: Callable[[LoadedState], None] | None = None) -> LoadedState:
        """The newest snapshot and the stream entries after it. ``StorageError`` when Redis
        cannot be reached or holds something unreadable."""
        started = time.monotonic()
        client = self._client
        try:
            snap = client.hgetall(self.snapshot_key)
            snapshot: dict[str, Any] | None = None
            snap_id = "0-0"
            size = 0
            if snap:
                snap_id = _text(snap.get(b"id", b"0-0"))
                raw = snap.get(b"doc", b"")
                size = len(raw)
                snapshot = self._read_snapshot(raw)
            events: list[dict[str, Any]] = []
            origins: list[tuple[str, int]] = []
            entries = 0
            last = snap_id
            while True:
                chunk = client.xrange(self.stream, min=f"({last}", count=_READ_COUNT)
                if not chunk:
                    break
                for raw_id, fields in chunk:
                    sid = _text(raw_id)
                    entries += 1
                    for i, ev in enumerate(_decode_events(fields[b"e"], f"{self._where()} {sid}")):
                        events.append(ev)
                        origins.append((f"{self._where()} entry {sid}", i + 1))
                    last = sid
            info_last = self._last_generated(client)
        except _DOWN as e:
            raise StorageError(f"{self.url}: cannot reach Redis: {e}") from e
        except RedisError as e:
            raise StorageError(f"{self.url}: {e}") from e
        if _older(last, info_last):
            last = info_last  # entries were trimmed after the snapshot: nothing left to read
        loaded = LoadedState(snapshot=snapshot, events=events, origins=origins)
        # the origin() message of a bad event names the entry; "line" is the event's index
        if accept is not None:
            try:
                accept(loaded)
            except BaseException as e:
                self._failed = f"{self.url}: state did not load; refusing to write: {e}"
                raise
        self.read_from = self.position = last
        self.snapshot_id = snap_id
        self._base = last
        self._loaded = True
        behind = ""
        if entries and snap_id != "0-0":
            lag = (stream_id_key(last)[0] - stream_id_key(snap_id)[0]) / 1000
            behind = f", {lag:.1f} s of stream after it"
        log.info(
            "node %s: loaded from %s: snapshot at %s (%d bytes), then %d stream entries "
            "(%d events)%s; caught up to %s in %.3f s",
            self.node,
            self.url,
            snap_id,
            size,
            entries,
            len(events),
            behind,
            last,
            time.monotonic() - started,
        )
        return loaded

    def _read_snapshot(self, raw: bytes) -> dict[str, Any]:
        where = f"{self.url} {self.snapshot_key}"
        try:
            doc = _loads(raw)
        except (ValueError, RecursionError):
            try:
                doc = json.loads(raw)
            except (ValueError, RecursionError) as e:
                raise StorageError(f"{where}: corrupt snapshot, not valid JSON: {e}") from e
        from ..messenger.snapshot import SNAPSHOT_VERSION

        if not isinstance(doc, dict) or type(doc.get("version")) is not int:
            raise StorageError(f"{where}: unknown snapshot format")
        if doc["version"] != SNAPSHOT_VERSION:
            raise StorageError(
                f"{where}: unsupported snapshot schema version {doc['version']} "
                f"(this server reads version {SNAPSHOT_VERSION})"
            )
        state = doc.get("state")
        if not isinstance(state, dict):
            raise StorageError(f"{where}: corrupt snapshot: missing or invalid 'state'")
        return state

    def _last_generated(self, client: Any) -> str:
        try:
            info = client.xinfo_stream(self.stream)
        except ResponseError:
            return "0-0"  # no stream yet
        return _text(info.get("last-generated-id", b"0-0"))

    # -- the threads ------------------------------------------------------------------------

    def start(
        self,
        post: Callable[[Callable[[], None]], None],
        on_status: Callable[[bool, str], None] | None = None,
        on_entries: Callable[[list[StreamEntry], str], None] | None = None,
        on_conflict: Callable[[str], None] | None = None,
        on_turn: Callable[[str, bool], None] | None = None,
        on_dead: Callable[[list[str]], None] | None = None,
        node_timeout: float = 10.0,
        on_wanted: Callable[[], None] | None = None,
        on_expelled: Callable[[], None] | None = None,
    ) -> None:
        """Start the writer (and, with ``on_entries``, the reader): ``post(fn)`` must run
        ``fn`` on the event loop's thread. ``on_status(up, why)`` says when Redis stops or
        starts answering; ``on_entries`` gets other processes' entries in stream order."""
        if self._threads:
            return
        # the loop and these threads hand each other every pass: a short GIL switch interval
        # keeps a hand-off from waiting up to 5 ms behind the other thread's Python code
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self._post = post
        if on_status is not None:
            self._on_status = on_status
        self._on_entries = on_entries
        self._conflict = on_conflict
        self._on_turn = on_turn
        self._on_dead = on_dead
        self._on_wanted = on_wanted
        self._on_expelled = on_expelled
        self._node_timeout = node_timeout
        writer = threading.Thread(target=self._write_loop, name="ircd-redis-writer", daemon=True)
        self._threads.append(writer)
        writer.start()
        if on_entries is not None:
            reader = threading.Thread(target=self._read_loop, name="ircd-redis-reader", daemon=True)
            self._threads.append(reader)
            reader.start()
            beat = threading.Thread(target=self._beat_loop, name="ircd-redis-beat", daemon=True)
            self._threads.append(beat)
            beat.start()
            keep = threading.Thread(target=self._keep_loop, name="ircd-redis-keep", daemon=True)
            self._threads.append(keep)
            keep.start()

    def _to_loop(self, fn: Callable[[], None]) -> None:
        post = self._post
        if post is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            post(fn)

    def _status(self, up: bool, why: str) -> None:
        if up == self._up:
            return
        self._up = up
        if up:
            log.warning("node %s: Redis at %s answers again; writes resume", self.node, self.url)
        else:
            log.error(
                "node %s: Redis at %s unavailable (%s); refusing writes and retrying every %.1f s",
                self.node,
                self.url,
                why,
                _RETRY,
            )
        self._to_loop(functools.partial(self._on_status, up, why))

    # -- append -----------------------------------------------------------------------------

    def append(self, events: Sequence[dict[str, Any]]) -> Durable:
        """Queue one pass's events; the ``Durable`` is done once they are in the stream."""
        if not events:
            return DONE
        if self._failed is not None:
            raise StorageError(self._failed)
        if self._closed:
            raise StorageError(f"{self._where()}: store is closed")
        if not self._loaded:
            raise StorageError(f"{self._where()}: load() must be called before writing")
        payload = _encode_events(events)
        self._batch += 1
        # while Redis is unreachable nobody holds the turn: what is decided then (a connection
        # closing, an ack) is appended unchecked once Redis is back
        base = self._base if self._up else ""
        batch = _Batch(self._batch, payload, base, Durable(), len(events))
        self._base = self._batch
        self._enqueue(batch)
        return batch.durable

    def applied(self, entry_id: str) -> None:
        """The loop applied another process's entry ``entry_id``: what comes next is decided
        on it."""
        self._base = entry_id

    @property
    def base(self) -> str | int:
        return self._base

    def _write_loop(self) -> None:
        sh = self._shared
        client = self._connect()
        while True:
            with sh.lock:
                while not sh.queue and not sh.closing:
                    sh.lock.wait()
                if not sh.queue:
                    return
                head = sh.queue[0]
                group = self._group(sh.queue) if isinstance(head, _Batch) else []
                # the turn given back right after these passes: in the same round trip
                release = len(sh.queue) > len(group) > 0 and sh.queue[len(group)] == _RELEASE_OP
            if isinstance(head, str):
                self._turn_op(client, head)
                with sh.lock:
                    del sh.queue[:1]
                continue
            failed = self._write_group(client, group, release)
            with sh.lock:
                del sh.queue[: len(group) + (failed is None and release)]
                if failed is not None:
                    rest = [b for b in sh.queue if isinstance(b, _Batch)]
                    sh.queue = []
                if failed is None:
                    for b in group:
                        sh.ids[b.number] = b.id
                    sh.appended = group[-1].number
                    for n in [n for n in sh.ids if n < sh.appended - 1024]:
                        del sh.ids[n]
                sh.lock.notify_all()
            if failed is None:
                self._to_loop(functools.partial(_settle, group, None))
            else:
                self._to_loop(functools.partial(_settle, [*group, *rest], StorageError(failed)))

    # -- the turn ---------------------------------------------------------------------------

    def request_turn(self) -> None:
        """Ask for the network's write turn; ``on_turn(last id, last is ours)`` follows on the
        loop once this node holds it (only one node at a time decides on the state)."""
        self._enqueue(_ACQUIRE_OP)

    def holds_turn(self) -> None:
        """The loop decides now: keep the turn alive and listen for nodes that wait for it."""
        self.holding = True
        sh = self._shared
        with sh.lock:
            sh.lock.notify_all()  # the keep thread starts listening at once

    def release_turn(self) -> None:
        """Give the turn back once everything appended before this call is in the stream."""
        self.holding = False
        self._enqueue(_RELEASE_OP)

    def _enqueue(self, item: _Batch | str) -> None:
        sh = self._shared
        with sh.lock:
            sh.queue.append(item)
            sh.lock.notify_all()

    def _turn_op(self, client: Any, op: str) -> None:
        sh = self._shared
        keys = (self.turn_key, self.stream, self.last_key, self.waiters_key, self.grant_key)
        while not sh.closing or op == _RELEASE_OP:
            try:
                if op == _RELEASE_OP:
                    client.eval(
                        _RELEASE,
                        4,
                        self.turn_key,
                        self.waiters_key,
                        self.stream,
                        self.last_key,
                        self.origin,
                        self.turn_ms,
                        self.grant_prefix,
                    )
                    self._status(True, "")
                    return
                got = client.eval(
                    _ACQUIRE, len(keys), *keys, self.origin, self.turn_ms, self.wanted_prefix
                )
                if not (got and int(got[0]) == 1):
                    # another node has it: it hands the turn over when it gives it back (or
                    # it expires, or its node dies: then ask again)
                    handed = client.blpop([self.grant_key], timeout=_GRANT_WAIT)
                    if handed:
                        last, _, origin = _text(handed[1]).partition(" ")
                        got = [1, last, origin]
            except _DOWN as e:
                self._status(False, str(e) or type(e).__name__)
                if op == _RELEASE_OP and sh.closing:
                    return  # it expires by itself
                with sh.lock:
                    sh.lock.wait(_RETRY)
                continue
            except RedisError as e:
                log.error("node %s: turn %s refused by Redis: %s", self.node, op, e)
                if op == _RELEASE_OP and sh.closing:
                    return
                with sh.lock:
                    sh.lock.wait(_RETRY)
                continue
            self._status(True, "")
            if got and int(got[0]) == 1:
                last, origin = _text(got[1]), _text(got[2])
                if self._on_turn is not None:
                    self._to_loop(functools.partial(self._on_turn, last, origin == self.origin))
                return

    @staticmethod
    def _group(queue: list[_Batch | str]) -> list[_Batch]:
        """The queued passes that can go in one round trip: each decided on the one before."""
        first = queue[0]
        assert isinstance(first, _Batch)
        group = [first]
        for b in queue[1:_MAX_GROUP]:
            if not isinstance(b, _Batch) or b.base != group[-1].number:
                break
            group.append(b)
        return group

    def _write_group(self, client: Any, group: list[_Batch], release: bool = False) -> str | None:
        """Append ``group``, retrying while Redis is unreachable; None when appended, else
        why it never will be."""
        sh = self._shared
        base = group[0].base
        if isinstance(base, int):
            with sh.lock:
                expected = sh.ids.get(base, "")
            if not expected:
                return f"{self._where()}: batch {base} this batch follows was never appended"
        else:
            expected = base
        args: list[Any] = [
            expected,
            self.origin,
            len(group),
            "1" if release else "0",
            self.turn_ms,
            self.grant_prefix,
        ]
        for b in group:
            args += [b.number, b.payload]
        keys = (self.stream, self.origins_key, self.turn_key, self.last_key, self.waiters_key)
        while True:
            try:
                kind, last = client.eval(_APPEND, len(keys), *keys, *args)
            except _DOWN as e:
                self._status(False, str(e) or type(e).__name__)
                with sh.lock:
                    if sh.closing:
                        return f"{self._where()}: closed while Redis was unavailable"
                    sh.lock.wait(_RETRY)
                    if sh.closing:
                        return f"{self._where()}: closed while Redis was unavailable"
                continue
            except RedisError as e:
                self._status(True, "")
                log.error("node %s: append refused by Redis: %s", self.node, e)
                return f"{self._where()}: append refused: {e}"
            self._status(True, "")
            kind, last = _text(kind), _text(last)
            if kind == "conflict":
                why = (
                    f"{self._where()}: another node appended after {expected} "
                    f"(the stream is at {last})"
                )
                if self._conflict is not None:
                    self._to_loop(functools.partial(self._conflict, why))
                return why
            ids = last.split(",")
            if len(ids) != len(group):
                return f"{self._where()}: append returned {len(ids)} ids for {len(group)} passes"
            for b, sid in zip(group, ids, strict=True):
                b.id = sid
            return None

    def last_appended(self, batch: int, timeout: float) -> str | None:
        """The stream id of this process's batch ``batch`` once it is appended (waiting up to
        ``timeout`` seconds; None if it is not by then). Called from a worker thread."""
        sh = self._shared
        deadline = time.monotonic() + timeout
        with sh.lock:
            while sh.appended < batch:
                left = deadline - time.monotonic()
                if left <= 0 or sh.closing:
                    return None
                sh.lock.wait(left)
            return sh.ids.get(batch) or None

    # -- read -------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        client = self._connect(block=_BLOCK_MS / 1000)
        last = self.read_from
        down = False
        while not self._shared.closing:
            try:
                reply = client.xread({self.stream: last}, count=_READ_COUNT, block=_BLOCK_MS)
                down = False
            except _DOWN as e:
                if not down:
                    log.warning("node %s: cannot read the stream: %s", self.node, e)
                down = True
                time.sleep(_RETRY)
                continue
            except RedisError as e:
                log.error("node %s: reading the stream failed: %s", self.node, e)
                time.sleep(_RETRY)
                continue
            if not reply:
                continue
            entries: list[StreamEntry] = []
            for _stream, chunk in reply:
                for raw_id, fields in chunk:
                    sid = _text(raw_id)
                    last = sid
                    origin = _text(fields.get(b"o", b""))
                    if origin == self.origin:
                        continue
                    try:
                        events = _decode_events(fields[b"e"], f"{self._where()} {sid}")
                    except (StorageError, KeyError) as e:
                        log.error("node %s: skipping unreadable entry %s: %s", self.node, sid, e)
                        continue
                    entries.append(StreamEntry(sid, origin, events))
            self.position = last
            # only this process's own entries: the loop has them already (and a turn's target
            # is always another process's entry), so it is not woken for nothing
            if entries and self._on_entries is not None:
                self._to_loop(functools.partial(self._on_entries, entries, last))

    def _keep_loop(self) -> None:
        """While this node holds the turn between passes: keep it alive, and tell the loop
        when another node waits for it (``on_wanted``), so that it is given back."""
        sh = self._shared
        client = self._connect(block=_KEEP_BLOCK)
        while not sh.closing:
            if not self.holding:
                with sh.lock:
                    sh.lock.wait(0.05)
                continue
            try:
                got = client.blpop([self.wanted_key], timeout=_KEEP_BLOCK)
                if self.holding:
                    client.eval(_KEEP, 1, self.turn_key, self.origin, self.turn_ms)
            except RedisError:
                with sh.lock:
                    sh.lock.wait(_RETRY)
                continue
            if got and self.holding and self._on_wanted is not None:
                self._to_loop(self._on_wanted)

    # -- heartbeats ------------------------------------------------------------------------

    def _beat_loop(self) -> None:
        """Every ``node_timeout / 4`` seconds: this node's heartbeat (Redis's clock, with the
        stream position it has read, for trimming) and the nodes whose heartbeat is older
        than ``node_timeout``, each reported by the one node that removes it."""
        sh = self._shared
        client = self._connect()
        interval = max(0.05, self._node_timeout / 4)
        timeout_ms = int(self._node_timeout * 1000)
        beats = 0
        while True:
            try:
                dead = client.eval(
                    _BEAT,
                    2,
                    self.nodes_key,
                    self.turn_key,
                    self.origin,
                    self.position,
                    self.node,
                    timeout_ms,
                )
            except RedisError as e:
                log.debug("heartbeat failed: %s", e)
                dead = []
            if dead and int(dead[0]) == 0 and beats and self._on_expelled is not None:
                log.error(
                    "node %s: the other nodes took this node as dead (no heartbeat for %.1f s)",
                    self.node,
                    self._node_timeout,
                )
                self._to_loop(self._on_expelled)
            if dead:
                beats += 1
            gone = [_text(d) for d in dead[1:]]
            if gone and self._on_dead is not None:
                for origin in gone:
                    log.warning(
                        "node %s: node %s has not heartbeaten for %.1f s: taken as dead",
                        self.node,
                        origin,
                        self._node_timeout,
                    )
                self._to_loop(functools.partial(self._on_dead, gone))
            # the lock's condition is notified for every queued pass: wait out the interval
            until = time.monotonic() + interval
            with sh.lock:
                while not sh.closing and (left := until - time.monotonic()) > 0:
                    sh.lock.wait(left)
                if sh.closing:
                    break
        with contextlib.suppress(RedisError):
            client.hdel(self.nodes_key, self.origin)  # a clean stop: not dead, gone

    # -- snapshots --------------------------------------------------------------------------

    def begin_snapshot(self, state: dict[str, Any]) -> Callable[[], None]:
        """Return ``write()`` (for a worker thread): stores ``state`` as the snapshot at the
        stream position the loop had applied, once that position is appended, then trims the
        stream before it."""
        if self._failed is not None:
            raise StorageError(self._failed)
        if not isinstance(state, dict):
            raise TypeError(f"snapshot state must be a dict, got {type(state).__name__}")
        base = self._base
        from ..messenger.snapshot import SNAPSHOT_VERSION

        def write() -> None:
            if isinstance(base, int):
                sid = self.last_appended(base, timeout=30.0)
                if sid is None:
                    raise StorageError(
                        f"{self._where()}: snapshot not written: its last events were not "
                        "appended (Redis unavailable?)"
                    )
            else:
                sid = base
            if sid == "0-0":
                return
            data = _encode_document({"version": SNAPSHOT_VERSION, "state": state})
            client = self._connect()
            try:
                trim = self.trim_point(client, sid)
                written = client.eval(_SNAPSHOT, 2, self.snapshot_key, self.stream, sid, data, trim)
            except RedisError as e:
                raise StorageError(f"{self.url} {self.snapshot_key}: {e}") from e
            finally:
                with contextlib.suppress(Exception):
                    client.close()
            if written:
                self.snapshot_id = sid
                log.info(
                    "node %s: snapshot at %s written (%d bytes); stream trimmed before %s",
                    self.node,
                    sid,
                    len(data),
                    trim or "(nothing)",
                )

        return write

    def trim_point(self, client: Any, sid: str) -> str:
        """Where the stream may be trimmed after a snapshot at ``sid``: there, or before
        the position of a live node that has not read that far (``key:nodes``)."""
        point = sid
        try:
            nodes = client.hgetall(self.nodes_key)
        except RedisError:
            return ""
        for _origin, raw in nodes.items():
            parts = _text(raw).split(" ")
            pos = parts[1] if len(parts) > 1 else "0-0"
            with contextlib.suppress(ValueError):
                if _older(pos, point):
                    point = pos
        return point

    # -- close ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the threads (after the writer appended what it can) and the client."""
        if self._closed:
            return
        self._closed = True
        sh = self._shared
        with sh.lock:
            sh.closing = True
            sh.lock.notify_all()
        for t in self._threads:
            t.join(timeout=self._timeout + 2)
        self._threads = []
        with contextlib.suppress(Exception):
            self._client.close()
