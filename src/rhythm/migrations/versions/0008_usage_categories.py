"""Usage category rules per user, and who has been given aw-webui's defaults.

Revision ID: 0008_usage_categories
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0008_usage_categories"
down_revision = "0007_usage_hosts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE usage_categories (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name text[] NOT NULL,
            rule_type varchar(8) NOT NULL,
            regex text,
            ignore_case boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_usage_categories_rule CHECK (
                (rule_type = 'regex' AND regex IS NOT NULL)
                OR (rule_type = 'none' AND regex IS NULL)
            )
        );
        CREATE INDEX ix_usage_categories_user ON usage_categories (user_id, id);

        CREATE TABLE usage_category_seeds (
            user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
            seeded_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE usage_category_seeds, usage_categories")
