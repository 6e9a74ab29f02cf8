"""A night's private rating, tags and note.

Revision ID: 0011_sleep_notes
Revises: 0009_wakatime
Create Date: 2026-11-30
"""

from alembic import op

revision = "0011_sleep_notes"
down_revision = "0009_wakatime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds these columns without rewriting the table.
    op.execute(
        """
        ALTER TABLE sleep_records
            ADD COLUMN rating smallint,
            ADD COLUMN tags varchar(32)[] NOT NULL DEFAULT '{}',
            ADD COLUMN note varchar(1000),
            ADD CONSTRAINT ck_sleep_records_rating CHECK (rating BETWEEN 1 AND 5),
            ADD CONSTRAINT ck_sleep_records_tags CHECK (cardinality(tags) <= 10);
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE sleep_records DROP COLUMN note, DROP COLUMN tags, DROP COLUMN rating")
