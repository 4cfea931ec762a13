"""Persistence: an append-only journal plus an atomically written, versioned JSON snapshot.

Files, for a store created with ``FileStore("state.json")``:

``state.json``
    The snapshot: ``{"version": <int>, "journal_seq": <int>, "state": {...}}``.  Written to
    ``state.json.tmp`` first, fsynced, then ``os.replace``-d into place, so a reader sees either
    the old or the new snapshot, never a mix.
``state.json.journal``
    JSON Lines, one ``{"n": <int>, "e": <event>}`` per line.  ``n`` is a sequence number that
    keeps increasing across restarts; the snapshot's ``journal_seq`` says which events it
    already contains.
``state.json.journal.1``
    The previous journal while a snapshot is being written (and after a snapshot failed).

Durability: ``append`` hands the bytes to the kernel with one ``os.write`` before it returns, so
the events survive ``kill -9`` of the process whatever the fsync policy.  The policy only decides
how much survives a power cut or kernel crash:

``"always"``
    ``os.fsync`` after every append, in the caller.  Nothing acknowledged is ever lost, but every
    append (every event-loop pass that produced events) waits for the disk: milliseconds on SSDs,
    tens of milliseconds on spinning disks or network storage.
``"everysec"``
    A daemon thread fsyncs the journal at most once per second when something was written, so a
    power cut loses at most about a second of events.
``"never"``
    No fsync of the journal while running (snapshots and ``close()`` still fsync).

Threading: ``load``, ``append``, ``begin_snapshot`` and ``close`` are meant to be called from one
thread (the event loop).  The function returned by ``begin_snapshot`` runs in a worker thread.
This module deliberately knows nothing about asyncio.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, overload

from ..durable import DONE, Durable

__all__ = [
    "FileStore",
    "FsyncPolicy",
    "LoadedState",
    "StorageError",
    "Store",
    "read_segments",
    "write_atomic",
]

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "everysec", "never"]
_FSYNC_POLICIES: tuple[str, ...] = ("always", "everysec", "never")

_FILE_MODE = 0o600
_JOURNAL_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT
_FSYNC_INTERVAL = 1.0

_encode_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_encode_ascii = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode

# msgspec (a C extension, installed where a wheel exists) encodes and decodes the same compact
# JSON about 10 times faster than ``json``; without it, or for what it refuses (lone
# surrogates), ``json`` does the work, so the files are the same JSON either way. Events and
# snapshots hold JSON values (RFC 8259: no NaN or infinity, which msgspec would write as null).
try:
    from msgspec.json import Encoder as _Encoder
    from msgspec.json import decode as _fast_loads

    _encoder = _Encoder()
    _fast_dumps: Callable[[Any], bytes] | None = _encoder.encode
    # newline-delimited JSON of a list in one call: half the cost of a call per journal line
    _fast_lines: Callable[[Iterable[Any]], bytes] | None = _encoder.encode_lines
except ImportError:  # pragma: no cover - the pure-Python install
    _fast_dumps = None
    _fast_lines = None


class StorageError(Exception):
    """A persistence problem; the message is one line naming the file and what is wrong."""


@dataclass
class LoadedState:
    """What ``load()`` found on disk.

    ``snapshot`` is the ``state`` dict that was passed to ``begin_snapshot`` (not the envelope
    with ``version``/``journal_seq``), or ``None`` if there is no snapshot.  ``events`` are the
    journal events written after that snapshot, oldest first, to be replayed on top of it.
    ``origins`` says where each event was read, as ``(file, line number)``, for error messages
    (it does not take part in comparisons).
    """

    snapshot: dict[str, Any] | None
    events: Sequence[dict[str, Any]]
    origins: Sequence[tuple[str, int]] = field(default_factory=list, compare=False)
    # the snapshot's segment files, oldest first (read them with ``read_segments``)
    segments: list[str] = field(default_factory=list, compare=False)

    def origin(self, index: int) -> str:
        """``"<journal file>: corrupt journal at line <n>"`` for ``events[index]``."""
        if index < len(self.origins):
            path, line = self.origins[index]
            return f"{path}: corrupt journal at line {line}"
        return f"corrupt journal event #{index + 1}"


class Store(Protocol):
    """The interface the server uses; ``FileStore`` is the single-node implementation."""

    def load(self, accept: Callable[[LoadedState], None] | None = None) -> LoadedState:
        """Read the persisted state.  Must be called once, before anything else.

        ``accept``, if given, is called with what was read before any file is created or
        changed; if it raises, ``load`` re-raises, nothing on disk was touched, and the store
        refuses to write from then on (a state that did not load is never overwritten).
        """
        ...

    def append(self, events: Sequence[dict[str, Any]]) -> Durable:
        """Persist ``events`` (JSON-ready dicts), in order after every earlier append. The
        caller acts on them (the server sends the output that shows them) only once the
        returned ``Durable`` is done: at once for a local journal, when a networked append
        returns for another store (complete it on the event loop's thread; ``fail`` it if the
        events are lost). Raising instead is a failure too."""
        ...

    def begin_snapshot(self, state: dict[str, Any]) -> Callable[[], None]:
        """Start a snapshot of ``state`` (cheap); return the slow part, to run in a thread."""
        ...

    def close(self) -> None:
        """Flush and release everything."""
        ...


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``; one ``os.write`` unless the kernel returns a short count."""
    written = os.write(fd, data)
    if written == len(data):
        return
    view = memoryview(data)
    while written < len(data):
        n = os.write(fd, view[written:])
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written += n


