"""Adapter-tier helpers for server operators (``[[operators]]`` and OPER)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ircd.config import Config, OperatorConfig
from tests.messenger.helpers import fast_hash

from .harness import Client, make_config

OPER_NAME, OPER_PASSWORD = "root", "opsecret"


def with_operator(**sections: dict[str, Any]) -> Config:
    """The default config (with ``make_config`` overrides) and one operator, root/opsecret."""
    return dataclasses.replace(
        make_config(**sections),
        operators=(OperatorConfig(name=OPER_NAME, password_hash=fast_hash(OPER_PASSWORD)),),
    )


def oper_up(c: Client) -> None:
    """OPER as root and drain the replies (381 and the +o)."""
    out = c.send_take(f"OPER {OPER_NAME} {OPER_PASSWORD}")
    assert "381" in [m.command for m in out], [m.format() for m in out]
    assert c.session.oper
