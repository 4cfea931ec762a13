"""--remember: passwords in a 0600 file under the user's config folder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bridge import credentials


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def test_remember_load_forget(config_home: Path) -> None:
    assert credentials.credentials_file() == config_home / "messenger" / "credentials.json"
    assert credentials.load_password("alice", "127.0.0.1", 8000) is None
    path = credentials.save_password("alice", "127.0.0.1", 8000, "s3cret")
    credentials.save_password("bob", "127.0.0.1", 8000, "other")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert credentials.load_password("Alice", "127.0.0.1", 8000) == "s3cret"
    assert credentials.load_password("alice", "127.0.0.1", 6667) is None
    assert credentials.forget_password("alice", "127.0.0.1", 8000)
    assert not credentials.forget_password("alice", "127.0.0.1", 8000)
    assert credentials.load_password("alice", "127.0.0.1", 8000) is None
    assert credentials.load_password("bob", "127.0.0.1", 8000) == "other"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_loose_file_is_tightened(config_home: Path) -> None:
    path = config_home / "messenger" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)
    credentials.save_password("alice", "h", 1, "pw")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_broken_file_is_ignored(config_home: Path) -> None:
    path = config_home / "messenger" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text("not json")
    assert credentials.load_password("alice", "h", 1) is None
    credentials.save_password("alice", "h", 1, "pw")
    assert credentials.load_password("alice", "h", 1) == "pw"