def _fsync_dir(directory: str) -> None:
    """fsync a directory so renames/creations/deletions in it are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        # Some filesystems do not support fsync on directories; nothing more can be done there.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at ``path`` with ``data`` atomically and durably.

    Writes ``path + ".tmp"`` (created with mode 0o600), fsyncs it, ``os.replace``-s it onto
    ``path`` and fsyncs the directory.  Readers see the old or the new content, never a mix.
    Two concurrent calls for the same ``path`` are not supported (they share the temp file).
    Raises ``StorageError`` (chained to the ``OSError``) on failure; ``path`` is then untouched.
    """
    target = os.path.abspath(os.fspath(path))
    tmp = target + ".tmp"
    try:
        # A stale .tmp from a crash may exist, possibly with other permissions: start afresh
        # with O_EXCL so the mode below is the one the file gets.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(f"{target}: cannot write file: {_why(e)}") from e
    try:
        _fsync_dir(os.path.dirname(target))
    except OSError as e:
        raise StorageError(f"{target}: cannot fsync directory after replace: {_why(e)}") from e


def _write_new_file(path: str, pieces: Iterable[bytes]) -> int:
    """Write a new file at ``path`` from ``pieces`` (through ``path.tmp``, fsynced, renamed,
    the directory fsynced); return its size. ``StorageError`` on failure (nothing left)."""
    tmp = path + ".tmp"
    size = 0
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            for piece in pieces:
                _write_all(fd, piece)
                size += len(piece)
                time.sleep(0)  # let the event loop have the GIL between pieces
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(path))
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(f"{path}: cannot write segment: {_why(e)}") from e
    return size


def _file_blocks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            yield block


_MAX_ID = 2**63


def _note_ids(ids: list[int], chunk: list[Any]) -> None:
    """Widen ``ids`` (``[]`` or ``[smallest, largest]``) to the int ids (first values) of
    the records of ``chunk``."""
    got = [r[0] for r in chunk if type(r) is list and r and type(r[0]) is int]
    if not got:
        return
    lo, hi = min(got), max(got)
    if ids:
        ids[0], ids[1] = min(ids[0], lo), max(ids[1], hi)
    else:
        ids.extend((lo, hi))


def _segment_entry(name: str, rows: int, size: int, ids: list[int]) -> dict[str, Any]:
    entry: dict[str, Any] = {"file": name, "rows": rows, "bytes": size}
    if ids:
        entry["first"], entry["last"] = ids
    return entry


def _decode_chunk(raw: bytes, path: str, line: int) -> list[Any]:
    chunk: Any = None
    if _fast_dumps is not None:
        with contextlib.suppress(ValueError, RecursionError):
            chunk = _fast_loads(raw)
    if chunk is None:
        try:
            chunk = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise StorageError(
                f"{path}: corrupt segment at line {line}: not valid JSON: {_why(e)}"
            ) from e
    if type(chunk) is not list:
        raise StorageError(f"{path}: corrupt segment at line {line}: not a list")
    return chunk


def read_segments(paths: Sequence[str]) -> Iterator[list[Any]]:
    """The rows of snapshot segment files, one list per line (chunk), file by file.
    ``StorageError`` naming the file and line for one that is not a JSON list."""
    for path in paths:
        try:
            f = open(path, "rb")  # noqa: SIM115 - read lazily, chunk by chunk
        except OSError as e:
            raise StorageError(f"{path}: cannot read segment: {_why(e)}") from e
        with f:
            for i, raw in enumerate(f, 1):
                yield _decode_chunk(raw, path, i)


def _encode_events(first_n: int, events: Sequence[dict[str, Any]]) -> bytes:
    """Encode events as journal lines numbered from ``first_n``."""
    lines = _fast_lines
    if lines is not None and all(isinstance(e, dict) for e in events):
        try:
            # {"n":N,"e":EVENT} per line, the keys in that order (as the json path writes them)
            return lines([{"n": first_n + i, "e": e} for i, e in enumerate(events)])
        except (TypeError, ValueError):
            pass  # what msgspec refuses: json below encodes it or says why not
    parts: list[str] = []
    n = first_n
    for event in events:
        if not isinstance(event, dict):
            raise TypeError(f"journal events must be dicts, got {type(event).__name__}")
        parts.append(f'{{"n":{n},"e":{_encode_compact(event)}}}\n')
        n += 1
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (e.g. text decoded with errors="surrogateescape") are not valid UTF-8;
        # \u-escaping them is valid JSON and json.loads gives back the same str.
        return "".join(
            f'{{"n":{first_n + i},"e":{_encode_ascii(event)}}}\n' for i, event in enumerate(events)
        ).encode("ascii")


