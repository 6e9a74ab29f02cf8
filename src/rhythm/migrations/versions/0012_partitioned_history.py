"""Partitioned history: usage_events by starts_at and catalog_slot_versions by their sync's start
(a new column, synced_at), monthly, in UTC; the existing rows are moved in this migration.

Each table gets monthly partitions `<table>_pYYYYMM` and a DEFAULT partition `<table>_default`
for rows outside them (rows stored before the windows of platform.bounds, imported history
older than the first partition). New partitions are made by rhythm_month_partitions, a copy of
the default partition's columns, constraints and indexes; the periodic tasks call it ahead of
time (docs/scaling.md, "Partitioned history").

usage_events' exclusion constraint (no two intervals of a bucket overlap) is on each partition.
Two intervals in different partitions start in different months, so the earlier one crosses a
month boundary: usage_event_crossings holds the spans of those that do, kept by statement-level
triggers, and the triggers refuse an event that overlaps a crossing one, or, crossing, overlaps
an event of a later month (exclusion_violation, as the constraint would).

Revision ID: 0012_partitioned_history
Revises: 0010_usage_one_span_index
Create Date: 2026-11-29
"""

from alembic import op

revision = "0012_partitioned_history"
down_revision = "0010_usage_one_span_index"
branch_labels = None
depends_on = None

# Months made ahead of the current one here; the periodic tasks keep a window ahead after.
MONTHS_AHEAD = 3
# Months made before the current one: imported history of the last two years lands in its
# months' partitions (platform.partitions.MONTHS_BACK, as the periodic tasks make them).
MONTHS_BACK = 24
# Existing rows older than this many months stay in the default partition (no partition
# per month of a decade's history).
MONTHS_BACK_MOST = 120

FUNCTIONS = r"""
-- The first instant of a UTC month, and of the next one: partition bounds and the crossing rule.
CREATE FUNCTION usage_month_start(t timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
CREATE FUNCTION usage_month_end(t timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (date_trunc('month', t AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';

-- Make the monthly partitions of `parent` from the month of `first_month` to that of
-- `last_month` that are missing; how many were made. One caller at a time per table (an
-- advisory lock): a second one finds them made. Rows of such a month already in the default
-- partition are moved into the new partition (through the parent, so its triggers run).
CREATE FUNCTION rhythm_month_partitions(parent text, first_month date, last_month date)
    RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    m date := date_trunc('month', first_month)::date;
    made integer := 0;
    part text;
    lo timestamptz;
    hi timestamptz;
    key text;
    waiting boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('rhythm:partitions:' || parent, 0));
    SELECT a.attname INTO STRICT key
    FROM pg_partitioned_table AS p
    JOIN pg_attribute AS a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
    WHERE p.partrelid = parent::regclass;
    WHILE m <= last_month LOOP
        part := format('%s_p%s', parent, to_char(m, 'YYYYMM'));
        IF to_regclass(part) IS NULL THEN
            lo := m::timestamp AT TIME ZONE 'UTC';
            hi := (m + interval '1 month')::timestamp AT TIME ZONE 'UTC';
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)',
                           parent || '_default', key, key)
                INTO waiting USING lo, hi;
            IF waiting THEN
                EXECUTE format('CREATE TEMPORARY TABLE rhythm_moving ON COMMIT DROP AS'
                               ' SELECT * FROM %I WHERE %I >= $1 AND %I < $2',
                               parent || '_default', key, key) USING lo, hi;
                EXECUTE format('DELETE FROM %I WHERE %I >= $1 AND %I < $2', parent, key, key)
                    USING lo, hi;
            END IF;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                           ' INCLUDING INDEXES)', part, parent || '_default');
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           parent, part, lo, hi);
            IF waiting THEN
                EXECUTE format('INSERT INTO %I OVERRIDING SYSTEM VALUE'
                               ' SELECT * FROM rhythm_moving', parent);
                DROP TABLE rhythm_moving;
            END IF;
            made := made + 1;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END
$fn$;

-- Detach and drop the monthly partitions of `parent` whose month ended at or before `before`;
-- their names. The default partition stays.
CREATE FUNCTION rhythm_drop_month_partitions(parent text, before timestamptz)
    RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('rhythm:partitions:' || parent, 0));
    FOR part IN
        SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass
          AND c.relname ~ ('^' || parent || '_p[0-9]{6}$')
          AND (to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')
              AT TIME ZONE 'UTC' <= before
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, part);
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END
$fn$;
"""

