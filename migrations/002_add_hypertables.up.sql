-- Turns every time-series table into a TimescaleDB hypertable (1-day chunks) where the
-- extension can be used. On plain PostgreSQL this migration does nothing (and says so).
-- The extension counts as usable when it is available, listed in shared_preload_libraries,
-- and not switched off for this database with: ALTER DATABASE db SET observatory.timescaledb = 'off'.
DO $$
DECLARE
    wanted boolean := coalesce(current_setting('observatory.timescaledb', true), '') <> 'off';
    available boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb');
    preloaded boolean := current_setting('shared_preload_libraries') ~ '(^|[\s,])timescaledb([\s,]|$)';
    hypertable record;
BEGIN
    IF NOT wanted THEN
        RAISE NOTICE 'observatory: timescaledb switched off for this database; hypertables skipped';
        RETURN;
    END IF;
    IF available AND NOT preloaded THEN
        RAISE WARNING 'observatory: timescaledb is installed but not in shared_preload_libraries; treating it as unavailable';
        RETURN;
    END IF;
    IF NOT available THEN
        RAISE NOTICE 'observatory: timescaledb not available; plain PostgreSQL tables kept';
        RETURN;
    END IF;

    CREATE EXTENSION IF NOT EXISTS timescaledb;
    -- TimescaleDB warns about every VARCHAR column; the seed's types are deliberate.
    PERFORM set_config('client_min_messages', 'error', true);
    FOR hypertable IN
        SELECT * FROM (VALUES
            ('trace_spans', 'start_time'),
            ('trace_events', 'timestamp'),
            ('metric_data_points', 'timestamp'),
            ('logs', 'timestamp'),
            ('llm_traces', 'ts'),
            ('llm_metrics', 'ts'),
            ('llm_logs', 'ts')
        ) AS t(table_name, time_column)
    LOOP
        PERFORM create_hypertable(
            hypertable.table_name::regclass,
            by_range(hypertable.time_column, INTERVAL '1 day'),
            create_default_indexes => false,
            migrate_data => true
        );
    END LOOP;
END
$$;
