from __future__ import annotations

import pytest

from ircd.messenger.passwords import hash_password, is_password_hash, verify_password


def test_hash_format_and_verify() -> None:
    stored = hash_password("correct horse")
    parts = stored.split("$")
    assert parts[:4] == ["scrypt", "16384", "8", "1"]
    assert len(parts) == 6
    assert is_password_hash(stored)
    assert verify_password("correct horse", stored)


def test_wrong_password() -> None:
    stored = hash_password("secret")
    assert not verify_password("Secret", stored)
    assert not verify_password("", stored)
    assert not verify_password("secret ", stored)


def test_unicode_password() -> None:
    stored = hash_password("пароль🔑")
    assert verify_password("пароль🔑", stored)
    assert not verify_password("пароль", stored)


def test_salt_differs_between_calls() -> None:
    a = hash_password("same")
    b = hash_password("same")
    assert a != b
    assert a.split("$")[4] != b.split("$")[4]
    assert verify_password("same", a) and verify_password("same", b)


def test_explicit_salt_is_deterministic() -> None:
    assert hash_password("pw", salt=b"0123456789abcdef") == hash_password(
        "pw", salt=b"0123456789abcdef"
    )
    with pytest.raises(ValueError):
        hash_password("pw", salt=b"")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plaintext",
        "scrypt$16384$8$1$c2FsdA==",  # too few fields
        "bcrypt$16384$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44,  # wrong scheme
        "scrypt$abc$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44,  # non-numeric n
        "scrypt$1000$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44,  # n not a power of two
        "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44,  # absurd n
        "scrypt$16384$8$1$!!!notbase64$" + "A" * 44,
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0$short",
        "scrypt$16384$8$1$$" + "A" * 44,  # empty salt
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44 + "$extra",
    ],
)
def test_malformed_hash_is_rejected_not_raised(stored: str) -> None:
    assert not is_password_hash(stored)
    assert verify_password("anything", stored) is False


def test_tampered_hash_fails() -> None:
    stored = hash_password("pw")
    prefix, digest = stored.rsplit("$", 1)
    flipped = ("B" if digest[0] == "A" else "A") + digest[1:]
    assert is_password_hash(prefix + "$" + flipped)
    assert not verify_password("pw", prefix + "$" + flipped)
