"""Writes the checked-in seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): valid
requests of all three signals (the benchmark's LLM application, small and large), values nested
deep (60 levels, and to the 10,000-level limit and past it), and one regression case per
difference the C decoder once had with the protobuf runtime (tests/wire_cases.py).

    python -m tests.fuzz.make_corpus      # after changing the cases; commit the result
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bench.payloads import Generator
from tests.otlp_builders import deep_request
from tests.wire_cases import DEEP, DIFFERENCES, TOO_DEEP_TO_READ

CORPUS = Path(__file__).parent / "corpus"
SIGNALS = ("traces", "metrics", "logs")  # the flatten target's first byte: 0, 1, 2


def seeds() -> dict[str, dict[str, bytes]]:
    generator = Generator(seed=20)
    requests = {
        "traces": {
            "llm app, 8 spans": generator.traces(8).SerializeToString(),
            "llm app, 256 spans": generator.traces(256).SerializeToString(),
        },
        "metrics": {
            "llm app, 8 points": generator.metrics(8).SerializeToString(),
            "llm app, 256 points": generator.metrics(256).SerializeToString(),
        },
        "logs": {
            "llm app, 8 records": generator.logs(8).SerializeToString(),
            "llm app, 256 records": generator.logs(256).SerializeToString(),
        },
    }
    for signal in SIGNALS:
        for levels in (20, 60, 4996, 5000):
            requests[signal][f"nested {levels} levels"] = deep_request(signal, 4, levels, f"seed {signal}")
    traces = {
        **requests["traces"],
        **{f"difference: {name}": payload for name, (payload, _) in DIFFERENCES.items()},
        **{f"deep: {name}": payload for name, payload in {**DEEP, **TOO_DEEP_TO_READ}.items()},
    }
    flatten = {
        f"{signal}: {name}": bytes([number]) + payload
        for number, signal in enumerate(SIGNALS)
        for name, payload in (traces if signal == "traces" else requests[signal]).items()
    }
    return {"decode": traces, "rows": traces, "flatten": flatten}


def file_name(name: str, payload: bytes) -> str:
    """A readable name, and a digest of the bytes so a changed case is a new file."""
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"{readable}-{hashlib.sha256(payload).hexdigest()[:12]}"


def main() -> None:
    for target, cases in seeds().items():
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.iterdir():
            stale.unlink()
        for name, payload in cases.items():
            (directory / file_name(name, payload)).write_bytes(payload)


if __name__ == "__main__":
    main()
