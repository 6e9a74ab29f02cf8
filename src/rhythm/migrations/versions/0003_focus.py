"""Focus sessions, their parts per local date, daily totals and streak anchors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE focus_sessions (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            session_id varchar(128) NOT NULL,
            started_at timestamptz NOT NULL,
            ended_at timestamptz NOT NULL,
            timezone varchar(64) NOT NULL,
            response text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_focus_sessions_user_session UNIQUE (user_id, session_id),
            CONSTRAINT ck_focus_sessions_positive CHECK (ended_at > started_at),
            CONSTRAINT ck_focus_sessions_at_most_a_day CHECK (
                ended_at - started_at <= interval '24 hours'
            )
        );
        CREATE INDEX ix_focus_sessions_user_recent
            ON focus_sessions (user_id, started_at DESC, id DESC);

        CREATE TABLE focus_session_parts (
            session_pk uuid NOT NULL REFERENCES focus_sessions (id) ON DELETE CASCADE,
            day date NOT NULL,
            user_id uuid NOT NULL,
            started_at timestamptz NOT NULL,
            ended_at timestamptz NOT NULL,
            PRIMARY KEY (session_pk, started_at),
            CONSTRAINT ck_focus_session_parts_positive CHECK (ended_at > started_at)
        );
        CREATE INDEX ix_focus_session_parts_user_day ON focus_session_parts (user_id, day);

        CREATE TABLE focus_days (
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            day date NOT NULL,
            micros bigint NOT NULL CHECK (micros > 0),
            PRIMARY KEY (user_id, day)
        );

        CREATE TABLE focus_streaks (
            user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
            last_qualified date,
            run integer NOT NULL,
            freezes integer NOT NULL,
            longest integer NOT NULL,
            qualified_days integer NOT NULL,
            threshold_minutes integer NOT NULL,
            version bigint NOT NULL
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE focus_streaks, focus_days, focus_session_parts, focus_sessions")
