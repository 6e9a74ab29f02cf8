"""Editor time: WakaTime clients' heartbeats and each user's editor settings.

Revision ID: 0009_wakatime
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0009_wakatime"
down_revision = "0008_usage_categories"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE editor_heartbeats (
            id bigint GENERATED ALWAYS AS IDENTITY,
            user_id uuid NOT NULL,
            digest bytea NOT NULL,
            at timestamptz NOT NULL,
            entity varchar(2048) NOT NULL,
            type varchar(8) NOT NULL,
            category varchar(32) NOT NULL,
            project varchar(256),
            branch varchar(256),
            language varchar(128),
            is_write boolean NOT NULL,
            lines integer,
            lineno integer,
            cursorpos integer,
            user_agent varchar(512) NOT NULL,
            editor varchar(64) NOT NULL,
            operating_system varchar(64) NOT NULL,
            machine varchar(256),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_editor_heartbeats PRIMARY KEY (id),
            CONSTRAINT fk_editor_heartbeats_user_id_users FOREIGN KEY (user_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT uq_editor_heartbeats_user_digest UNIQUE (user_id, digest),
            CONSTRAINT ck_editor_heartbeats_type CHECK (type IN ('file', 'app', 'domain', 'url'))
        );
        CREATE INDEX ix_editor_heartbeats_user_at ON editor_heartbeats (user_id, at);
        CREATE TABLE editor_settings (
            user_id uuid NOT NULL,
            timeout_minutes smallint NOT NULL,
            CONSTRAINT pk_editor_settings PRIMARY KEY (user_id),
            CONSTRAINT fk_editor_settings_user_id_users FOREIGN KEY (user_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT ck_editor_settings_timeout_minutes CHECK (timeout_minutes BETWEEN 1 AND 120)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE editor_settings; DROP TABLE editor_heartbeats")
