"""A real ``kill -9`` in the middle of appending: nothing acknowledged may be lost."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from ircd.storage import FileStore, LoadedState

REPO_ROOT = Path(__file__).resolve().parents[2]

# Appends batches of 1..7 events forever and prints the last n after each append returns.
# With a snapshot interval, it also snapshots {"count": <events so far>} every so often.
CHILD = r"""
import sys
from ircd.storage import FileStore

path, every = sys.argv[1], int(sys.argv[2])
store = FileStore(path, fsync="never")
loaded = store.load()
assert loaded == type(loaded)(None, []), loaded
i = 0
next_snapshot = every
while True:
    batch = [{"t": "post", "i": i + k, "text": "x" * ((i + k) % 97)} for k in range(1 + i % 7)]
    store.append(batch)
    i += len(batch)
    sys.stdout.write(f"{store.last_seq}\n")
    sys.stdout.flush()
    if every and i >= next_snapshot:
        store.begin_snapshot({"count": i})()
        next_snapshot = i + every
"""


def _pump(stream: IO[bytes], out: queue.Queue[bytes | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def _run_and_kill(state_path: Path, snapshot_every: int, want_lines: int) -> list[int]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state_path), str(snapshot_every)],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
    )
    assert proc.stdout is not None
    lines: queue.Queue[bytes | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    printed: list[bytes] = []
    try:
        while len(printed) < want_lines:
            line = lines.get(timeout=30)
            assert line is not None, f"child exited early with {proc.wait(timeout=10)}"
            printed.append(line)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        # Drain what the child printed before it died.
        while (line := lines.get(timeout=30)) is not None:
            printed.append(line)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=30)
        proc.stdout.close()
    # The last line may be cut short by the kill; only complete lines were acknowledged.
    return [int(line) for line in printed if line.endswith(b"\n")]


@pytest.mark.parametrize("snapshot_every", [0, 250])
def test_kill_9_loses_nothing_acknowledged(tmp_path: Path, snapshot_every: int) -> None:
    state_path = tmp_path / "state.json"
    acked = _run_and_kill(state_path, snapshot_every, want_lines=400)
    assert len(acked) >= 400
    assert acked == sorted(set(acked))  # strictly increasing

    store = FileStore(state_path, fsync="never")
    loaded = store.load()
    last_seq = store.last_seq
    store.close()

    if snapshot_every:
        assert loaded.snapshot is not None
        first = loaded.snapshot["count"]
        assert first >= snapshot_every
    else:
        assert loaded.snapshot is None
        first = 0
    total = first + len(loaded.events)
    # Every event the child acknowledged is there, in order, with nothing missing or repeated.
    assert [e["i"] for e in loaded.events] == list(range(first, total))
    assert [e["text"] for e in loaded.events] == ["x" * (i % 97) for i in range(first, total)]
    assert last_seq == total
    assert acked[-1] <= total
    # At most the one batch in flight at the kill can be in the journal without an ack.
    assert total - acked[-1] <= 7

    # And the store carries on after the crash.
    store = FileStore(state_path, fsync="never")
    store.load()
    store.append([{"t": "post", "i": total, "text": ""}])
    store.close()
    again = FileStore(state_path, fsync="never")
    assert again.load() == LoadedState(
        loaded.snapshot, [*loaded.events, {"t": "post", "i": total, "text": ""}]
    )
    again.close()