def _encode_document(doc: Any) -> bytes:
    if _fast_dumps is not None:
        with contextlib.suppress(TypeError, ValueError):
            return _fast_dumps(doc)
    try:
        return _encode_compact(doc).encode("utf-8")
    except UnicodeEncodeError:
        return _encode_ascii(doc).encode("ascii")


def _parse_line(raw: bytes) -> tuple[int, dict[str, Any]]:
    """Parse one journal line; ``ValueError`` if it is not a valid entry."""
    obj: Any = None
    if _fast_dumps is not None:
        try:
            obj = _fast_loads(raw)
        except (ValueError, RecursionError):
            obj = None  # (invalid, or what msgspec refuses): json below says which
    if type(obj) is dict:
        n, event = obj.get("n"), obj.get("e")
        if type(n) is int and n >= 1 and isinstance(event, dict):
            return n, event
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte {e.start + 1})") from e
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from e
    except RecursionError as e:
        raise ValueError("JSON nested too deeply") from e
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    n = obj.get("n")
    event = obj.get("e")
    if type(n) is not int or n < 1:
        raise ValueError("missing or invalid sequence number 'n'")
    if not isinstance(event, dict):
        raise ValueError("missing or invalid event 'e'")
    return n, event


@dataclass
class _JournalFile:
    """A journal file read and checked; its events are decoded again when asked for
    (``event``), one at a time, so a load never holds them all decoded at once."""

    path: str
    data: bytes
    ns: array[int]  # each entry's sequence number
    starts: array[int]  # byte offset of each entry's line
    ends: array[int]  # byte offset just past each entry's line (its newline included)
    good_len: int  # bytes up to and including the last newline
    total_len: int
    mtime: float  # when the file was last written (for naming a saved torn tail)

    @property
    def torn(self) -> bool:
        return self.good_len < self.total_len

    def event(self, i: int) -> dict[str, Any]:
        return _parse_line(self.data[self.starts[i] : self.ends[i] - 1])[1]


class _Events(Sequence[dict[str, Any]]):
    """The events of a load, line ``lines[i]`` of journal file ``files[i]``, decoded when read
    (each was checked when the file was read)."""

    def __init__(self, journals: list[_JournalFile]) -> None:
        self.journals = journals
        self.files = array("b")
        self.lines = array("q")

    def add(self, file: int, line: int) -> None:
        self.files.append(file)
        self.lines.append(line)

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return self.journals[self.files[i]].event(self.lines[i])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        journals, lines = self.journals, self.lines
        for k, f in enumerate(self.files):
            yield journals[f].event(lines[k])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"events({list(self)!r})"


