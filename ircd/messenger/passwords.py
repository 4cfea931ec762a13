"""Password hashing for accounts and IRC operators.

Hashes are self-describing strings::

    scrypt$<n>$<r>$<p>$<salt base64>$<hash base64>

``hash_password`` always uses n=2**14, r=8, p=1 and a 32-byte key; ``verify_password`` reads
the parameters from the stored string, so they can be raised later without invalidating old
hashes. This module is pure (stdlib only, no I/O apart from reading random bytes for salts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import NamedTuple

__all__ = ["hash_password", "is_password_hash", "verify_password"]

SCHEME = "scrypt"
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
DKLEN = 32
SALT_BYTES = 16

# Bounds accepted when *reading* a stored hash, so a hostile or corrupted hash string cannot
# make verification allocate gigabytes or spin for minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MIN_DKLEN = 16
_MAX_DKLEN = 64
_MAX_SALT = 64


class _Parsed(NamedTuple):
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _parse_uint(text: str) -> int | None:
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _parse(stored: str) -> _Parsed | None:
    """Split a stored hash into its parts; None if it is not a well-formed scrypt hash."""
    if not isinstance(stored, str):
        return None
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    n, r, p = (_parse_uint(part) for part in parts[1:4])
    if n is None or r is None or p is None:
        return None
    if not (2 <= n <= _MAX_N) or n & (n - 1):  # scrypt requires n to be a power of two
        return None
    if not (1 <= r <= _MAX_R) or not (1 <= p <= _MAX_P):
        return None
    try:
        salt = base64.b64decode(parts[4].encode("ascii"), validate=True)
        digest = base64.b64decode(parts[5].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if not (1 <= len(salt) <= _MAX_SALT) or not (_MIN_DKLEN <= len(digest) <= _MAX_DKLEN):
        return None
    return _Parsed(n, r, p, salt, digest)


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # scrypt needs about 128*r*n bytes (plus 128*r*p); leave headroom over OpenSSL's default
    # 32 MiB cap so larger parameters read from a stored hash still work.
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash ``password`` with scrypt and a random (or the given) salt."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    elif not salt:
        raise ValueError("salt must not be empty")
    digest = _scrypt(password.encode("utf-8"), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN)
    return "$".join(
        (SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64encode(salt), _b64encode(digest))
    )


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches ``stored``; False on mismatch or a malformed ``stored``."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    try:
        candidate = _scrypt(
            password.encode("utf-8"), parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest)
        )
    except (ValueError, MemoryError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(candidate, parsed.digest)


def is_password_hash(s: str) -> bool:
    """True if ``s`` looks like a hash produced by :func:`hash_password`."""
    return _parse(s) is not None
