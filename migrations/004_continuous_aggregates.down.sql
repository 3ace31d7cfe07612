-- Reverses 004: the rollups (continuous aggregates with their policies, or plain views).
DO $$
DECLARE
    rollup text;
BEGIN
    FOREACH rollup IN ARRAY ARRAY['llm_error_summary', 'llm_metrics_1day', 'llm_metrics_1hour', 'llm_metrics_1min']
    LOOP
        IF to_regclass('timescaledb_information.continuous_aggregates') IS NOT NULL AND EXISTS (
            SELECT 1 FROM timescaledb_information.continuous_aggregates
            WHERE view_name = rollup AND view_schema = current_schema()) THEN
            EXECUTE format('DROP MATERIALIZED VIEW %I', rollup);
        ELSE
            EXECUTE format('DROP VIEW %I', rollup);
        END IF;
    END LOOP;
END
$$;
