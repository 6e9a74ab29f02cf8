"""Request and response models of the identity context."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from rhythm.identity.passwords import MAX_LENGTH, MIN_LENGTH
from rhythm.identity.principal import DEFAULT_KEY_SCOPES, PUBLIC, Scope, Visibility
from rhythm.platform.schemas import IsoDatetime, RequestModel
from rhythm.platform.timezones import TimeZoneName

Password = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
AnyPassword = Annotated[str, Field(min_length=1, max_length=1024)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


Name = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_not_blank)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"),
    Field(examples=["ada@example.com"]),
]
DeviceName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


VISIBILITY_DOC = (
    "`public`: anyone signed in may follow you and see your nights, focus standing and follow "
    "lists. `private`: following you is a request you approve; until then the requester sees "
    "only your profile."
)


class RegisterRequest(RequestModel):
    email: Email
    password: Password
    name: Name
    timezone: TimeZoneName = "UTC"
    visibility: Visibility | None = Field(
        default=None,
        description=VISIBILITY_DOC + " Default: the server's (RHYTHM_DEFAULT_VISIBILITY), "
        "`public` unless its operator set it.",
    )


class LoginRequest(RequestModel):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: AnyPassword
    device_name: DeviceName | None = None


class RefreshRequest(RequestModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    timezone: str
    # A default only so that the schema adds it without making it required (always written).
    visibility: Visibility = Field(default=PUBLIC, description=VISIBILITY_DOC)
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")


class AuthResponse(TokenPair):
    user: UserOut


class DeviceSessionOut(BaseModel):
    id: uuid.UUID
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    current: bool


class ApiKeyCreate(RequestModel):
    name: Name
    scopes: list[Scope] = Field(
        default=list(DEFAULT_KEY_SCOPES),
        min_length=1,
        max_length=len(Scope),
        description="What the key may do: `usage` (send heartbeats, the ActivityWatch API), "
        "`read` (read your own data), `write` (change sleep, focus and follows). Default: "
        "`usage` and `read`, what a watcher or an editor plugin needs. No key can manage the "
        "account, its password, profile, keys or sessions: those need a device session.",
    )
    format: Literal["rhythm", "uuid"] = Field(
        default="rhythm",
        description="`rhythm`: `rhk_` and 43 random characters. `uuid`: a bare UUID v4, the "
        "only shape WakaTime clients (wakatime-cli and the editor plugins) accept. Both are "
        "stored and checked alike.",
    )


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(BaseModel):
    id: uuid.UUID
    name: str
    key: str = Field(description="The secret. It is shown only in this response.")
    scopes: list[Scope]
    created_at: datetime


class UserUpdate(RequestModel):
    name: Name | None = None
    timezone: TimeZoneName | None = None
    visibility: Visibility | None = Field(
        default=None,
        description=VISIBILITY_DOC + " Becoming public approves every pending request; "
        "becoming private keeps your followers.",
    )


class PasswordChange(RequestModel):
    current_password: AnyPassword
    new_password: Password


class AccountDeletion(RequestModel):
    password: AnyPassword = Field(description="The account's current password, once more.")


class PublicProfile(BaseModel):
    id: uuid.UUID
    name: str
    # A default only so that the schema adds it without making it required (always written).
    visibility: Visibility = PUBLIC
    followers_count: int
    following_count: int


class UserSummary(BaseModel):
    id: uuid.UUID
    name: str


# An account's export (GET /users/me/export) and import ------------------------------------------


class ProfileRecord(RequestModel):
    """The profile in an export. An import applies `name`, `timezone` and `visibility`;
    `email` and `created_at` belong to the account that was exported and are left as they
    are."""

    name: Name
    email: Annotated[str, Field(max_length=320)] | None = None
    timezone: TimeZoneName
    created_at: IsoDatetime | None = None
    visibility: Visibility | None = None  # exports made before it existed have none


class ApiKeyRecord(RequestModel):
    """An API key in an export: its name and scopes, never its secret, so an import cannot
    recreate it (a new key is made with POST /auth/api-keys)."""

    name: Name
    prefix: Annotated[str, Field(max_length=16)]
    scopes: list[Scope] = Field(max_length=len(Scope))
    created_at: IsoDatetime
    last_used_at: IsoDatetime | None = None
