"""Usage events: one GiST index instead of two. The exclusion constraint becomes (user_id =,
bucket_pk =, span &&), the same rule (a bucket belongs to one user, and every event carries its
bucket's user), and its index also serves the reads by user and span that the separate
ix_usage_events_user_span index served. Every inserted event then enters one GiST index, not
two: the bulk of an import's PostgreSQL time (docs/benchmarks.md, issue 12).

Revision ID: 0010_usage_one_span_index
Revises: 0010_privacy
Create Date: 2026-11-29
"""

from alembic import op

revision = "0010_usage_one_span_index"
down_revision = "0010_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DROP INDEX ix_usage_events_user_span;
        ALTER TABLE usage_events DROP CONSTRAINT ex_usage_events_no_overlap;
        ALTER TABLE usage_events ADD CONSTRAINT ex_usage_events_no_overlap EXCLUDE USING gist (
            user_id WITH =, bucket_pk WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE usage_events DROP CONSTRAINT ex_usage_events_no_overlap;
        ALTER TABLE usage_events ADD CONSTRAINT ex_usage_events_no_overlap EXCLUDE USING gist (
            bucket_pk WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
        );
        CREATE INDEX ix_usage_events_user_span
            ON usage_events USING gist (user_id, tstzrange(starts_at, ends_at, '[)'));
        """
    )
