"""The provider's catalog: base events, slots (with zones), slot history and sync runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE catalog_base_events (
            base_event_id bigint PRIMARY KEY,
            title text NOT NULL,
            sell_mode varchar(32) NOT NULL,
            organizer_company_id bigint,
            ever_online boolean NOT NULL,
            currently_listed boolean NOT NULL,
            first_seen_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL
        );

        CREATE TABLE catalog_slots (
            id uuid PRIMARY KEY,
            base_event_id bigint NOT NULL REFERENCES catalog_base_events (base_event_id),
            event_id bigint NOT NULL,
            starts_at timestamp NOT NULL,
            ends_at timestamp NOT NULL,
            sell_from timestamp,
            sell_to timestamp,
            sold_out boolean NOT NULL,
            min_price numeric(12, 2),
            max_price numeric(12, 2),
            zones jsonb NOT NULL,
            currently_listed boolean NOT NULL,
            first_seen_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            CONSTRAINT uq_catalog_slots_identity UNIQUE (base_event_id, event_id)
        );
        CREATE INDEX ix_catalog_slots_span ON catalog_slots (starts_at, ends_at);

        CREATE TABLE catalog_syncs (
            id bigserial PRIMARY KEY,
            source text NOT NULL,
            started_at timestamptz NOT NULL,
            finished_at timestamptz,
            status varchar(16) NOT NULL,
            counts jsonb NOT NULL DEFAULT '{}',
            errors jsonb NOT NULL DEFAULT '[]',
            etag text,
            last_modified text,
            catalog_version integer NOT NULL DEFAULT 0
        );

        CREATE TABLE catalog_slot_versions (
            slot_id uuid NOT NULL REFERENCES catalog_slots (id),
            sync_id bigint NOT NULL REFERENCES catalog_syncs (id),
            state jsonb,
            PRIMARY KEY (slot_id, sync_id)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE catalog_slot_versions, catalog_syncs, catalog_slots, catalog_base_events"
    )
