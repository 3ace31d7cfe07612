"""The command line that starts `observatory-ingest serve` as a subprocess on ephemeral loopback
ports, and the log line that tells which ports it took (the benchmark and the tests share both)."""

from __future__ import annotations

import re
import sys

LISTENING = re.compile(
    r"msg=listening grpc=127\.0\.0\.1:(\d+) http=127\.0\.0\.1:(\d+) metrics=127\.0\.0\.1:(\d+)"
)


def serve_command(*arguments: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "observatory_ingest",
        "serve",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        *arguments,
    ]
