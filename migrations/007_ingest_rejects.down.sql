-- Reverses 007.
DROP TABLE ingest_rejects;
