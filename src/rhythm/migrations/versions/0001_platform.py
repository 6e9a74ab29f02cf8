"""Platform: procrastinate's job tables, identity and the follow graph.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # procrastinate's own schema, for the version pinned in pyproject.toml.
    # Executed on the raw psycopg cursor: with no parameters, its '%' signs stay literal.
    dbapi = op.get_bind().connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    cursor.execute(SchemaManager.get_schema())
    cursor.close()

    op.execute(
        """
        CREATE TABLE users (
            id uuid PRIMARY KEY,
            email varchar(320) NOT NULL,
            password_hash varchar(255) NOT NULL,
            name varchar(100) NOT NULL,
            timezone varchar(64) NOT NULL DEFAULT 'UTC',
            is_admin boolean NOT NULL DEFAULT false,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX uq_users_email_lower ON users (lower(email));
        CREATE INDEX ix_users_name_prefix ON users ((lower(name) COLLATE "C"), id);

        CREATE TABLE device_sessions (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            device_name varchar(100),
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        CREATE INDEX ix_device_sessions_user_id ON device_sessions (user_id, created_at);

        CREATE TABLE refresh_tokens (
            token_hash bytea PRIMARY KEY,
            session_id uuid NOT NULL REFERENCES device_sessions (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        );
        CREATE INDEX ix_refresh_tokens_session_id ON refresh_tokens (session_id);

        CREATE TABLE api_keys (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name varchar(100) NOT NULL,
            key_hash bytea NOT NULL CONSTRAINT uq_api_keys_key_hash UNIQUE,
            prefix varchar(16) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz
        );
        CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

        CREATE TABLE follows (
            follower_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            followee_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_follows PRIMARY KEY (follower_id, followee_id),
            CONSTRAINT ck_follows_not_self CHECK (follower_id <> followee_id)
        );
        CREATE INDEX ix_follows_following ON follows (follower_id, created_at, followee_id);
        CREATE INDEX ix_follows_followers ON follows (followee_id, created_at, follower_id);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE follows, api_keys, refresh_tokens, device_sessions, users CASCADE")
