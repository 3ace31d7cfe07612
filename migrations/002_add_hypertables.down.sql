-- Turns the hypertables of 002 back into plain tables (same columns, defaults, constraints and
-- data), then drops the extension unless something else still uses it.
DO $$
DECLARE
    hypertable record;
    pkey text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOR hypertable IN
        SELECT h.hypertable_name::text AS table_name
        FROM timescaledb_information.hypertables h
        WHERE h.hypertable_schema = current_schema()
          AND h.hypertable_name IN ('trace_spans', 'trace_events', 'metric_data_points', 'logs',
                                    'llm_traces', 'llm_metrics', 'llm_logs')
    LOOP
        SELECT conname INTO pkey FROM pg_constraint
        WHERE conrelid = hypertable.table_name::regclass AND contype = 'p';
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING ALL)',
                       hypertable.table_name || '_plain', hypertable.table_name);
        EXECUTE format('INSERT INTO %I SELECT * FROM %I',
                       hypertable.table_name || '_plain', hypertable.table_name);
        EXECUTE format('DROP TABLE %I', hypertable.table_name);
        EXECUTE format('ALTER TABLE %I RENAME TO %I',
                       hypertable.table_name || '_plain', hypertable.table_name);
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', hypertable.table_name,
                       (SELECT conname FROM pg_constraint
                        WHERE conrelid = hypertable.table_name::regclass AND contype = 'p'),
                       pkey);
    END LOOP;
    -- metric_data_points lost its foreign key with the copy; restore it as 001 declared it.
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'metric_data_points_metric_id_fkey') THEN
        ALTER TABLE metric_data_points ADD CONSTRAINT metric_data_points_metric_id_fkey
            FOREIGN KEY (metric_id) REFERENCES metrics(id) ON DELETE CASCADE;
    END IF;
    BEGIN
        DROP EXTENSION timescaledb;
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'observatory: timescaledb still used by other objects; extension kept';
    END;
END
$$;