USAGE = r"""
ALTER TABLE usage_events RENAME TO usage_events_old;
ALTER INDEX usage_events_pkey RENAME TO usage_events_old_pkey;
ALTER INDEX ix_usage_events_bucket_recent RENAME TO usage_events_old_bucket_recent;
ALTER INDEX ex_usage_events_no_overlap RENAME TO usage_events_old_no_overlap;
ALTER SEQUENCE usage_events_id_seq RENAME TO usage_events_old_id_seq;

CREATE TABLE usage_events (
    id bigint GENERATED ALWAYS AS IDENTITY,
    bucket_pk uuid NOT NULL REFERENCES usage_buckets (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    app text,
    title text,
    url text,
    domain text,
    CONSTRAINT usage_events_pkey PRIMARY KEY (id, starts_at),
    CONSTRAINT ck_usage_events_ordered CHECK (ends_at >= starts_at)
) PARTITION BY RANGE (starts_at);
CREATE INDEX ix_usage_events_bucket_recent ON usage_events (bucket_pk, starts_at DESC, id DESC);
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;
-- The template of every partition (rhythm_month_partitions copies it).
ALTER TABLE usage_events_default ADD CONSTRAINT ex_usage_events_default_no_overlap
    EXCLUDE USING gist (
        user_id WITH =, bucket_pk WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
    );

SELECT rhythm_month_partitions(
    'usage_events',
    least(
        greatest(
            coalesce((SELECT min(starts_at) FROM usage_events_old
                      WHERE starts_at >= '1970-01-01T00:00:00Z'), now()),
            now() - interval '{most} months'
        ),
        now() - interval '{back} months'
    )::date,
    (now() + interval '{ahead} months')::date
);

INSERT INTO usage_events OVERRIDING SYSTEM VALUE
SELECT id, bucket_pk, user_id, starts_at, ends_at, data, app, title, url, domain
FROM usage_events_old ORDER BY bucket_pk, starts_at;
SELECT setval(pg_get_serial_sequence('usage_events', 'id'),
              greatest((SELECT max(id) FROM usage_events), 1),
              (SELECT max(id) FROM usage_events) IS NOT NULL);
DROP TABLE usage_events_old;

-- Events whose span reaches past the end of their starting (UTC) month.
CREATE TABLE usage_event_crossings (
    event_id bigint PRIMARY KEY,
    user_id uuid NOT NULL,
    bucket_pk uuid NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    CONSTRAINT ex_usage_event_crossings_no_overlap EXCLUDE USING gist (
        user_id WITH =, bucket_pk WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
    )
);
INSERT INTO usage_event_crossings
SELECT id, user_id, bucket_pk, starts_at, ends_at FROM usage_events
WHERE ends_at > usage_month_end(starts_at);

-- After a statement wrote events (new_rows): keep their crossings, and refuse an overlap the
-- partitions' constraints cannot see. Writers of a bucket are serialized first (the heartbeat
-- writer's own lock, usage.repository.lock_buckets), and each check then reads with a fresh
-- snapshot (READ COMMITTED): of two concurrent writers, the second sees the first's events.
CREATE FUNCTION usage_events_check_crossings() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    clash record;
BEGIN
    PERFORM count(pg_advisory_xact_lock(k)) FROM (
        SELECT DISTINCT hashtextextended('usage:' || bucket_pk::text, 0) AS k FROM new_rows
        ORDER BY 1
    ) AS o;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM usage_event_crossings AS c USING old_rows AS o WHERE c.event_id = o.id;
    END IF;
    INSERT INTO usage_event_crossings
    SELECT id, user_id, bucket_pk, starts_at, ends_at FROM new_rows
    WHERE ends_at > usage_month_end(starts_at);
    -- An event overlapping one that started in an earlier month (which crosses).
    SELECT n.id, c.event_id AS other INTO clash
    FROM new_rows AS n JOIN usage_event_crossings AS c
      ON c.user_id = n.user_id AND c.bucket_pk = n.bucket_pk AND c.event_id <> n.id
     AND tstzrange(c.starts_at, c.ends_at, '[)') && tstzrange(n.starts_at, n.ends_at, '[)')
    LIMIT 1;
    IF NOT FOUND THEN
        -- A crossing event overlapping one that starts in a later month.
        SELECT n.id, e.id AS other INTO clash
        FROM new_rows AS n JOIN usage_events AS e
          ON e.user_id = n.user_id AND e.bucket_pk = n.bucket_pk AND e.id <> n.id
         AND e.starts_at >= usage_month_end(n.starts_at) AND e.starts_at < n.ends_at
         AND tstzrange(e.starts_at, e.ends_at, '[)') && tstzrange(n.starts_at, n.ends_at, '[)')
        WHERE n.ends_at > usage_month_end(n.starts_at)
        LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'exclusion_violation',
            CONSTRAINT = 'ex_usage_event_crossings_no_overlap',
            TABLE = 'usage_events',
            MESSAGE = 'usage event overlaps another event of its bucket across a month',
            DETAIL = format('Event %s overlaps event %s.', clash.id, clash.other);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE FUNCTION usage_events_forget_crossings() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM usage_event_crossings AS c USING old_rows AS o WHERE c.event_id = o.id;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER usage_events_inserted AFTER INSERT ON usage_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_events_check_crossings();
CREATE TRIGGER usage_events_updated AFTER UPDATE ON usage_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_events_check_crossings();
CREATE TRIGGER usage_events_deleted AFTER DELETE ON usage_events
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_events_forget_crossings();
"""

