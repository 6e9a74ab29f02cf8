"""Business rules of identity: accounts, device sessions, token rotation and API keys.

Services flush but never commit; the request's transaction commits once the endpoint returns.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.identity import profiles, repository
from rhythm.identity.cache import AuthCache
from rhythm.identity.models import ApiKey, DeviceSession, User
from rhythm.identity.passwords import hash_password, verify_password
from rhythm.identity.principal import PUBLIC, Principal, Scope, Visibility
from rhythm.identity.profiles import PROFILE_LUA, ProfileCache, parse_profile, profile_payload
from rhythm.identity.schemas import ProfileRecord
from rhythm.identity.tokens import AccessTokenCodec, hash_secret, new_api_key, new_refresh_token
from rhythm.platform.database import ReadSession, after_commit, wrote_for
from rhythm.platform.errors import Conflict, FieldError, NotFound, RhythmError, Unauthorized
from rhythm.platform.pagination import PageRequest
from rhythm.platform.queue import ERASURE_QUEUE, defer
from rhythm.platform.ratelimit import RateLimits
from rhythm.platform.redis import RedisClient


class EmailTaken(Conflict):
    slug = "email-taken"
    title = "Email already registered"


class InvalidCredentials(Unauthorized):
    slug = "invalid-credentials"
    title = "Invalid credentials"

    def __init__(self) -> None:
        super().__init__("The email or password is incorrect.")


class RefreshTokenReused(Unauthorized):
    slug = "refresh-token-reused"
    title = "Refresh token reused"
    # The session is revoked in the same transaction that answers 401: keep that revocation.
    commit = True


class UserNotFound(NotFound, what="User"):
    """No account has this id."""


class SessionNotFound(NotFound, what="Session"):
    """No active device session of the caller has this id."""


class ApiKeyNotFound(NotFound, what="API key"):
    """No API key of the caller has this id."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class TokenIssuer:
    """What it takes to open sessions and mint tokens."""

    codec: AccessTokenCodec
    cache: AuthCache
    refresh_ttl: timedelta


# What other contexts do to erase a user's data before the user row goes. The app factory and
# the worker register them (jobs.connect_contexts), never an import.
AccountEraser = Callable[[AsyncSession, RedisClient, uuid.UUID], Awaitable[None]]
_erasers: list[AccountEraser] = []


def on_account_deleted(eraser: AccountEraser) -> None:
    if eraser not in _erasers:
        _erasers.append(eraser)


def account_erasers() -> list[AccountEraser]:
    """The registered erasers, in the order they run."""
    return list(_erasers)


# What other contexts do when an account's visibility changes (before commit): called with the
# user's id and the new visibility. Registered like the erasers.
VisibilityChanged = Callable[[AsyncSession, RedisClient, uuid.UUID, Visibility], Awaitable[None]]
_visibility_listeners: list[VisibilityChanged] = []


def on_visibility_changed(listener: VisibilityChanged) -> None:
    if listener not in _visibility_listeners:
        _visibility_listeners.append(listener)


def visibility_listeners() -> list[VisibilityChanged]:
    """The registered listeners, in the order they run."""
    return list(_visibility_listeners)


def _cache_profile_after_commit(session: AsyncSession, cache: AuthCache, user: User) -> None:
    user_id, version, payload = user.id, user.version, profile_payload(user)

    async def store() -> None:
        await cache.profiles.store(user_id, version, payload)

    after_commit(session, store)


async def open_session(
    session: AsyncSession, issuer: TokenIssuer, user_id: uuid.UUID, device_name: str | None
) -> Tokens:
    expires_at = datetime.now(UTC) + issuer.refresh_ttl
    device = await repository.create_device_session(session, user_id, device_name, expires_at)
    return await _issue(session, issuer, user_id, device.id, expires_at)


async def _issue(
    session: AsyncSession,
    issuer: TokenIssuer,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    session_expires_at: datetime,
) -> Tokens:
    refresh = new_refresh_token()
    await repository.add_refresh_token(
        session, hash_secret(refresh), session_id, session_expires_at
    )
    return Tokens(
        access_token=issuer.codec.encode(user_id, session_id),
        refresh_token=refresh,
        expires_in=issuer.codec.ttl_seconds,
    )


async def register(
    session: AsyncSession,
    issuer: TokenIssuer,
    *,
    email: str,
    password: str,
    name: str,
    timezone: str,
    visibility: Visibility,
) -> tuple[User, Tokens]:
    password_hash = await hash_password(password)
    user = await repository.insert_user(
        session,
        email=email,
        password_hash=password_hash,
        name=name,
        timezone=timezone,
        visibility=visibility,
    )
    if user is None:
        raise EmailTaken(f"An account with the email {email!r} already exists.")
    tokens = await open_session(session, issuer, user.id, "registration")
    _cache_profile_after_commit(session, issuer.cache, user)
    # The new account reads itself at once (its export, its reports): from the primary.
    wrote_for(session, user.id)
    return user, tokens


