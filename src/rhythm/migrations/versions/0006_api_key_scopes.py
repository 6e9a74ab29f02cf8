"""API keys get scopes; keys made before get the safe default, usage and read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE api_keys
            ADD COLUMN scopes varchar(16)[] NOT NULL DEFAULT '{usage,read}',
            ADD CONSTRAINT ck_api_keys_scopes
                CHECK (scopes <@ ARRAY['usage', 'read', 'write']::varchar(16)[]);
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE api_keys DROP COLUMN scopes")
