"""observatory-ingest: OTLP ingestion into PostgreSQL/TimescaleDB for LLM observability."""

# The one place the version is written (pyproject.toml reads it from here): importlib.metadata
# would cost every process, the --workers supervisor included, about 6 MiB.
__version__ = "0.1.0"