@dataclass(frozen=True)
class NewAccount:
    email: str
    name: str
    timezone: str


async def create_accounts(
    session: AsyncSession, cache: AuthCache, accounts: Sequence[NewAccount], password: str
) -> list[User]:
    """Public accounts an operator makes together (`rhythm demo`), all with one password,
    hashed once: argon2 costs ~90 ms a hash by design, which fifty registrations would pay
    fifty times. No device session is opened; a taken email is EmailTaken, as at
    registration."""
    password_hash = await hash_password(password)
    users = []
    for account in accounts:
        user = await repository.insert_user(
            session,
            email=account.email,
            password_hash=password_hash,
            name=account.name,
            timezone=account.timezone,
        )
        if user is None:
            raise EmailTaken(f"An account with the email {account.email!r} already exists.")
        _cache_profile_after_commit(session, cache, user)
        users.append(user)
    return users


async def login(
    session: AsyncSession,
    issuer: TokenIssuer,
    limits: RateLimits,
    *,
    email: str,
    password: str,
    device_name: str | None,
) -> tuple[User, Tokens]:
    account = email.strip().lower()
    await limits.count_login_attempt(account)
    user = await repository.get_user_by_email(session, account)
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials()
    await limits.reset_login_failures(account)
    tokens = await open_session(session, issuer, user.id, device_name)
    return user, tokens


async def refresh(session: AsyncSession, issuer: TokenIssuer, refresh_token: str) -> Tokens:
    token_hash = hash_secret(refresh_token)
    session_id = await repository.consume_refresh_token(session, token_hash)
    if session_id is None:
        known = await repository.refresh_token_session(session, token_hash)
        if known is not None:
            device = await repository.active_session(session, known)
            if device is not None:
                await issuer.cache.revoke_sessions(device.user_id, [device.id])
                await repository.revoke_sessions(session, device.user_id, only=device.id)
            raise RefreshTokenReused(
                "This refresh token was already used. The device session has been revoked."
            )
        raise Unauthorized("The refresh token is invalid or expired.")
    device = await repository.active_session(session, session_id)
    if device is None:
        raise Unauthorized("The device session has been signed out.")
    return await _issue(session, issuer, device.user_id, device.id, device.expires_at)


async def logout(session: AsyncSession, cache: AuthCache, principal: Principal) -> None:
    assert principal.session_id is not None
    await cache.revoke_sessions(principal.id, [principal.session_id])
    await repository.revoke_sessions(session, principal.id, only=principal.session_id)


async def logout_all(session: AsyncSession, cache: AuthCache, user_id: uuid.UUID) -> None:
    await cache.revoke_sessions(user_id, await repository.session_ids(session, user_id))
    await repository.revoke_sessions(session, user_id)


async def list_sessions(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> tuple[Sequence[DeviceSession], str | None]:
    after = page.instant_position("sessions")
    rows = await repository.list_sessions(session, principal.id, after, page.limit + 1)
    return page.instant_page("sessions", list(rows), lambda s: (s.created_at, s.id))


async def revoke_session(
    session: AsyncSession, cache: AuthCache, principal: Principal, session_id: uuid.UUID
) -> None:
    device = await repository.active_session(session, session_id)
    if device is None or device.user_id != principal.id:
        raise SessionNotFound(f"No active session {session_id} on this account.")
    await cache.revoke_sessions(principal.id, [session_id])
    await repository.revoke_sessions(session, principal.id, only=session_id)


# API keys -------------------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession,
    user_id: uuid.UUID,
    name: str,
    scopes: Sequence[Scope],
    key_format: str = "rhythm",
) -> tuple[ApiKey, str]:
    key = new_api_key(key_format)
    row = await repository.create_api_key(
        session,
        user_id,
        name,
        hash_secret(key),
        key[: len("rhk_") + 6] if key_format == "rhythm" else key[:8],
        # One order, whatever the request's: the key's scopes are a set.
        [scope.value for scope in Scope if scope in scopes],
    )
    return row, key


async def list_api_keys(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[ApiKey], str | None]:
    after = page.instant_position("api-keys")
    rows = await repository.list_api_keys(session, user_id, after, page.limit + 1)
    return page.instant_page("api-keys", list(rows), lambda k: (k.created_at, k.id))


