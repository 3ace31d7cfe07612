-- Retention and columnstore (compression) policies on TimescaleDB; a no-op on plain PostgreSQL.
-- Raw data 30 days, 1-minute rollups 37 days, hourly 210 days, daily 3 years; raw chunks move to
-- the columnstore after 1 day, segmented by project and service so dashboard filters stay cheap.
-- `traces` is a plain table (see README.md), so a scheduled job trims it to the same 30 days.
CREATE OR REPLACE PROCEDURE observatory_trim_traces(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM traces
    WHERE start_time < now() - coalesce((config ->> 'drop_after')::interval, INTERVAL '30 days');
END
$$;

DO $$
DECLARE
    raw record;
    rollup record;
    columnstore_api boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RAISE NOTICE 'observatory: timescaledb not installed; retention and columnstore policies skipped';
        RETURN;
    END IF;
    -- 2.18 renamed compression to columnstore; older releases only know the old names.
    columnstore_api := EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'add_columnstore_policy');

    FOR raw IN
        SELECT * FROM (VALUES
            ('trace_spans', 'project_id, service_name', 'start_time DESC, id'),
            ('trace_events', 'project_id', 'timestamp DESC, id'),
            ('metric_data_points', 'project_id, metric_id', 'timestamp DESC, id'),
            ('logs', 'project_id, service_name', 'timestamp DESC, id'),
            ('llm_traces', 'project_id, provider, model', 'ts DESC, id'),
            ('llm_metrics', 'project_id, name', 'ts DESC, id'),
            ('llm_logs', 'project_id', 'ts DESC, id')
        ) AS t(table_name, segment_by, order_by)
    LOOP
        IF columnstore_api THEN
            EXECUTE format('ALTER TABLE %I SET (timescaledb.enable_columnstore, timescaledb.segmentby = %L, timescaledb.orderby = %L)',
                           raw.table_name, raw.segment_by, raw.order_by);
            EXECUTE format('CALL add_columnstore_policy(%L, after => INTERVAL ''1 day'')', raw.table_name);
        ELSE
            EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                           raw.table_name, raw.segment_by, raw.order_by);
            PERFORM add_compression_policy(raw.table_name::regclass, INTERVAL '1 day');
        END IF;
        PERFORM add_retention_policy(raw.table_name::regclass, drop_after => INTERVAL '30 days');
    END LOOP;

    FOR rollup IN
        SELECT * FROM (VALUES
            ('llm_metrics_1min', INTERVAL '37 days'),
            ('llm_metrics_1hour', INTERVAL '210 days'),
            ('llm_metrics_1day', INTERVAL '3 years'),
            ('llm_error_summary', INTERVAL '210 days')
        ) AS r(view_name, drop_after)
    LOOP
        PERFORM add_retention_policy(rollup.view_name::regclass, drop_after => rollup.drop_after);
    END LOOP;

    PERFORM add_job('observatory_trim_traces', INTERVAL '1 hour',
                    config => '{"drop_after": "30 days"}'::jsonb);
END
$$;
