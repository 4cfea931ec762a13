from __future__ import annotations

import pytest

from ircd.messenger import engine

from .helpers import fast_hash


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts hash with tiny scrypt parameters, unless a test is marked ``real_hash``.
    Verification is the real code either way (it reads the parameters from the hash)."""
    if request.node.get_closest_marker("real_hash") is None:
        monkeypatch.setattr(engine, "hash_password", fast_hash)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_hash: use the production password hashing")
