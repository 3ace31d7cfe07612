-- Rollups of llm_traces for dashboards. On TimescaleDB: continuous aggregates (finalized form,
-- real-time aggregation on, created WITH NO DATA so this runs inside a transaction) with refresh
-- policies. On plain PostgreSQL: ordinary views of the same names and columns, so every query
-- works on both backends.
DO $$
DECLARE
    timescale boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
    rollup record;
    bucket_expr text;
    body text;
    usage_columns constant text := $body$
        project_id,
        provider,
        model,
        service_name,
        count(*) AS request_count,
        count(*) FILTER (WHERE status_code = 'error') AS error_count,
        coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
        coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
        coalesce(sum(total_tokens), 0)::bigint AS total_tokens,
        coalesce(sum(cache_read_tokens), 0)::bigint AS cache_read_tokens,
        coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write_tokens,
        coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
        sum(prompt_cost_usd) AS prompt_cost_usd,
        sum(completion_cost_usd) AS completion_cost_usd,
        sum(total_cost_usd) AS total_cost_usd,
        avg(duration_ms) AS avg_duration_ms,
        min(duration_ms) AS min_duration_ms,
        max(duration_ms) AS max_duration_ms,
        percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_ms) AS p50_duration_ms,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_duration_ms,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_duration_ms$body$;
BEGIN
    FOR rollup IN
        SELECT * FROM (VALUES
            ('llm_metrics_1min', INTERVAL '1 minute', '',
             INTERVAL '2 hours', INTERVAL '1 minute', INTERVAL '1 minute'),
            ('llm_metrics_1hour', INTERVAL '1 hour', '',
             INTERVAL '3 days', INTERVAL '1 hour', INTERVAL '30 minutes'),
            ('llm_metrics_1day', INTERVAL '1 day',
             ', count(DISTINCT user_id) AS distinct_users, count(DISTINCT session_id) AS distinct_sessions',
             INTERVAL '7 days', INTERVAL '1 hour', INTERVAL '1 hour')
        ) AS r(view_name, width, extra_columns, start_offset, end_offset, schedule)
    LOOP
        bucket_expr := CASE WHEN timescale
            THEN format('time_bucket(%L::interval, ts)', rollup.width)
            ELSE format('date_bin(%L::interval, ts, TIMESTAMPTZ ''2000-01-03 00:00:00+00'')', rollup.width) END;
        body := format('SELECT %s AS bucket, %s%s FROM llm_traces GROUP BY 1, project_id, provider, model, service_name',
                       bucket_expr, usage_columns, rollup.extra_columns);
        IF timescale THEN
            EXECUTE format('CREATE MATERIALIZED VIEW %I WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS %s WITH NO DATA',
                           rollup.view_name, body);
            PERFORM add_continuous_aggregate_policy(rollup.view_name::regclass,
                start_offset => rollup.start_offset, end_offset => rollup.end_offset,
                schedule_interval => rollup.schedule);
        ELSE
            EXECUTE format('CREATE VIEW %I AS %s', rollup.view_name, body);
        END IF;
    END LOOP;

    bucket_expr := CASE WHEN timescale THEN 'time_bucket(INTERVAL ''1 hour'', ts)'
        ELSE 'date_bin(INTERVAL ''1 hour'', ts, TIMESTAMPTZ ''2000-01-03 00:00:00+00'')' END;
    body := format($body$SELECT %s AS bucket, project_id, provider, model, service_name, error_message,
                  count(*) AS error_count, min(ts) AS first_seen, max(ts) AS last_seen
           FROM llm_traces WHERE status_code = 'error'
           GROUP BY 1, project_id, provider, model, service_name, error_message$body$, bucket_expr);
    IF timescale THEN
        EXECUTE format('CREATE MATERIALIZED VIEW llm_error_summary WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS %s WITH NO DATA', body);
        PERFORM add_continuous_aggregate_policy('llm_error_summary',
            start_offset => INTERVAL '1 day', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '15 minutes');
    ELSE
        EXECUTE format('CREATE VIEW llm_error_summary AS %s', body);
    END IF;
END
$$;
