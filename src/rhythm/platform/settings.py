"""Settings: one object, loaded once, every field prefixed with RHYTHM_ in the environment."""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.connection import parse_url as parse_redis_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from rhythm.platform.redis import cluster_nodes, is_cluster_url

MIN_SECRET_KEY_BYTES = 32
NOT_A_LIST = "is not a JSON array of URLs (or a comma-separated list)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RHYTHM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "production", "test"] = "development"
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".rhythm")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    secret_key: SecretStr | None = None
    jwt_issuer: str = "rhythm"
    jwt_audience: str = "rhythm-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)

    # `limits` rate-limit strings. Per user when signed in, per IP otherwise.
    rate_limit_default: str = "1200/minute"
    rate_limit_anonymous: str = "120/minute"
    rate_limit_auth: str = "30/minute"
    login_failure_limit: str = "10/15minutes"
    # Per IP: requests whose credentials fail (bad token, unknown or revoked API key).
    auth_failure_limit: str = "60/minute"

    # Per IP on the public /search: generous, since a handful of integration clients carry
    # peaks of 10,000 req/s; counted in process and reconciled with Redis in batches.
    rate_limit_search: str = "120000/minute"

    # Heartbeat ingestion (every heartbeat route; a bulk request counts each heartbeat) has its
    # own pace per user instead of rate_limit_default, so that a watcher replaying a day's
    # backlog is slowed down, never refused: a burst of this many goes straight in, then
    # heartbeats are let in at the rate, each request waiting its turn. Only a request whose
    # turn is further than the max wait away (a user with more requests waiting at once than
    # any set of watchers sends) is refused, 429. docs/reliability.md has the reasoning.
    rate_limit_heartbeats: str = "1000/second"
    rate_limit_heartbeats_burst: int = Field(default=50_000, ge=1, le=10_000_000)
    rate_limit_heartbeats_max_wait: float = Field(default=2.0, gt=0, le=60)

    # The visibility of a new account that does not choose one: `public` keeps what clients
    # knew before private accounts existed; `private` makes every new account ask for approval.
    default_visibility: Literal["public", "private"] = "public"

    # Accounts with more followers than this are not fanned out on write; their nights are
    # merged into followers' feeds when read.
    sleep_fanout_threshold: int = Field(default=5000, ge=1)

    # A day qualifies for a focus streak at this many focused minutes or more.
    focus_qualify_minutes: int = Field(default=30, ge=1, le=1440)

    # The event provider's XML feed; unset disables the scheduled sync.
    catalog_provider_url: str | None = None
    catalog_sync_cron: str = "*/5 * * * *"
    catalog_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    # /search: events in one answer (the earliest first; X-Result-Truncated marks a cut), and
    # the byte budgets of its answers in each process's memory and in Redis.
    search_max_events: int = Field(default=2000, ge=1, le=100_000)
    search_cache_memory_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024)
    search_cache_redis_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)

    # Finished jobs (whose arguments name users and records) are deleted after this long.
    job_retention_hours: int = Field(default=168, ge=1, le=24 * 366)

    # A job worker silent this long is dead; its running jobs are retried (jobs.retry_stalled).
    worker_stalled_seconds: int = Field(default=60, ge=1, le=3600)
    # When set, /metrics answers only `Authorization: Bearer <this>`. /metrics should not be
    # public either way: it names routes, job tasks and traffic.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)

    db_pool_size: int = Field(default=10, ge=1, le=200)
    # How long a request waits for PostgreSQL before it is answered 503: to connect, and for
    # a pooled connection.
    db_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    db_pool_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    log_level: str = "INFO"
    log_json: bool = True
    # Issue 15: Redis is a Redis Cluster (also implied by a `redis+cluster://` URL); every key
    # set one command or script touches shares a hash tag (docs/scaling.md, "Redis Cluster").
    redis_cluster: bool = False

    # Partitioned history (docs/scaling.md): monthly partitions of usage_events and
    # catalog_slot_versions are made this many months ahead by the daily maintenance task.
    partition_months_ahead: int = Field(default=3, ge=1, le=24)
    # When set, usage events (by their start) and catalog versions (by their sync's start) of
    # the months before the last this many are dropped, whole partitions at a time. Unset:
    # kept forever.
    usage_retention_months: int | None = Field(default=None, ge=1, le=1200)
    catalog_history_retention_months: int | None = Field(default=None, ge=1, le=1200)

    # What stands between rhythm and PostgreSQL (docs/scaling.md, "PgBouncer"). `none`: direct
    # connections (or a pooler in session mode). `transaction`: a pooler in transaction mode,
    # such as PgBouncer before 1.21 (no prepared statements): every connection then keeps no
    # statement cache and sends only unnamed statements (asyncpg and psycopg alike), and the job
    # worker polls for new jobs instead of LISTENing (jobs.POOLED_POLL_SECONDS).
    database_pooler: Literal["none", "transaction"] = "none"

    # Read replicas (issue 15, docs/scaling.md "Read replicas"): streaming standbys of
    # database_url, as a comma-separated list or a JSON array; none = every read on the primary.
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A replica further behind the primary than this is skipped; a user's last-write position
    # is kept in Redis for twice as long (so an expired one never lets a stale replica serve).
    database_replica_max_lag_seconds: float = Field(default=5.0, gt=0, le=300)
    # Connections per process to each replica; unset: db_pool_size.
    database_replica_pool_size: int | None = Field(default=None, ge=1, le=200)

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, url: str | None) -> str | None:
        # Checked here, so that a typo is one sentence at start and not a driver's traceback.
        if url is None:
            return None
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in ("postgresql", "postgres"):
            raise ValueError("is not a PostgreSQL URL (postgresql://user:password@host:port/name)")
        return url

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _replica_urls(cls, urls: Any) -> Any:
        if isinstance(urls, str):
            text = urls.strip()
            if text.startswith("["):
                try:
                    urls = json.loads(text)
                except ValueError:
                    raise ValueError(NOT_A_LIST) from None
                if not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
                    raise ValueError(NOT_A_LIST) from None
                return urls
            return [u.strip() for u in text.split(",") if u.strip()]
        return urls

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_postgresql_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            cls._postgresql_url(url)
        return urls

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            if is_cluster_url(url):
                cluster_nodes(url)
            else:
                parse_redis_url(url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ValueError(
                "is not a Redis URL (redis://host:port/number, or"
                f" redis+cluster://host:port[,host:port] for a cluster): {exc}"
            ) from None
        return url

    @model_validator(mode="after")
    def _require_secret_in_production(self) -> Settings:
        if self.env == "production" and self.secret_key is None:
            raise ValueError("RHYTHM_SECRET_KEY must be set when RHYTHM_ENV=production")
        if (
            self.env == "production"
            and self.secret_key is not None
            and len(self.secret_key.get_secret_value().encode()) < MIN_SECRET_KEY_BYTES
        ):
            # HS256 with a short key can be brute-forced offline from any one token.
            raise ValueError(
                f"RHYTHM_SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes when "
                "RHYTHM_ENV=production"
            )
        return self

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    def signing_key(self) -> str:
        """The HMAC key for JWTs and cursors.

        Production requires RHYTHM_SECRET_KEY. Elsewhere a random key is generated once and kept
        in the data directory, so tokens survive a restart of the local service.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
