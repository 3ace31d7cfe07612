"""observatory-ingest: OTLP ingestion into PostgreSQL/TimescaleDB for LLM observability."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("observatory-ingest")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