class _Origins(Sequence[tuple[str, int]]):
    """``(journal file, line number)`` of each of ``events``."""

    def __init__(self, events: _Events) -> None:
        self.events = events

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, i: int) -> tuple[str, int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, int]]: ...
    def __getitem__(self, i: int | slice) -> tuple[str, int] | list[tuple[str, int]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        ev = self.events
        return ev.journals[ev.files[i]].path, ev.lines[i] + 1

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


def _read_journal(path: str) -> _JournalFile | None:
    """Read and validate a journal file without modifying it.

    Bytes after the last newline are a torn write (a crash in the middle of an append, which
    always ends in a newline): they are excluded from ``good_len``.  Every complete line must
    be a valid entry, the last one too; otherwise ``StorageError`` names the line.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
            mtime = os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StorageError(f"{path}: cannot read journal: {_why(e)}") from e
    ns, starts, ends = array("q"), array("q"), array("q")
    pos = 0
    prev_n = 0
    i = 0
    while (end := data.find(b"\n", pos)) >= 0:
        try:
            n, _ = _parse_line(data[pos:end])
        except ValueError as e:
            raise StorageError(f"{path}: corrupt journal at line {i + 1}: {e}") from e
        if n <= prev_n:
            raise StorageError(
                f"{path}: corrupt journal at line {i + 1}: sequence number {n} after {prev_n}"
            )
        ns.append(n)
        starts.append(pos)
        pos = end + 1
        ends.append(pos)
        prev_n = n
        i += 1
    return _JournalFile(path, data, ns, starts, ends, pos, len(data), mtime)


def _save_torn_tail(jf: _JournalFile) -> str:
    """Copy the torn bytes at the end of ``jf`` to a new side file (fsynced); return its path.

    The file is named after the time the journal was last written, which is when the
    interrupted write happened: ``state.json.journal.torn-20260501T152000Z``.
    """
    with open(jf.path, "rb") as f:
        f.seek(jf.good_len)
        data = f.read()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(jf.mtime))
    base = f"{jf.path}.torn-{stamp}"
    for k in range(1000):
        side = base if k == 0 else f"{base}-{k}"
        try:
            fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            continue
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(side)
            raise
        os.close(fd)
        _fsync_dir(os.path.dirname(side))
        return side
    raise OSError(errno.EEXIST, f"{base}-*: too many torn tails saved already")


class FileStore:
    """Journal + snapshot on the local filesystem.  See the module docstring.

    ``version`` is the snapshot schema version written, and the only one ``load()`` accepts.
    Not safe for two processes on the same ``path`` at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = "everysec",
        version: int = 1,
    ) -> None:
        if fsync not in _FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(_FSYNC_POLICIES)}, not {fsync!r}")
        if type(version) is not int:
            raise TypeError(f"version must be an int, not {type(version).__name__}")
        self._path = os.path.abspath(os.fspath(path))
        self._journal_path = self._path + ".journal"
        self._old_journal_path = self._path + ".journal.1"
        self._dir = os.path.dirname(self._path)
        self._fsync: FsyncPolicy = fsync
        self._version = version

        self._fd: int | None = None  # journal, O_APPEND
        self._size = 0  # bytes in the journal = offset of the next append
        # Journal bytes before this offset are already in .journal.1 (an interrupted copy).
        self._copied = 0
        self._seq = 0  # last journal sequence number written (or covered by the snapshot)
        self._loaded = False
        self._failed: str | None = None  # why load() failed: then nothing is ever written
        self._closed = False
        self._broken: str | None = None  # set when the journal can no longer be trusted
        self._snapshot_gen = 0
        # the snapshot's segment files (append-only records written once, see
        # begin_segmented_snapshot): {"file": name beside the snapshot, "rows", "bytes"}
        self._segments: list[dict[str, Any]] = []

        # Shared with the "everysec" fsync thread.
        self._lock = threading.Lock()
        self._dirty = False  # written since the last fsync
        self._dir_dirty = False  # directory entries changed since the last directory fsync
        self._retired: list[int] = []  # rotated-out journal fds: fsync, then close
        self._stop = threading.Event()
        # not `_thread`: mypyc (scripts/compile.sh) names the C field `__thread`, a C keyword
        self._writer: threading.Thread | None = None

    @property
    def path(self) -> str:
        """Absolute path of the snapshot file."""
        return self._path

    @property
    def journal_path(self) -> str:
        return self._journal_path

    @property
    def segment_rows(self) -> int:
        """Rows in the current snapshot's segment files."""
        return sum(seg["rows"] for seg in self._segments)

    @property
    def segment_files(self) -> list[str]:
        """The current snapshot's segment files (absolute paths), oldest first."""
        return [os.path.join(self._dir, seg["file"]) for seg in self._segments]

    @property
    def last_seq(self) -> int:
        """Sequence number ``n`` of the last event appended (or covered by the snapshot)."""
        return self._seq

    # -- load -------------------------------------------------------------------------------

    def load(self, accept: Callable[[LoadedState], None] | None = None) -> LoadedState:
        """Read the snapshot and the journal events after it; open the journal for appending.

        Raises ``StorageError`` for an unreadable file, corrupt JSON, an unknown format or
        schema version, or a corrupt journal line (any complete line, the last one too).
        ``accept``, if given, is called with what was read before anything on disk changes:
        the caller builds its state from it and raises if it cannot.

        When ``load`` raises (whatever raised), no file was created or modified and the store
        refuses every later write: a state that failed to load is never overwritten.

        Only after success, a torn last journal line (bytes after the last newline, left by a
        crash in the middle of a write) is copied to a side file
        (``<journal>.torn-<time of the write>``), logged, and truncated away; then the
        journal is opened (created if missing) for appending.
        """
        if self._closed:
            raise StorageError(f"{self._path}: store is closed")
        if self._failed is not None:
            raise StorageError(self._failed)
        if self._loaded:
            raise StorageError(f"{self._path}: load() called twice")
        try:
            loaded, journals, copied, last = self._read_all()
            if accept is not None:
                accept(loaded)
        except BaseException as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            self._failed = f"{self._path}: not writing, the state failed to load: {why}"
            raise
        for jf in journals:
            if jf.torn:
                self._drop_torn_tail(jf)

        created = not os.path.exists(self._journal_path)
        try:
            fd = os.open(self._journal_path, _JOURNAL_FLAGS, _FILE_MODE)
        except OSError as e:
            raise StorageError(f"{self._journal_path}: cannot open journal: {_why(e)}") from e
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._copied = copied
        self._seq = last
        self._loaded = True
        if created:
            self._directory_changed()
        if self._fsync == "everysec":
            self._writer = threading.Thread(
                target=self._fsync_loop, name="ircd-journal-fsync", daemon=True
            )
            self._writer.start()
        return loaded

    def _read_all(self) -> tuple[LoadedState, list[_JournalFile], int, int]:
        """Read and check every file, modifying nothing: (what was loaded, the journal files,
        bytes of .journal already copied into .journal.1, the last sequence number)."""
        state, journal_seq, segments = self._read_snapshot()
        old = _read_journal(self._old_journal_path)
        cur = _read_journal(self._journal_path)
        journals = [jf for jf in (old, cur) if jf is not None]
        copied = 0
        if old is not None and old.ns and cur is not None:
            # A crash in begin_snapshot between copying .journal onto .journal.1 and emptying
            # .journal leaves the first entries in both; a later copy must skip them.
            old_last = old.ns[-1]
            for n, end in zip(cur.ns, cur.ends, strict=True):
                if n > old_last:
                    break
                copied = end

        events = _Events(journals)
        last = journal_seq
        for f, jf in enumerate(journals):
            for line, n in enumerate(jf.ns):
                if n <= last:
                    continue  # already in the snapshot, or a duplicate from an interrupted copy
                if n != last + 1:
                    log.warning(
                        "%s: journal jumps from sequence %d to %d; events may be missing",
                        jf.path,
                        last,
                        n,
                    )
                events.add(f, line)
                last = n
        self._segments = segments
        loaded = LoadedState(
            snapshot=state,
            events=events,
            origins=_Origins(events),
            segments=[os.path.join(self._dir, seg["file"]) for seg in segments],
        )
        return loaded, journals, copied, last

    def _drop_torn_tail(self, jf: _JournalFile) -> None:
        """Save the bytes after the last newline to a side file, then truncate them away."""
        torn = jf.total_len - jf.good_len
        try:
            side = _save_torn_tail(jf)
        except OSError as e:
            raise StorageError(
                f"{jf.path}: torn last line ({torn} bytes) not truncated: cannot save it to a "
                f"side file: {_why(e)}"
            ) from e
        try:
            os.truncate(jf.path, jf.good_len)
        except OSError as e:
            raise StorageError(f"{jf.path}: cannot truncate torn line: {_why(e)}") from e
        log.warning(
            "%s: dropped a torn last line (%d bytes after the last newline, left by an "
            "interrupted write); the bytes are saved in %s; journal truncated to %d bytes",
            jf.path,
            torn,
            side,
            jf.good_len,
        )

    def _read_snapshot(self) -> tuple[dict[str, Any] | None, int, list[dict[str, Any]]]:
        path = self._path
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None, 0, []
        except OSError as e:
            raise StorageError(f"{path}: cannot read snapshot: {_why(e)}") from e
        doc: Any = None
        if _fast_dumps is not None:
            with contextlib.suppress(ValueError, RecursionError):
                doc = _fast_loads(raw)
        try:
            if doc is None:
                doc = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise StorageError(f"{path}: corrupt snapshot, not valid JSON: {_why(e)}") from e
        if not isinstance(doc, dict) or type(doc.get("version")) is not int:
            raise StorageError(
                f"{path}: unknown snapshot format "
                "(expected an object with 'version', 'journal_seq' and 'state')"
            )
        version = doc["version"]
        if version != self._version:
            raise StorageError(
                f"{path}: unsupported snapshot schema version {version} "
                f"(this server reads version {self._version})"
            )
        seq = doc.get("journal_seq")
        state = doc.get("state")
        if type(seq) is not int or seq < 0:
            raise StorageError(f"{path}: corrupt snapshot: missing or invalid 'journal_seq'")
        if not isinstance(state, dict):
            raise StorageError(f"{path}: corrupt snapshot: missing or invalid 'state'")
        return state, seq, self._check_segments(doc.get("segments", []))

    def _check_segments(self, segs: Any) -> list[dict[str, Any]]:
        """The snapshot's list of segment files, each present with the size recorded."""
        prefix = os.path.basename(self._path) + ".seg-"
        if type(segs) is not list:
            raise StorageError(f"{self._path}: corrupt snapshot: invalid 'segments'")
        out = []
        for i, seg in enumerate(segs):
            if (
                type(seg) is not dict
                or type(seg.get("file")) is not str
                or not seg["file"].startswith(prefix)
                or "/" in seg["file"]
                or type(seg.get("rows")) is not int
                or type(seg.get("bytes")) is not int
            ):
                raise StorageError(f"{self._path}: corrupt snapshot: invalid segments[{i}]")
            where = os.path.join(self._dir, seg["file"])
            try:
                size = os.stat(where).st_size
            except OSError as e:
                raise StorageError(f"{where}: segment of the snapshot missing: {_why(e)}") from e
            if size != seg["bytes"]:
                raise StorageError(
                    f"{where}: segment of the snapshot has {size} bytes, {seg['bytes']} expected"
                )
            entry = {"file": seg["file"], "rows": seg["rows"], "bytes": seg["bytes"]}
            if type(seg.get("first")) is int and type(seg.get("last")) is int:
                entry["first"], entry["last"] = seg["first"], seg["last"]
            out.append(entry)
        return out

    # -- append -----------------------------------------------------------------------------

    def append(self, events: Sequence[dict[str, Any]]) -> Durable:
        """Append ``events`` to the journal with a single ``os.write``.

        When this returns the events are in the kernel (they survive ``kill -9``); with
        ``fsync="always"`` they are also on disk, at the cost of waiting for an fsync here.
        An empty sequence does nothing.  ``TypeError`` for a non-dict or non-JSON-able event
        (nothing is written then); ``StorageError`` if the write fails (the journal is rolled
        back to its previous length).  Returns ``Durable.completed()``: durable on return.
        """
        if not events:
            return DONE
        fd = self._require_fd()
        data = _encode_events(self._seq + 1, events)
        try:
            _write_all(fd, data)
        except OSError as e:
            self._rollback(fd)
            raise StorageError(f"{self._journal_path}: cannot append: {_why(e)}") from e
        self._size += len(data)
        self._seq += len(events)
        if self._fsync == "always":
            try:
                os.fsync(fd)
            except OSError as e:
                self._broken = f"{self._journal_path}: fsync failed: {_why(e)}"
                raise StorageError(self._broken) from e
        elif self._fsync == "everysec":
            with self._lock:
                self._dirty = True
        return DONE

    def _rollback(self, fd: int) -> None:
        """Cut off a partially written batch so the next append starts on a line boundary."""
        try:
            os.ftruncate(fd, self._size)
        except OSError as e:
            self._broken = (
                f"{self._journal_path}: cannot roll back a failed append ({_why(e)}); "
                "journal may end in a partial line"
            )

    def _require_fd(self) -> int:
        if self._failed is not None:
            raise StorageError(self._failed)
        if self._closed:
            raise StorageError(f"{self._journal_path}: store is closed")
        if self._fd is None:
            raise StorageError(f"{self._path}: load() must be called before writing")
        if self._broken is not None:
            raise StorageError(self._broken)
        return self._fd

    # -- snapshots --------------------------------------------------------------------------

    def begin_snapshot(self, state: dict[str, Any]) -> Callable[[], None]:
        """Rotate the journal and return ``write()``, which writes the snapshot of ``state``.

        Call on the event loop; it does a rename and an open, nothing proportional to the
        state size.  (After a *failed* snapshot it also copies the current journal, which
        holds only the events since that attempt, onto ``.journal.1``.)  Run the returned
        ``write()`` in a worker thread; it serializes ``state``, so ``state`` must not be
        mutated after this call (pass a fresh ``to_dict()``).

        Only one snapshot may be in flight: do not call ``begin_snapshot`` again until the
        previous ``write()`` has returned or raised (or will never be run).  A ``write()``
        superseded by a later ``begin_snapshot`` raises ``StorageError`` instead of writing.
        If ``write()`` fails or is never run, ``.journal.1`` is kept and replayed by ``load``.
        """
        seq, gen, version = self._start_snapshot(state)

        def write() -> None:
            if gen != self._snapshot_gen:
                raise StorageError(f"{self._path}: snapshot superseded by a newer begin_snapshot")
            self._write_snapshot(version, seq, state)

        return write

    def _start_snapshot(self, state: object) -> tuple[int, int, int]:
        """What both kinds of snapshot do on the loop: check the state, rotate the journal
        (events from now on go to the new one) and supersede any snapshot in flight; the
        journal seq, the snapshot's generation and the state version it records."""
        fd = self._require_fd()
        if not isinstance(state, dict):
            raise TypeError(f"snapshot state must be a dict, got {type(state).__name__}")
        seq = self._seq
        try:
            self._rotate(fd)
        except OSError as e:
            raise StorageError(f"{self._journal_path}: cannot rotate journal: {_why(e)}") from e
        self._snapshot_gen += 1
        return seq, self._snapshot_gen, self._version

    def begin_segmented_snapshot(
        self,
        state: dict[str, Any],
        chunks: Callable[[], Iterable[list[Any]]],
        rewrite: bool = False,
        purge: frozenset[int] = frozenset(),
    ) -> Callable[[], None]:
        """``begin_snapshot`` for a state whose append-only records (posts) live in segment
        files beside the snapshot, each written once: ``chunks()`` (run in the writer
        thread) gives the records not yet in a segment, in lists; they become one new
        segment file, and the snapshot ``state`` (small: it refers to the records by its
        own meaning) lists every segment it needs. ``rewrite``: the chunks are all the
        records that matter (the old segments are dropped once the snapshot is durable).
        ``purge``: ids (a record's first value) of records to remove: the segments that
        may hold one (by the range of ids each records) are written anew without them.

        Order, each step durable before the next (a crash anywhere leaves the old snapshot
        with all its files, or the new one with all of its): the new segment (``.tmp``,
        fsync, rename, directory fsync), merged segments the same way, the snapshot
        (``write_atomic``), then the old journal and the segments no snapshot needs are
        deleted. Small segments are merged by concatenation (the newer half into one file
        once it is as large as the one before), so there are O(log) files and each record
        is copied O(log) times."""
        seq, gen, version = self._start_snapshot(state)

        def write() -> None:
            if gen != self._snapshot_gen:
                raise StorageError(f"{self._path}: snapshot superseded by a newer begin_snapshot")
            segs = [] if rewrite else self._purge(seq, list(self._segments), purge)
            new = self._write_segment(seq, chunks())
            if new is not None:
                segs.append(new)
                segs = self._merge(seq, segs)
            doc = {"version": version, "journal_seq": seq, "segments": segs, "state": state}
            write_atomic(self._path, _encode_document(doc))
            old, self._segments = self._segments, segs
            self._after_snapshot(old)

        return write

    def _segment_name(self, seq: int) -> str:
        return f"{os.path.basename(self._path)}.seg-{seq:012d}-{os.urandom(4).hex()}"

    def _write_segment(self, seq: int, chunks: Iterable[list[Any]]) -> dict[str, Any] | None:
        rows = 0
        ids: list[int] = []  # the smallest and largest record id

        def pieces() -> Iterator[bytes]:
            nonlocal rows
            for chunk in chunks:
                if chunk:
                    rows += len(chunk)
                    _note_ids(ids, chunk)
                    yield _encode_document(chunk) + b"\n"

        it = pieces()
        first = next(it, None)
        if first is None:
            return None
        name = self._segment_name(seq)
        size = _write_new_file(os.path.join(self._dir, name), itertools.chain((first,), it))
        return _segment_entry(name, rows, size, ids)

    def _purge(
        self, seq: int, segs: list[dict[str, Any]], purge: frozenset[int]
    ) -> list[dict[str, Any]]:
        """``segs`` with the records ``purge`` names removed: each segment whose id range
        holds one is written anew, its lines that cannot hold one copied as they are."""
        if not purge:
            return segs
        out = []
        for seg in segs:
            lo, hi = seg.get("first", 0), seg.get("last", _MAX_ID)
            hit = {i for i in purge if lo <= i <= hi}
            if not hit:
                out.append(seg)
                continue
            path = os.path.join(self._dir, seg["file"])
            removed = 0

            def pieces(path: str = path, hit: set[int] = hit) -> Iterator[bytes]:
                nonlocal removed
                marks = [b"[%d," % i for i in hit]  # how a row with that id starts
                with open(path, "rb") as f:
                    for i, raw in enumerate(f, 1):
                        if not any(mk in raw for mk in marks):
                            yield raw
                            continue
                        chunk = _decode_chunk(raw, path, i)
                        kept = [r for r in chunk if not (type(r) is list and r and r[0] in hit)]
                        removed += len(chunk) - len(kept)
                        if kept:
                            yield _encode_document(kept) + b"\n"

            name = self._segment_name(seq)
            try:
                size = _write_new_file(os.path.join(self._dir, name), pieces())
            except OSError as e:
                raise StorageError(f"{path}: cannot read segment: {_why(e)}") from e
            entry = {**seg, "file": name, "rows": seg["rows"] - removed, "bytes": size}
            out.append(entry)
        return out

    def _merge(self, seq: int, segs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Concatenate the newest segments while the one before is no larger than the last."""
        while len(segs) >= 2 and segs[-2]["bytes"] <= segs[-1]["bytes"]:
            a, b = segs[-2], segs[-1]
            name = self._segment_name(seq)
            paths = [os.path.join(self._dir, x["file"]) for x in (a, b)]
            blocks = itertools.chain.from_iterable(map(_file_blocks, paths))
            size = _write_new_file(os.path.join(self._dir, name), blocks)
            merged = {"file": name, "rows": a["rows"] + b["rows"], "bytes": size}
            if "first" in a and "first" in b:
                merged["first"] = min(a["first"], b["first"])
                merged["last"] = max(a["last"], b["last"])
            for x, where in zip((a, b), paths, strict=True):
                if x not in self._segments:  # written by this snapshot only: nobody needs it
                    with contextlib.suppress(OSError):
                        os.unlink(where)
            segs[-2:] = [merged]
        return segs

    def _after_snapshot(self, old_segments: list[dict[str, Any]]) -> None:
        """The snapshot is durable: drop the old journal and segment files nobody needs."""
        # .journal.1 holds only events with n <= seq.
        try:
            os.unlink(self._old_journal_path)
        except FileNotFoundError:
            pass
        except OSError as e:
            # Harmless: load() skips events the snapshot already covers.
            log.warning("%s: cannot delete: %s", self._old_journal_path, _why(e))
        keep = {seg["file"] for seg in self._segments}
        prefix = os.path.basename(self._path) + ".seg-"
        try:
            names = os.listdir(self._dir)
        except OSError:
            names = [seg["file"] for seg in old_segments]
        for name in names:
            # earlier segments, and what a crash left (tmp files, segments of a snapshot
            # never written)
            if name.startswith(prefix) and name not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self._dir, name))

    def _rotate(self, fd: int) -> None:
        if self._size == 0:
            return  # nothing to move; any .journal.1 holds only events the snapshot covers
        if os.path.exists(self._old_journal_path):
            # A previous snapshot failed (or was never written): .journal.1 still holds events
            # the next snapshot needs, so add ours to it rather than replacing it.
            self._copy_into_old_journal()
            self._copied = self._size  # if emptying .journal fails, don't copy these again
            os.ftruncate(fd, 0)
            self._size = 0
            self._copied = 0
            if self._fsync == "always":
                os.fsync(fd)
            elif self._fsync == "everysec":
                with self._lock:
                    self._dirty = True
            return
        os.rename(self._journal_path, self._old_journal_path)
        try:
            new_fd = os.open(self._journal_path, _JOURNAL_FLAGS | os.O_EXCL, _FILE_MODE)
        except OSError:
            try:
                os.rename(self._old_journal_path, self._journal_path)
            except OSError as e:
                self._broken = f"{self._journal_path}: journal lost after failed rotation: {e}"
            raise
        with self._lock:
            self._fd = new_fd
            if self._fsync == "everysec":
                # The thread fsyncs (the rest of) .journal.1 and closes it.
                self._retired.append(fd)
                self._dirty = False
        self._size = 0
        self._copied = 0
        if self._fsync != "everysec":
            os.close(fd)  # "always": already synced; "never": not wanted
        self._directory_changed()

    def _copy_into_old_journal(self) -> None:
        with open(self._journal_path, "rb") as f:
            f.seek(self._copied)
            data = f.read(self._size - self._copied)
        old_fd = os.open(self._old_journal_path, os.O_WRONLY | os.O_APPEND)
        try:
            old_size = os.fstat(old_fd).st_size
            try:
                _write_all(old_fd, data)
                if self._fsync != "never":
                    os.fsync(old_fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(old_fd, old_size)
                raise
        finally:
            os.close(old_fd)

    def _write_snapshot(self, version: int, seq: int, state: dict[str, Any]) -> None:
        # a whole state (its records inline): no segment is needed any more
        data = _encode_document({"version": version, "journal_seq": seq, "state": state})
        write_atomic(self._path, data)
        old, self._segments = self._segments, []
        self._after_snapshot(old)

    # -- fsync ------------------------------------------------------------------------------

    def _directory_changed(self) -> None:
        if self._fsync == "always":
            try:
                _fsync_dir(self._dir)
            except OSError as e:
                raise StorageError(f"{self._dir}: cannot fsync directory: {_why(e)}") from e
        elif self._fsync == "everysec":
            with self._lock:
                self._dir_dirty = True

    def _fsync_loop(self) -> None:
        while not self._stop.wait(_FSYNC_INTERVAL):
            try:
                self._sync_pending(close_all=False)
            except StorageError:
                pass  # logged; appends now fail with it
            except Exception:
                log.exception("%s: journal fsync thread error", self._journal_path)

    def _sync_pending(self, *, close_all: bool) -> None:
        """fsync what is pending; with ``close_all`` also fsync and close the journal fd.

        Failures mark the store broken (after a failed fsync the kernel may have dropped the
        data, so further appends would give a false sense of safety) and are re-raised.
        """
        with self._lock:
            fd = self._fd
            dirty = self._dirty or close_all
            dir_dirty = self._dir_dirty or close_all
            retired, self._retired = self._retired, []
            self._dirty = False
            self._dir_dirty = False
            if close_all:
                self._fd = None
        first_error: OSError | None = None
        for old in retired:
            try:
                os.fsync(old)
            except OSError as e:
                first_error = first_error or e
            finally:
                os.close(old)
        if dir_dirty:
            try:
                _fsync_dir(self._dir)
            except OSError as e:
                first_error = first_error or e
        if fd is not None:
            try:
                if dirty:
                    os.fsync(fd)
            except OSError as e:
                first_error = first_error or e
            finally:
                if close_all:
                    os.close(fd)
        if first_error is not None:
            self._broken = f"{self._journal_path}: fsync failed: {_why(first_error)}"
            log.error("%s", self._broken)
            raise StorageError(self._broken) from first_error

    # -- close ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the fsync thread, fsync and close the journal.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._stop.set()
            self._writer.join()
            self._writer = None
        if self._fd is not None or self._retired:
            self._sync_pending(close_all=True)
