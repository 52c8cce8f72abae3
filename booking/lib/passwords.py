"""Argon2id password hashing.

Parameters are OWASP's minimum (19 MiB, t=2, p=1). At most two hashes run at once, so a burst of
logins costs at most 2 x 19 MiB on a 512 MB board instead of one 19 MiB block per request thread.
"""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_slots = threading.BoundedSemaphore(2)
# Verified against when an account does not exist, so both answers take the same time.
# Made once with the same parameters; hashing it at import would cost 19 MiB of heap.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$qpwZmWimzAyNcTF7mhgu1A$"
    "wjlj60diHhJRgZCY4nk1yh5pFZD8EilXHtBLkGhtZR4"
)


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    with _slots:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
