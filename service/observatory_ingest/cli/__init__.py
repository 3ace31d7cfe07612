"""The command line: serve, migrate, keys, pricing, bench."""
