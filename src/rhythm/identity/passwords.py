"""Password hashing with argon2id, off the event loop."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

# OWASP's first recommended argon2id configuration: m=46 MiB, t=1, p=1. It meets OWASP's minimum
# at a fraction of argon2-cffi's default cost (t=3, m=64 MiB, p=4), which took ~250 ms a login
# on these 2-core machines. Existing hashes carry their own parameters and still verify.
_hasher = PasswordHasher(time_cost=1, memory_cost=47104, parallelism=1, type=Type.ID)

# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("rhythm-timing-equaliser")

MIN_LENGTH = 10
MAX_LENGTH = 128


async def hash_password(password: str) -> str:
    return await run_in_threadpool(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await run_in_threadpool(verify)
