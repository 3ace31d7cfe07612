-- The seed's essential indexes, plus what project filters and the LLM tables need.
-- Time-ordered indexes are DESC because dashboards read the newest data first.

-- Traces
CREATE INDEX idx_traces_trace_id ON traces (trace_id);
CREATE INDEX idx_traces_service_name ON traces (service_name);
CREATE INDEX idx_traces_start_time ON traces (start_time DESC);
CREATE INDEX idx_traces_status ON traces (status);
CREATE INDEX idx_traces_duration ON traces (duration_us);
CREATE INDEX idx_traces_project_start_time ON traces (project_id, start_time DESC);

-- Spans
CREATE INDEX idx_spans_trace_id ON trace_spans (trace_id);
CREATE INDEX idx_spans_span_id ON trace_spans (span_id);
CREATE INDEX idx_spans_parent_span_id ON trace_spans (parent_span_id);
CREATE INDEX idx_spans_start_time ON trace_spans (start_time DESC);
CREATE INDEX idx_spans_project_start_time ON trace_spans (project_id, start_time DESC);

-- Events
CREATE INDEX idx_events_span_id ON trace_events (span_id);
CREATE INDEX idx_events_timestamp ON trace_events (timestamp DESC);

-- Metrics
CREATE INDEX idx_metrics_name ON metrics (name);
CREATE INDEX idx_metrics_service_name ON metrics (service_name);
CREATE INDEX idx_metric_points_metric_id ON metric_data_points (metric_id, timestamp DESC);
CREATE INDEX idx_metric_points_timestamp ON metric_data_points (timestamp DESC);
CREATE INDEX idx_metric_points_project_timestamp ON metric_data_points (project_id, timestamp DESC);

-- Logs
CREATE INDEX idx_logs_timestamp ON logs (timestamp DESC);
CREATE INDEX idx_logs_service_name ON logs (service_name);
CREATE INDEX idx_logs_severity ON logs (severity_number);
CREATE INDEX idx_logs_trace_id ON logs (trace_id);
CREATE INDEX idx_logs_span_id ON logs (span_id);
CREATE INDEX idx_logs_project_timestamp ON logs (project_id, timestamp DESC);
CREATE INDEX idx_logs_body_fts ON logs USING gin (to_tsvector('english', body));

-- LLM calls
CREATE INDEX idx_llm_traces_ts ON llm_traces (ts DESC);
CREATE INDEX idx_llm_traces_project_ts ON llm_traces (project_id, ts DESC);
CREATE INDEX idx_llm_traces_trace_id ON llm_traces (trace_id);
CREATE INDEX idx_llm_traces_provider_model ON llm_traces (provider, model, ts DESC);
CREATE INDEX idx_llm_traces_user_id ON llm_traces (user_id, ts DESC) WHERE user_id IS NOT NULL;
CREATE INDEX idx_llm_traces_session_id ON llm_traces (session_id, ts DESC) WHERE session_id IS NOT NULL;
CREATE INDEX idx_llm_traces_errors ON llm_traces (ts DESC) WHERE status_code = 'error';

CREATE INDEX idx_llm_metrics_ts ON llm_metrics (ts DESC);
CREATE INDEX idx_llm_metrics_project_name_ts ON llm_metrics (project_id, name, ts DESC);
CREATE INDEX idx_llm_metrics_provider_model ON llm_metrics (provider, model, ts DESC);

CREATE INDEX idx_llm_logs_ts ON llm_logs (ts DESC);
CREATE INDEX idx_llm_logs_project_ts ON llm_logs (project_id, ts DESC);
CREATE INDEX idx_llm_logs_trace_id ON llm_logs (trace_id);
