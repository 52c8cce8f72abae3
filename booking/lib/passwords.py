"""Argon2id password hashing.

Parameters: OWASP's minimum, m = 19 MiB, t = 2, p = 1: one hash takes 36 ms on one quiet core of
the development machine (t = 3 took 53 ms, above the 20-50 ms band), about 0.2-0.5 s on the Pi. `taskset -c 0 uv run python bench/argon2_bench.py` measures it; figures in
docs/security.md. Hashes with other parameters are upgraded at the next login
(``users.authenticate``). At most two hashes run at once, so a burst of logins costs at most
2 x 19 MiB on a 512 MB board instead of one 19 MiB block per request thread.
"""

from __future__ import annotations

import threading

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

PARAMETERS = Parameters(
    type=Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19 * 1024,
    parallelism=1,
)
_hasher = PasswordHasher.from_parameters(PARAMETERS)
_slots = threading.BoundedSemaphore(2)
# Verified against when an account does not exist, so both answers take the same time.
# Made once with the same parameters; hashing it at import would cost 19 MiB of heap.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$5m8Ap2QEz+/qfSqm8xmLtw$"
    "oC0P7Ia2WnxdaKLXg9MnUIjrEAVJWkFj2AewvckaMcI"
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
