"""Access tokens (JWT), opaque refresh tokens and API keys. Pure: no I/O."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHMS = ["HS256"]  # the allowlist; a token naming any other algorithm is rejected
REFRESH_PREFIX = "rt_"
API_KEY_PREFIX = "rhk_"


class InvalidToken(Exception):
    pass


def hash_secret(secret: str) -> bytes:
    """Refresh tokens and API keys are 256-bit random, so one SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).digest()


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


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
