-- The cost of usage_events' crossing triggers on a 200,000-row INSERT (6 runs, alternating with
-- the triggers disabled, each rolled back), on the database bench/partitions_explain.py fills:
-- psql -h 127.0.0.1 -U postgres rhythm_bench_partitions -f bench/partitions_trigger_cost.sql
\timing on
-- A bucket of its own; 200,000 events of 110 s every 2 minutes from 2026-05-01 (May 2026 to
-- February 2027: ten partitions).
INSERT INTO usage_buckets (id, user_id, name, type, client, hostname)
VALUES ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-00000000b0b0', 'trigger-cost', 'currentwindow', 'bench', 'bench')
ON CONFLICT DO NOTHING;
\set ins 'INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data, app, title) SELECT \'00000000-0000-4000-8000-0000000000c1\', \'00000000-0000-4000-8000-00000000b0b0\', t, t + interval \'110 seconds\', jsonb_build_object(\'app\', \'a\' || (n % 7), \'title\', \'t \' || (n % 500)), \'a\' || (n % 7), \'t \' || (n % 500) FROM generate_series(timestamptz \'2026-05-01T00:00:00Z\', timestamptz \'2026-05-01T00:00:00Z\' + interval \'2 minutes\' * 199999, interval \'2 minutes\') WITH ORDINALITY AS g (t, n)'
BEGIN; :ins; ROLLBACK;
BEGIN; ALTER TABLE usage_events DISABLE TRIGGER USER; :ins; ROLLBACK;
BEGIN; :ins; ROLLBACK;
BEGIN; ALTER TABLE usage_events DISABLE TRIGGER USER; :ins; ROLLBACK;
BEGIN; :ins; ROLLBACK;
BEGIN; ALTER TABLE usage_events DISABLE TRIGGER USER; :ins; ROLLBACK;
