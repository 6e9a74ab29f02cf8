-- The same 200,000-row INSERT into the partitioned usage_events (triggers on) and into an
-- unpartitioned copy of the table as migration 0010 left it, alternating, each rolled back, on
-- the database bench/partitions_explain.py fills:
-- psql -h 127.0.0.1 -U postgres rhythm_bench_partitions -f bench/partitions_insert_cost.sql
\timing on
INSERT INTO usage_buckets (id, user_id, name, type, client, hostname)
VALUES ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-00000000b0b0', 'trigger-cost', 'currentwindow', 'bench', 'bench')
ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS usage_events_flat (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket_pk uuid NOT NULL REFERENCES usage_buckets (id) ON DELETE CASCADE,
    user_id uuid NOT NULL, starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL,
    data jsonb NOT NULL, app text, title text, url text, domain text,
    CHECK (ends_at >= starts_at),
    EXCLUDE USING gist (user_id WITH =, bucket_pk WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
);
CREATE INDEX IF NOT EXISTS usage_events_flat_recent ON usage_events_flat (bucket_pk, starts_at DESC, id DESC);
\set sel ' (bucket_pk, user_id, starts_at, ends_at, data, app, title) SELECT \'00000000-0000-4000-8000-0000000000c1\', \'00000000-0000-4000-8000-00000000b0b0\', t, t + interval \'110 seconds\', jsonb_build_object(\'app\', \'a\' || (n % 7), \'title\', \'t \' || (n % 500)), \'a\' || (n % 7), \'t \' || (n % 500) FROM generate_series(timestamptz \'2026-05-01T00:00:00Z\', timestamptz \'2026-05-01T00:00:00Z\' + interval \'2 minutes\' * 199999, interval \'2 minutes\') WITH ORDINALITY AS g (t, n)'
BEGIN; INSERT INTO usage_events_flat :sel; ROLLBACK;
BEGIN; INSERT INTO usage_events :sel; ROLLBACK;
BEGIN; INSERT INTO usage_events_flat :sel; ROLLBACK;
BEGIN; INSERT INTO usage_events :sel; ROLLBACK;
BEGIN; INSERT INTO usage_events_flat :sel; ROLLBACK;
BEGIN; INSERT INTO usage_events :sel; ROLLBACK;
DROP TABLE usage_events_flat;
