"""Access tokens (JWT), opaque refresh tokens and API keys. Pure: no I/O."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHMS = ["HS256"]  # the allowlist; a token naming any other algorithm is rejected
REFRESH_PREFIX = "rt_"
API_KEY_PREFIX = "rhk_"
# The shape WakaTime clients insist on: wakatime-cli refuses any other key (the Go CLI also takes
# a `waka_` prefix). A bare UUID v4 is still 122 random bits.
UUID_KEY = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE
)


class InvalidToken(Exception):
    pass


def hash_secret(secret: str) -> bytes:
    """Refresh tokens and API keys are 256-bit random, so one SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).digest()


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def new_api_key(key_format: str = "rhythm") -> str:
    """`rhk_` and 256 random bits, or, with `key_format="uuid"`, a bare random UUID v4."""
    if key_format == "uuid":
        return str(uuid.uuid4())
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def canonical_api_key(key: str) -> str:
    """The key as it was issued: a UUID key in lower case, however a client spelled it."""
    return key.lower() if UUID_KEY.fullmatch(key) else key


def is_api_key(credential: str) -> bool:
    """Whether a credential is shaped as an API key (`rhk_...`, or a UUID v4), not a JWT."""
    return credential.startswith(API_KEY_PREFIX) or UUID_KEY.fullmatch(credential) is not None


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: int


class AccessTokenCodec:
    # Verified tokens, so a token's signature and claims are checked once per process, not on
    # every request. Expiry is still checked on every use. Bounded: cleared when full.
    VERIFIED_CACHE_SIZE = 50_000

    def __init__(self, key: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds
        self._verified: dict[str, AccessClaims] = {}

    def encode(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHMS[0])

    def decode(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= self.VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        if claims.expires_at <= time.time():
            raise InvalidToken("token expired")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["iss", "aud", "sub", "sid", "exp", "iat", "jti", "typ"]},
            )
            if claims["typ"] != "access":
                raise InvalidToken("not an access token")
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                expires_at=int(claims["exp"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken(str(exc)) from exc