async def revoke_api_key(
    session: AsyncSession, cache: AuthCache, user_id: uuid.UUID, key_id: uuid.UUID
) -> None:
    key_hash = await repository.delete_api_key(session, user_id, key_id)
    if key_hash is None:
        raise ApiKeyNotFound(f"No API key {key_id} on this account.")
    await cache.fill_api_key(key_hash, b"0")


# Users ----------------------------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise UserNotFound(f"No user {user_id}.")
    return user


async def ensure_user_exists(session: AsyncSession, user_id: uuid.UUID) -> None:
    await get_user(session, user_id)


async def get_card(session: AsyncSession, user_id: uuid.UUID) -> Card:
    """What other contexts show of a user (404 if there is none)."""
    user = await get_user(session, user_id)
    return Card(user.id, user.name, user.timezone, user.visibility)


async def get_user_for_share(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user, its row share-locked until the transaction ends: a change of its visibility
    waits for the caller (who decides by it) to commit, and the caller for such a change."""
    user = await repository.get_user_for_share(session, user_id)
    if user is None:
        raise UserNotFound(f"No user {user_id}.")
    return user


async def locked_cards(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], *, share: bool
) -> dict[uuid.UUID, Card]:
    """The cards of those of the users that exist, their rows locked until the transaction
    ends: with `share`, against any change (`get_user_for_share`, for many); without, against
    `get_user_for_share`'s readers too, so that what is decided under this lock is never
    decided at the same time as what is decided under theirs."""
    users = await repository.lock_users(session, user_ids, share=share)
    return {u.id: Card(u.id, u.name, u.timezone, u.visibility) for u in users}


async def lock_users(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Card]:
    """`locked_cards` without `share`, and a 404 if one of the users does not exist."""
    cards = await locked_cards(session, user_ids, share=False)
    for user_id in user_ids:
        if user_id not in cards:
            raise UserNotFound(f"No user {user_id}.")
    return cards


async def user_names(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names by id; ids of deleted users are absent."""
    return await repository.user_names(session, user_ids)


def profile_lua() -> str:
    """A Lua fragment for other contexts' scripts that read users' cached profiles in the same
    round trip: it defines `profile_key(user_id)` (the key to GET) and `profile_fields(raw)`
    (the profile's fields, nil for a deleted user). Hand the raw values to `cached_cards`."""
    return PROFILE_LUA


def profile_key(user_id: uuid.UUID) -> str:
    """The key of a user's cached profile, for other contexts that read it in their own
    pipelines or scripts (passed in a script's KEYS: on Redis Cluster no key is named in Lua, and
    the key's hash tag is the user's id). Hand the raw values to `cached_cards`."""
    return profiles.profile_key(user_id)


@dataclass(frozen=True)
class Card:
    """What other contexts show of a user."""

    id: uuid.UUID
    name: str
    timezone: str
    visibility: Visibility = PUBLIC


async def cached_cards(
    db: ReadSession,
    redis: RedisClient,
    user_ids: Sequence[uuid.UUID],
    cached: Sequence[bytes | None],
) -> dict[uuid.UUID, Card]:
    """Users' cards from their cached profiles (written through on every change), with
    PostgreSQL for the misses (then cached); ids of deleted users are absent. `cached` holds
    the values the caller's script read at `profile_key(user_id)` (see `profile_lua`), in
    order."""
    cards: dict[uuid.UUID, Card] = {}
    misses: list[uuid.UUID] = []
    for user_id, raw in zip(user_ids, cached, strict=True):
        profile = parse_profile(raw) if raw is not None else None
        if profile is not None:
            # Profiles cached before visibility existed are of public accounts (the default).
            visibility = profile.get("visibility", PUBLIC)
            cards[user_id] = Card(user_id, profile["name"], profile["timezone"], visibility)
        elif raw is None:
            misses.append(user_id)
    if misses:
        users = await repository.users_by_ids(await db(), list(dict.fromkeys(misses)))
        for user in users:
            cards[user.id] = Card(user.id, user.name, user.timezone, user.visibility)
        await ProfileCache(redis).store_many([(u.id, u.version, profile_payload(u)) for u in users])
    return cards


async def cached_user_names(
    db: ReadSession,
    redis: RedisClient,
    user_ids: Sequence[uuid.UUID],
    cached: Sequence[bytes | None],
) -> dict[uuid.UUID, str]:
    """Display names by id; see cached_cards."""
    cards = await cached_cards(db, redis, user_ids, cached)
    return {user_id: card.name for user_id, card in cards.items()}


async def user_id_by_email(session: AsyncSession, email: str) -> uuid.UUID | None:
    """The id of the account with this email (case-insensitively), None when there is none."""
    user = await repository.get_user_by_email(session, email)
    return None if user is None else user.id


async def promote(session: AsyncSession, cache: AuthCache, email: str) -> bool:
    """Make an account an administrator (`rhythm users promote`); whether it exists. The
    cached profile is replaced after the commit."""
    user = await repository.get_user_by_email(session, email)
    if user is None:
        return False
    updated = await repository.update_user(session, user.id, is_admin=True)
    assert updated is not None
    _cache_profile_after_commit(session, cache, updated)
    return True


async def update_me(
    session: AsyncSession, cache: AuthCache, user_id: uuid.UUID, changes: dict[str, Any]
) -> User:
    values = {k: v for k, v in changes.items() if v is not None}
    user = await repository.update_user(session, user_id, **values)
    if user is None:
        raise UserNotFound(f"No user {user_id}.")
    if "visibility" in values:
        # Told even when it did not change: what a listener does (approving the requests a
        # public account still has) is then done again, harmlessly.
        for listener in _visibility_listeners:
            await listener(session, cache.redis, user_id, values["visibility"])
    _cache_profile_after_commit(session, cache, user)
    return user


async def confirm_password(
    session: AsyncSession, limits: RateLimits, principal: Principal, password: str, field: str
) -> None:
    """403 unless `password` is the caller's. Each attempt counts against the account's
    failed-login window before it is checked (the same budget as signing in), so a stolen
    session cannot brute-force the password here either."""
    account = principal.email.strip().lower()
    await limits.count_login_attempt(account)
    user = await repository.get_user_for_update(session, principal.id)
    if user is None:
        raise UserNotFound(f"No user {principal.id}.")
    if not await verify_password(user.password_hash, password):
        raise WrongPassword("The password is incorrect.", field=field)
    await limits.reset_login_failures(account)


async def change_password(
    session: AsyncSession,
    cache: AuthCache,
    limits: RateLimits,
    principal: Principal,
    current_password: str,
    new_password: str,
) -> None:
    await confirm_password(session, limits, principal, current_password, "current_password")
    await repository.update_user(
        session, principal.id, password_hash=await hash_password(new_password)
    )
    all_sessions = await repository.session_ids(session, principal.id)
    others = [sid for sid in all_sessions if sid != principal.session_id]
    await cache.revoke_sessions(principal.id, others)
    await repository.revoke_sessions(session, principal.id, keep=principal.session_id)


class WrongPassword(RhythmError):
    status = 403
    slug = "wrong-password"
    title = "Wrong password"

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail, errors=[FieldError(field=field, message=detail)])


