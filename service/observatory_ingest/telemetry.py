"""Every Prometheus series the service exports, declared in one place.

Names follow observatory_<component>_<what>_{total,seconds}; the vocabulary mirrors the
OpenTelemetry Collector's (accepted / refused / rejected items, queue size / capacity).
"""

from __future__ import annotations

import platform

from prometheus_client import Counter, Gauge, Histogram

from observatory_ingest import __version__

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# A gauge rather than an Info: Info is not supported in multi-process (--workers) mode.
BUILD_INFO = Gauge(
    "observatory_build_info", "Build information", ["version", "python"], multiprocess_mode="max"
)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)

ITEMS_RECEIVED = Counter(
    "observatory_receiver_received_items_total",
    "Items (spans, data points, log records) in decoded Export requests",
    ["signal", "transport"],
)
ITEMS_ACCEPTED = Counter(
    "observatory_receiver_accepted_items_total",
    "Items committed to the database and acknowledged",
    ["signal", "transport"],
)
ITEMS_REJECTED = Counter(
    "observatory_receiver_rejected_items_total",
    "Items rejected one by one (reported in partial_success); their neighbours were stored",
    ["signal", "transport"],
)
ITEMS_SANITIZED = Counter(
    "observatory_receiver_sanitized_items_total",
    "Items stored with a field fixed up in conversion (see their observatory.sanitized attribute)",
    ["signal", "transport"],
)
ITEMS_REFUSED = Counter(
    "observatory_receiver_refused_items_total",
    "Items of decoded requests refused whole (the client is told to retry, or that the request is "
    "invalid); requests refused before decoding (queue full, database unreachable, shutting down) "
    "count in observatory_receiver_requests_total only",
    ["signal", "transport", "reason"],
)
REQUESTS = Counter(
    "observatory_receiver_requests_total",
    "Export requests by outcome (gRPC status code name)",
    ["signal", "transport", "code"],
)
UNEXPECTED_ERRORS = Counter(
    "observatory_receiver_unexpected_errors_total",
    "Export requests that failed with an error the service does not classify (a bug, logged with "
    "its cause); answered UNAVAILABLE / 503 so that the client retries",
    ["signal", "transport", "error"],
)
EXPORT_DURATION = Histogram(
    "observatory_receiver_export_duration_seconds",
    "Export latency from decoded request to answer, commit included",
    ["signal", "transport"],
    buckets=LATENCY_BUCKETS,
)

# With --workers, gauges add up over the live workers (each has its own queues and pool).
QUEUE_SIZE = Gauge(
    "observatory_queue_size", "Rows waiting in the queue", ["signal"], multiprocess_mode="livesum"
)
QUEUE_CAPACITY = Gauge(
    "observatory_queue_capacity", "Rows the queue can hold", ["signal"], multiprocess_mode="livesum"
)
QUEUE_MEMORY = Gauge(
    "observatory_queue_memory_bytes",
    "Estimated memory of the rows accepted and not yet committed (waiting or being written)",
    ["signal"],
    multiprocess_mode="livesum",
)
QUEUE_MEMORY_CAPACITY = Gauge(
    "observatory_queue_memory_capacity_bytes",
    "Estimated memory of accepted, uncommitted rows beyond which requests are refused",
    ["signal"],
    multiprocess_mode="livesum",
)

BATCHES = Counter("observatory_writer_batches_total", "Transactions committed", ["signal"])
ROWS_WRITTEN = Counter(
    "observatory_writer_rows_total",
    "Rows sent to the database in committed batches (replayed rows included)",
    ["table"],
)
MERGE_FALLBACKS = Counter(
    "observatory_writer_merge_fallbacks_total",
    "Batches that met existing rows (replays) and were written through staging and merge",
    ["signal"],
)
FLUSH_DURATION = Histogram(
    "observatory_writer_flush_duration_seconds",
    "Time per batch transaction: COPY, merge and COMMIT",
    ["signal"],
    buckets=LATENCY_BUCKETS,
)
WRITER_FAILURES = Counter(
    "observatory_writer_unexpected_failures_total",
    "Batches a writer could not write for an unexpected reason (a bug); their requests were told to retry",
    ["signal"],
)
WRITE_RETRIES = Counter(
    "observatory_writer_retries_total", "Batch writes retried after a failure", ["signal", "kind"]
)
DATABASE_ERRORS = Counter(
    "observatory_database_errors_total",
    "Database errors by operation (write, key_lookup, price_reload, readiness_probe) and kind",
    ["operation", "kind"],
)
ROWS_REJECTED_BY_DATABASE = Counter(
    "observatory_writer_rejected_rows_total",
    "Rows the database refused for a data reason, isolated from their batch into ingest_rejects",
    ["signal", "table"],
)
LLM_UNPRICED_CALLS = Counter(
    "observatory_llm_unpriced_calls_total",
    "LLM call spans stored with NULL cost: neither model_pricing nor genai-prices prices their model",
)
PRICE_ROWS_SKIPPED = Counter(
    "observatory_price_rows_skipped_total",
    "model_pricing rows left out of a reload because they cannot be a price (bad tiers or price keys)",
)
WRITERS = Gauge(
    "observatory_writers",
    "Writer tasks (database connections) per signal",
    ["signal"],
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "observatory_db_pool_size", "Open connections in the writers' pool", multiprocess_mode="livesum"
)
POOL_IN_USE = Gauge(
    "observatory_db_pool_in_use", "Pool connections currently checked out", multiprocess_mode="livesum"
)
READY = Gauge(
    "observatory_ready",
    "1 when ready to accept data (migrated, database reachable, receivers listening, running)",
    multiprocess_mode="livemin",
)
