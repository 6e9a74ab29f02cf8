"""Private accounts: a profile's visibility, follow requests and blocks.

Revision ID: 0010_privacy
Revises: 0011_sleep_notes (main had it when this branch was rebased; 0009_wakatime before)
Create Date: 2026-12-01
"""

from alembic import op

revision = "0010_privacy"
down_revision = "0011_sleep_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing account stays public: clients keep today's behaviour.
    op.execute(
        """
        ALTER TABLE users
            ADD COLUMN visibility varchar(16) NOT NULL DEFAULT 'public',
            ADD CONSTRAINT ck_users_visibility CHECK (visibility IN ('public', 'private'));
        CREATE TABLE follow_requests (
            requester_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            target_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_follow_requests PRIMARY KEY (requester_id, target_id),
            CONSTRAINT ck_follow_requests_not_self CHECK (requester_id <> target_id)
        );
        CREATE INDEX ix_follow_requests_sent
            ON follow_requests (requester_id, created_at, target_id);
        CREATE INDEX ix_follow_requests_incoming
            ON follow_requests (target_id, created_at, requester_id);
        CREATE TABLE blocks (
            blocker_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            blocked_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_blocks PRIMARY KEY (blocker_id, blocked_id),
            CONSTRAINT ck_blocks_not_self CHECK (blocker_id <> blocked_id)
        );
        CREATE INDEX ix_blocks_listed ON blocks (blocker_id, created_at, blocked_id);
        CREATE INDEX ix_blocks_blocked ON blocks (blocked_id, blocker_id);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE blocks, follow_requests;"
        " ALTER TABLE users DROP CONSTRAINT ck_users_visibility, DROP COLUMN visibility"
    )