async def delete_account(session: AsyncSession, cache: AuthCache, user_id: uuid.UUID) -> None:
    """Erase the account and, through each context's eraser and the cascades, all its data."""
    await cache.revoke_sessions(user_id, await repository.session_ids(session, user_id))
    for key_hash in await repository.api_key_hashes(session, user_id):
        await cache.fill_api_key(key_hash, b"0")
    for eraser in _erasers:
        await eraser(session, cache.redis, user_id)
    if not await repository.delete_user(session, user_id):
        raise UserNotFound(f"No user {user_id}.")
    # After the contexts' own erasure jobs (deferred by the erasers above): the jobs and Redis
    # keys that still name the account (identity.tasks.erase_remnants).
    await defer(session, "identity:erase_remnants", queue=ERASURE_QUEUE, user_id=str(user_id))

    async def forget() -> None:
        await cache.profiles.forget(user_id)

    # The tombstone outranks any profile a racing request caches before the commit.
    after_commit(session, forget)


async def search_users(
    session: AsyncSession, prefix: str, page: PageRequest, hidden: Sequence[uuid.UUID] = ()
) -> tuple[Sequence[User], str | None]:
    """Users whose name starts with `prefix`, except those `hidden`."""
    after = page.position("users")
    rows = await repository.search_users(
        session,
        prefix,
        (str(after[0]), uuid.UUID(after[1])) if after else None,
        page.limit + 1,
        hidden,
    )
    return page.page("users", list(rows), lambda u: [u.name, str(u.id)])


async def purge_expired_sessions(session: AsyncSession, grace_days: int = 7) -> int:
    return await repository.purge_expired(session, grace_days)


# Export and import of an account (portability) ---------------------------------------------------


def export_profile(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The account's profile, as ProfileRecord's fields."""
    return repository.profile_rows(session, user_id)


def export_api_keys(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The account's API keys, oldest first, as ApiKeyRecord's fields (no secret)."""
    return repository.api_key_rows(session, user_id)


async def import_profile(
    session: AsyncSession, cache: AuthCache, user_id: uuid.UUID, record: ProfileRecord
) -> User:
    """Apply an exported profile's name, timezone and visibility (its email and creation time
    are the exported account's own)."""
    changes = {"name": record.name, "timezone": record.timezone, "visibility": record.visibility}
    return await update_me(session, cache, user_id, changes)
