-- Reverses 004: the rollups (continuous aggregates with their policies, or plain views).
DO $$
DECLARE
    rollup text;
    timescale boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
    continuous boolean;
BEGIN
    FOREACH rollup IN ARRAY ARRAY['llm_error_summary', 'llm_metrics_1day', 'llm_metrics_1hour', 'llm_metrics_1min']
    LOOP
        continuous := false;
        IF timescale THEN
            -- Dynamic: the catalog view exists only where the extension does.
            EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                     WHERE view_name = $1 AND view_schema = current_schema())'
                INTO continuous USING rollup;
        END IF;
        IF continuous THEN
            EXECUTE format('DROP MATERIALIZED VIEW %I', rollup);
        ELSE
            EXECUTE format('DROP VIEW %I', rollup);
        END IF;
    END LOOP;
END
$$;
