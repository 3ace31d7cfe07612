"""The running service: wiring, the --workers supervisor, health, the ops server, process settings."""
