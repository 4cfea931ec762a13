"""Persistence: append-only journal + atomically written, versioned JSON snapshot."""

from ircd.storage.store import (
    FileStore,
    FsyncPolicy,
    LoadedState,
    StorageError,
    Store,
    read_segments,
    write_atomic,
)

__all__ = [
    "FileStore",
    "FsyncPolicy",
    "LoadedState",
    "StorageError",
    "Store",
    "read_segments",
    "write_atomic",
]