CATALOG = r"""
ALTER TABLE catalog_slot_versions RENAME TO catalog_slot_versions_old;
ALTER INDEX catalog_slot_versions_pkey RENAME TO catalog_slot_versions_old_pkey;

CREATE TABLE catalog_slot_versions (
    slot_id uuid NOT NULL REFERENCES catalog_slots (id),
    sync_id bigint NOT NULL REFERENCES catalog_syncs (id),
    synced_at timestamptz NOT NULL,
    state jsonb,
    CONSTRAINT catalog_slot_versions_pkey PRIMARY KEY (slot_id, sync_id, synced_at)
) PARTITION BY RANGE (synced_at);
CREATE TABLE catalog_slot_versions_default PARTITION OF catalog_slot_versions DEFAULT;

SELECT rhythm_month_partitions(
    'catalog_slot_versions',
    least(
        greatest(
            coalesce((SELECT min(s.started_at) FROM catalog_slot_versions_old AS v
                      JOIN catalog_syncs AS s ON s.id = v.sync_id
                      WHERE s.started_at >= '1970-01-01T00:00:00Z'), now()),
            now() - interval '{most} months'
        ),
        now() - interval '{back} months'
    )::date,
    (now() + interval '{ahead} months')::date
);

INSERT INTO catalog_slot_versions (slot_id, sync_id, synced_at, state)
SELECT v.slot_id, v.sync_id, s.started_at, v.state
FROM catalog_slot_versions_old AS v JOIN catalog_syncs AS s ON s.id = v.sync_id;
DROP TABLE catalog_slot_versions_old;
"""


def upgrade() -> None:
    op.execute(FUNCTIONS)
    for sql in (USAGE, CATALOG):
        op.execute(
            sql.replace("{back}", str(MONTHS_BACK))
            .replace("{most}", str(MONTHS_BACK_MOST))
            .replace("{ahead}", str(MONTHS_AHEAD))
        )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE catalog_slot_versions RENAME TO catalog_slot_versions_parted;
        ALTER INDEX catalog_slot_versions_pkey RENAME TO catalog_slot_versions_parted_pkey;
        CREATE TABLE catalog_slot_versions (
            slot_id uuid NOT NULL REFERENCES catalog_slots (id),
            sync_id bigint NOT NULL REFERENCES catalog_syncs (id),
            state jsonb,
            PRIMARY KEY (slot_id, sync_id)
        );
        INSERT INTO catalog_slot_versions SELECT slot_id, sync_id, state
        FROM catalog_slot_versions_parted;
        DROP TABLE catalog_slot_versions_parted;

        DROP TABLE usage_event_crossings;
        ALTER TABLE usage_events RENAME TO usage_events_parted;
        ALTER INDEX usage_events_pkey RENAME TO usage_events_parted_pkey;
        ALTER INDEX ix_usage_events_bucket_recent RENAME TO usage_events_parted_bucket_recent;
        ALTER SEQUENCE usage_events_id_seq RENAME TO usage_events_parted_id_seq;
        CREATE TABLE usage_events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            bucket_pk uuid NOT NULL REFERENCES usage_buckets (id) ON DELETE CASCADE,
            user_id uuid NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            data jsonb NOT NULL,
            app text,
            title text,
            url text,
            domain text,
            CONSTRAINT ck_usage_events_ordered CHECK (ends_at >= starts_at),
            CONSTRAINT ex_usage_events_no_overlap EXCLUDE USING gist (
                user_id WITH =, bucket_pk WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
            )
        );
        CREATE INDEX ix_usage_events_bucket_recent
            ON usage_events (bucket_pk, starts_at DESC, id DESC);
        INSERT INTO usage_events OVERRIDING SYSTEM VALUE
        SELECT id, bucket_pk, user_id, starts_at, ends_at, data, app, title, url, domain
        FROM usage_events_parted;
        SELECT setval(pg_get_serial_sequence('usage_events', 'id'),
                      greatest((SELECT max(id) FROM usage_events), 1),
                      (SELECT max(id) FROM usage_events) IS NOT NULL);
        DROP TABLE usage_events_parted;
        DROP FUNCTION usage_events_check_crossings(), usage_events_forget_crossings(),
            rhythm_month_partitions(text, date, date),
            rhythm_drop_month_partitions(text, timestamptz),
            usage_month_start(timestamptz), usage_month_end(timestamptz);
        """
    )
