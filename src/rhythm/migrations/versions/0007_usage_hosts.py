"""v1 usage sources get their host: buckets the v1 API made before hosts existed (client
`rhythm`, no hostname) are each their own host, named after the source.

Revision ID: 0007_usage_hosts
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0007_usage_hosts"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE usage_buckets SET hostname = name WHERE client = 'rhythm' AND hostname = ''")


def downgrade() -> None:
    pass  # the hostnames stay: nothing before this revision reads them
