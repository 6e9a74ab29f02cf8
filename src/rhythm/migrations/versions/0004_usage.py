"""Usage buckets and their intervals.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE usage_buckets (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name varchar(256) NOT NULL,
            type varchar(128) NOT NULL,
            client varchar(256) NOT NULL,
            hostname varchar(256) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_usage_buckets_user_name UNIQUE (user_id, name)
        );

        CREATE TABLE usage_events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            bucket_pk uuid NOT NULL REFERENCES usage_buckets (id) ON DELETE CASCADE,
            user_id uuid NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            data jsonb NOT NULL,
            app text,
            title text,
            url text,
            domain text,
            CONSTRAINT ck_usage_events_ordered CHECK (ends_at >= starts_at),
            CONSTRAINT ex_usage_events_no_overlap EXCLUDE USING gist (
                bucket_pk WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
            )
        );
        CREATE INDEX ix_usage_events_bucket_recent
            ON usage_events (bucket_pk, starts_at DESC, id DESC);
        CREATE INDEX ix_usage_events_user_span
            ON usage_events USING gist (user_id, tstzrange(starts_at, ends_at, '[)'));
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE usage_events, usage_buckets")
