"""Remembered passwords (``--remember``): one JSON file readable only by the user.

The file is ``$XDG_CONFIG_HOME/messenger/credentials.json`` (``~/.config/messenger/`` by
default), mode 0600 in a 0700 folder, keyed by ``nick@host:port``. Passwords are stored as
typed (the server needs them), so the file is only as safe as the account that owns it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "messenger"


def credentials_file() -> Path:
    return config_dir() / "credentials.json"


def _key(nick: str, host: str, port: int) -> str:
    return f"{nick.lower()}@{host}:{port}"


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def load_password(nick: str, host: str, port: int, path: Path | None = None) -> str | None:
    return _load(path or credentials_file()).get(_key(nick, host, port))


def save_password(nick: str, host: str, port: int, password: str, path: Path | None = None) -> Path:
    """Remember ``password``; the file is created 0600 (and fixed to 0600 if it was not)."""
    target = path or credentials_file()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = _load(target)
    data[_key(nick, host, port)] = password
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target


def forget_password(nick: str, host: str, port: int, path: Path | None = None) -> bool:
    target = path or credentials_file()
    data = _load(target)
    if data.pop(_key(nick, host, port), None) is None:
        return False
    if data:
        fd = os.open(target, os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
    else:
        target.unlink(missing_ok=True)
    return True
