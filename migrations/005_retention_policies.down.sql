-- Reverses 005: removes the policies and the traces trimming job, decompresses raw chunks and
-- turns the columnstore setting off again.
DO $$
DECLARE
    table_name text;
    view_name text;
    columnstore_api boolean;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        columnstore_api := EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'remove_columnstore_policy');
        PERFORM delete_job(job_id) FROM timescaledb_information.jobs
        WHERE proc_name = 'observatory_trim_traces';
        FOREACH view_name IN ARRAY ARRAY['llm_error_summary', 'llm_metrics_1day', 'llm_metrics_1hour', 'llm_metrics_1min']
        LOOP
            PERFORM remove_retention_policy(view_name::regclass, if_exists => true);
        END LOOP;
        FOREACH table_name IN ARRAY ARRAY['llm_logs', 'llm_metrics', 'llm_traces', 'logs',
                                          'metric_data_points', 'trace_events', 'trace_spans']
        LOOP
            PERFORM remove_retention_policy(table_name::regclass, if_exists => true);
            IF columnstore_api THEN
                EXECUTE format('CALL remove_columnstore_policy(%L, if_exists => true)', table_name);
            ELSE
                PERFORM remove_compression_policy(table_name::regclass, if_exists => true);
            END IF;
            PERFORM decompress_chunk(chunk, if_compressed => true) FROM show_chunks(table_name::regclass) AS chunk;
            EXECUTE format('ALTER TABLE %I SET (timescaledb.compress = false)', table_name);
        END LOOP;
    END IF;
END
$$;

DROP PROCEDURE observatory_trim_traces(integer, jsonb);
