"""Sleep records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE EXTENSION IF NOT EXISTS btree_gist;

        CREATE TABLE sleep_records (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            sleep_at timestamptz NOT NULL,
            wake_at timestamptz,
            sleep_timezone varchar(64) NOT NULL,
            wake_timezone varchar(64),
            duration_seconds integer,
            week varchar(8) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_sleep_records_completed_fields CHECK (
                (wake_at IS NULL AND wake_timezone IS NULL AND duration_seconds IS NULL)
                OR (wake_at IS NOT NULL AND wake_timezone IS NOT NULL
                    AND duration_seconds IS NOT NULL)
            ),
            CONSTRAINT ck_sleep_records_positive CHECK (wake_at IS NULL OR wake_at > sleep_at),
            CONSTRAINT ck_sleep_records_at_most_a_day CHECK (
                wake_at IS NULL OR wake_at - sleep_at <= interval '24 hours'
            ),
            CONSTRAINT ex_sleep_records_no_overlap EXCLUDE USING gist (
                user_id WITH =, tstzrange(sleep_at, wake_at, '[)') WITH &&
            )
        );
        CREATE UNIQUE INDEX uq_sleep_records_one_open
            ON sleep_records (user_id) WHERE wake_at IS NULL;
        CREATE INDEX ix_sleep_records_user_recent
            ON sleep_records (user_id, sleep_at DESC, id DESC);
        CREATE INDEX ix_sleep_records_user_week
            ON sleep_records (user_id, week, duration_seconds DESC, id)
            WHERE wake_at IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE sleep_records")
