"""python -m bench convert | e2e [options]  (also: observatory-ingest bench ...)"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bench import convert_bench, e2e, tenants


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="observatory-ingest benchmarks")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("convert", help="decode + convert alone, items/s per core and signal", add_help=False)
    e2e_parser = commands.add_parser("e2e", help="a served instance against the binary-COPY ceiling")
    defaults = e2e.Options()
    e2e_parser.add_argument(
        "--server-dsn", default=defaults.server_dsn, help="a database is created and dropped there"
    )
    e2e_parser.add_argument("--signal", choices=["traces", "logs", "metrics"], default=defaults.signal)
    e2e_parser.add_argument("--transport", choices=["grpc", "http"], default=defaults.transport)
    e2e_parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    e2e_parser.add_argument("--batch", type=int, default=defaults.batch, help="items per Export request")
    e2e_parser.add_argument("--requests", type=int, default=defaults.requests)
    e2e_parser.add_argument("--workers", type=int, default=defaults.workers)
    e2e_parser.add_argument("--half-rate-seconds", type=float, default=defaults.half_rate_seconds)
    e2e_parser.add_argument(
        "--rounds", type=int, default=defaults.rounds, help="max-rate and ceiling pairs; the median is shown"
    )
    e2e_parser.add_argument("--no-fill-queues", action="store_true", help="skip the full-queue memory phase")
    e2e_parser.add_argument(
        "--tenants",
        action="store_true",
        help="instead: project A floods while project B sends steadily; B's latency alone and beside A",
    )
    tenant_defaults = tenants.TenantOptions()
    e2e_parser.add_argument(
        "--tenant-seconds", type=float, default=tenant_defaults.seconds, help="--tenants: seconds per phase"
    )
    e2e_parser.add_argument(
        "--modest-rate", type=float, default=tenant_defaults.modest_rate, help="--tenants: B's requests/s"
    )
    e2e_parser.add_argument(
        "--modest-batch",
        type=int,
        default=tenant_defaults.modest_batch,
        help="--tenants: spans per B request",
    )
    e2e_parser.add_argument(
        "--flood-exporters",
        type=int,
        default=tenant_defaults.flood_exporters,
        help="--tenants: A's exporters (--batch spans per request)",
    )
    arguments, rest = parser.parse_known_args(argv)
    if arguments.command == "convert":
        return convert_bench.main(rest)
    options = e2e.Options(
        server_dsn=arguments.server_dsn,
        signal=arguments.signal,
        transport=arguments.transport,
        concurrency=arguments.concurrency,
        batch=arguments.batch,
        requests=arguments.requests,
        workers=arguments.workers,
        half_rate_seconds=arguments.half_rate_seconds,
        rounds=arguments.rounds,
        fill_queues=not arguments.no_fill_queues,
        extra_args=rest,
    )
    if arguments.tenants:
        variant = tenants.TenantOptions(
            arguments.modest_rate, arguments.modest_batch, arguments.tenant_seconds, arguments.flood_exporters
        )
        tenants.print_report(asyncio.run(tenants.run(options, variant)))
        return 0
    e2e.print_report(asyncio.run(e2e.run(options)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
