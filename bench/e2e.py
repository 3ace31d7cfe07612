"""End-to-end benchmark: a served instance against its ceiling, binary COPY of the same rows.

Starts `observatory-ingest serve` on a fresh database, sends pre-built requests over gRPC or HTTP
at a fixed concurrency, and reports acknowledged and landed items/s, Export latency at the
maximum rate and at half of it, and the service's peak RSS and PSS (its processes summed). In the
same run it COPYs the rows the service stored (the same rows, converted by the same code)
straight into the same tables with as many connections, and prints landed / ceiling.

The machine's speed drifts within minutes, so the maximum rate and its ceiling are measured in
rounds, each a served phase next to a ceiling phase on the same rows (in alternating order, both
from empty tables); the report is the round with the median ratio, beside every round's ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import grpc
from prometheus_client.parser import text_string_to_metric_families

from bench.cpu import CpuMeter, CpuUse, descendants, processes, standard_groups
from bench.payloads import Generator
from bench.serve_command import LISTENING, serve_command
from observatory_ingest.convert.common import Converted
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.pipeline.queue import estimated_memory
from observatory_ingest.signals import SIGNALS
from observatory_ingest.store.write_plans import WRITE_PLANS
from observatory_ingest.store.writer import copy, prepare_connection

PRIMARY_TABLE = {"traces": "trace_spans", "logs": "logs", "metrics": "metric_data_points"}
# What a served phase writes besides the COPYed tables, emptied before each one so that every
# round starts alike (the metric catalogue stays: the ceiling's points reference it).
SUMMARY_TABLES = {"traces": ("traces",), "logs": (), "metrics": ()}


@dataclass
class Options:
    server_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    signal: str = "traces"
    transport: str = "grpc"
    concurrency: int = 8
    batch: int = 512
    requests: int = 200
    workers: int = 1
    half_rate_seconds: float = 10.0
    rounds: int = 3
    fill_queues: bool = True
    extra_args: list[str] = field(default_factory=list)


@dataclass
class Phase:
    items: int  # in the phase's requests: spans, log records or data points (rows of PRIMARY_TABLE)
    requests: int
    seconds: float
    latencies: list[float]  # of the acknowledged requests
    refused: int = 0

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def items_per_request(self) -> float:
        return self.items / self.requests

    @property
    def acknowledged_items(self) -> int:
        return round(len(self.latencies) * self.items_per_request)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def database_dsn(server_dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))


def process_tree_memory(root: int, field: str) -> int:
    """A /proc memory figure (kB) of a process and its descendants, summed, in bytes."""
    total = 0
    source = "status" if field == "VmRSS" else "smaps_rollup"
    for pid in descendants(root, processes()):
        try:
            for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def process_tree_rss(root: int) -> int:
    """Resident bytes; pages shared by the workers (interpreter, libraries) count once per process."""
    return process_tree_memory(root, "VmRSS")


def process_tree_pss(root: int) -> int:
    """Proportional set size: each shared page divided among the processes sharing it."""
    return process_tree_memory(root, "Pss")


class Service:
    def __init__(self, dsn: str, options: Options, log: Path) -> None:
        self.log = log
        handle = log.open("w")
        self.process = subprocess.Popen(
            serve_command("--database-url", dsn, "--workers", str(options.workers), *options.extra_args),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        self.peak_rss = 0
        self.peak_pss = 0

    def wait_ready(self, workers: int) -> tuple[int, int, int]:
        """The gRPC, HTTP and metrics ports, once every worker is ready."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text()
            match = LISTENING.search(text)
            if match and text.count("msg=ready") >= workers:
                return int(match[1]), int(match[2]), int(match[3])
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited:\n{text}")
            time.sleep(0.1)
        raise RuntimeError("service did not become ready")

    async def sample_memory(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.peak_rss = max(self.peak_rss, process_tree_rss(self.process.pid))
            self.peak_pss = max(self.peak_pss, process_tree_pss(self.process.pid))
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


HTTP_SESSIONS: list[aiohttp.ClientSession] = []  # closed when the run ends


async def close_http_sessions() -> None:
    while HTTP_SESSIONS:
        await HTTP_SESSIONS.pop().close()


def sender(options: Options, port: int) -> Callable[[bytes], Any]:
    """One exporter's send function. Over gRPC each has its own connection: with --workers N,
    SO_REUSEPORT spreads connections over the workers, not requests."""
    kind = SIGNALS[options.signal]
    if options.transport == "grpc":
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}",
            options=[
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.use_local_subchannel_pool", 1),  # no connection shared with other channels
            ],
        )
        call = channel.unary_unary(kind.grpc_method, request_serializer=None, response_deserializer=None)

        async def send_grpc(payload: bytes) -> bool:
            try:
                await call(payload, timeout=30)
            except grpc.aio.AioRpcError:
                return False
            return True

        return send_grpc
    session = aiohttp.ClientSession()
    HTTP_SESSIONS.append(session)
    url = f"http://127.0.0.1:{port}/v1/{options.signal}"

    async def send_http(payload: bytes) -> bool:
        async with session.post(
            url, data=payload, headers={"Content-Type": "application/x-protobuf"}
        ) as reply:
            await reply.read()
            return reply.status == 200

    return send_http


async def max_rate(senders: list[Callable[[bytes], Any]], payloads: list[bytes], items: int) -> Phase:
    """Every exporter sends its next request as soon as the last one is answered (closed loop).
    items: in all the payloads together."""
    queue = list(reversed(payloads))
    latencies: list[float] = []
    refused = 0

    async def worker(send: Callable[[bytes], Any]) -> None:
        nonlocal refused
        while queue:
            payload = queue.pop()
            started = time.perf_counter()
            if await send(payload):
                latencies.append(time.perf_counter() - started)
            else:
                refused += 1
                queue.insert(0, payload)  # retried later, as an SDK would
                await asyncio.sleep(0.05)

    started = time.perf_counter()
    await asyncio.gather(*(worker(send) for send in senders))
    return Phase(items, len(payloads), time.perf_counter() - started, latencies, refused)


async def fixed_rate(
    senders: list[Callable[[bytes], Any]], payloads: list[bytes], per_second: float, items: int
) -> Phase:
    """Requests started on a fixed schedule (open loop), whatever the latency, the exporters in turn.
    items: in all the payloads together."""
    latencies: list[float] = []

    async def one(send: Callable[[bytes], Any], payload: bytes) -> None:
        started = time.perf_counter()
        if await send(payload):
            latencies.append(time.perf_counter() - started)

    tasks = []
    started = time.perf_counter()
    for index, payload in enumerate(payloads):
        await asyncio.sleep(max(0.0, started + index / per_second - time.perf_counter()))
        tasks.append(asyncio.create_task(one(senders[index % len(senders)], payload)))
    await asyncio.gather(*tasks)
    return Phase(items, len(payloads), time.perf_counter() - started, latencies)


async def checkpoint(dsn: str) -> None:
    """Start a timed phase from a fresh checkpoint, so neither phase pays for the other's dirty
    pages or for a checkpoint's full-page writes by chance (needs superuser or pg_checkpoint)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        pass
    finally:
        await connection.close()


async def count_rows(dsn: str, table: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await connection.close()


@dataclass
class QueueFill:
    """Every signal's queue memory against its capacity (all workers summed), read from /metrics
    at the end of the full-queue phase, and the requests refused meanwhile."""

    memory: dict[str, float]
    capacity: dict[str, float]
    one_request: dict[str, int]  # estimated memory of one of the phase's requests
    workers: int
    refused: int

    def full(self, signal_name: str) -> bool:
        """No worker's queue could take another request of the phase."""
        room = self.capacity[signal_name] - self.memory[signal_name]
        return room < self.workers * self.one_request[signal_name]


async def queue_gauges(metrics_port: int) -> tuple[dict[str, float], dict[str, float]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{metrics_port}/metrics") as reply,
    ):
        text = await reply.text()
    memory, capacity = {}, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "observatory_queue_memory_bytes":
                memory[sample.labels["signal"]] = sample.value
            elif sample.name == "observatory_queue_memory_capacity_bytes":
                capacity[sample.labels["signal"]] = sample.value
    return memory, capacity


async def fill_queues(dsn: str, options: Options, port: int, metrics_port: int) -> QueueFill:
    """Hold every signal's table so writers block, and send all three signals as exporters do
    until every queue refuses: memory with every queue full. Each exporter has one request in
    flight, and an accepted one waits for its commit, so each signal gets more exporters than
    its queues hold requests. Each worker has its own queues and a connection reaches one worker,
    so every signal goes over several connections, each sending until its worker refuses."""
    _, capacity = await queue_gauges(metrics_port)
    blocker = await asyncpg.connect(dsn)
    transaction = blocker.transaction()
    await transaction.start()
    # EXCLUSIVE blocks writes but not reads: a pool connection's set-up (CREATE TEMPORARY TABLE
    # ... LIKE) and the readiness probe go on, so refusals are "queue full", not "unavailable".
    await blocker.execute(f"LOCK TABLE {', '.join(PRIMARY_TABLE.values())} IN EXCLUSIVE MODE")
    refused = 0

    async def exporter(send: Callable[[bytes], Any], payloads: Iterator[bytes]) -> None:
        nonlocal refused
        misses = 0
        while misses < 3:
            if not await send(next(payloads)):
                misses += 1
                refused += 1

    connections = 4 * options.workers
    senders = []
    one_request = {}
    for seed, signal_name in enumerate(PRIMARY_TABLE, start=10):
        distinct = build_payloads(signal_name, 32, options.batch, seed=seed)
        one_request[signal_name] = request_memory(signal_name, distinct[0])
        # The queues' requests, a quarter more, and at least one exporter per connection.
        exporters = max(connections, int(1.25 * capacity[signal_name] / one_request[signal_name]))
        payloads = itertools.cycle(distinct)  # replays are fine: the queue does not look
        signal_senders = [
            sender(Options(signal=signal_name, transport=options.transport), port) for _ in range(connections)
        ]
        senders += [exporter(signal_senders[index % connections], payloads) for index in range(exporters)]
    with contextlib.suppress(TimeoutError):  # exporters that never got 3 refusals: full anyway
        await asyncio.wait_for(asyncio.gather(*senders), 120)
    try:
        memory, _ = await queue_gauges(metrics_port)
    finally:
        await transaction.rollback()
        await blocker.close()
    return QueueFill(memory, capacity, one_request, options.workers, refused)


def converted(signal_name: str, payload: bytes) -> Converted:
    """The rows the service makes of this request (the same code)."""
    kind, context = SIGNALS[signal_name], ConvertContext()
    return kind.convert(kind.decode(payload, context.max_attribute_bytes), context)


def request_memory(signal_name: str, payload: bytes) -> int:
    """What the service's queue counts for this request (the same estimate)."""
    return estimated_memory(len(payload), converted(signal_name, payload).rows)


def items_in(signal_name: str, batches: list[dict[str, list[Any]]]) -> int:
    """Items as landed counts them: rows of the signal's primary table."""
    return sum(len(tables[PRIMARY_TABLE[signal_name]]) for tables in batches)


def batches_of(signal_name: str, payloads: list[bytes]) -> list[dict[str, list[Any]]]:
    """Each request's rows per table, converted by the service's own code."""
    return [converted(signal_name, payload).tables for payload in payloads]


async def ceiling(
    dsn: str, signal_name: str, batches: list[dict[str, list[Any]]], concurrency: int
) -> tuple[float, CpuUse]:
    """Binary COPY of the requests' rows, straight into their tables; items/s and the CPU it took."""
    schema = WRITE_PLANS[signal_name]
    items = items_in(signal_name, batches)
    direct_tables = [staged.table for staged in schema.direct]
    await truncate(dsn, direct_tables)
    connections = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    for c in connections:
        await prepare_connection(c)
    await checkpoint(dsn)

    async def copy_share(connection: asyncpg.Connection, share: list[dict[str, list[Any]]]) -> None:
        for tables_of_request in share:
            async with connection.transaction():
                for staged in schema.direct:  # the service's own COPY function
                    await copy(
                        connection, staged, tables_of_request.get(staged.table, []), into_staging=False
                    )

    meter = CpuMeter(standard_groups(service_pid=None))
    meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(copy_share(c, batches[i::concurrency]) for i, c in enumerate(connections)))
    elapsed = time.perf_counter() - started
    cpu = meter.stop()
    for c in connections:
        await c.close()
    await truncate(dsn, direct_tables)  # the served phase that may follow sends these same rows
    return items / elapsed, cpu


async def truncate(dsn: str, tables: Iterable[str]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"TRUNCATE {', '.join(tables)}")
    finally:
        await connection.close()


def build_payloads(signal_name: str, count: int, batch: int, seed: int) -> list[bytes]:
    generator = Generator(seed=seed)
    make = {"traces": generator.traces, "logs": generator.logs, "metrics": generator.metrics}[signal_name]
    return [make(batch).SerializeToString() for _ in range(count)]


@dataclass
class Round:
    served: Phase  # the maximum rate, acknowledged
    landed: int
    served_cpu: CpuUse
    ceiling: float  # items/s
    ceiling_cpu: CpuUse

    @property
    def landed_rate(self) -> float:
        return self.landed / self.served.seconds

    @property
    def ratio(self) -> float:
        return self.landed_rate / self.ceiling


async def served_phase(
    dsn: str,
    service: Service,
    senders: list[Callable[[bytes], Any]],
    payloads: list[bytes],
    items: int,
    options: Options,
) -> tuple[Phase, int, CpuUse]:
    if SUMMARY_TABLES[options.signal]:
        await truncate(dsn, SUMMARY_TABLES[options.signal])
    before = await count_rows(dsn, PRIMARY_TABLE[options.signal])
    await checkpoint(dsn)
    meter = CpuMeter(standard_groups(service.process.pid))
    meter.start()
    top = await max_rate(senders, payloads, items)
    cpu = meter.stop()
    landed = await count_rows(dsn, PRIMARY_TABLE[options.signal]) - before
    return top, landed, cpu


async def measure_round(
    number: int, dsn: str, service: Service, senders: list[Callable[[bytes], Any]], options: Options
) -> Round:
    """One served phase and one ceiling phase of the same rows; every other round the ceiling
    goes first, so a drift of the machine's speed favours neither."""
    payloads = build_payloads(options.signal, options.requests, options.batch, seed=100 + number)
    # Converted once, before any CPU is metered: the ceiling COPYs these rows, the items count them.
    batches = batches_of(options.signal, payloads)
    items = items_in(options.signal, batches)
    if number % 2:
        ceiling_rate, ceiling_cpu = await ceiling(dsn, options.signal, batches, options.concurrency)
        top, landed, cpu = await served_phase(dsn, service, senders, payloads, items, options)
    else:
        top, landed, cpu = await served_phase(dsn, service, senders, payloads, items, options)
        ceiling_rate, ceiling_cpu = await ceiling(dsn, options.signal, batches, options.concurrency)
    return Round(top, landed, cpu, ceiling_rate, ceiling_cpu)


def median_round(rounds: list[Round]) -> Round:
    return sorted(rounds, key=lambda measured: measured.ratio)[(len(rounds) - 1) // 2]


async def run(options: Options) -> dict[str, Any]:
    admin = await asyncpg.connect(options.server_dsn)
    name = f"oi_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = database_dsn(options.server_dsn, name)
    backend = "PostgreSQL " + str(await admin.fetchval("SHOW server_version")).split()[0]
    timescale = await admin.fetchval(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    report: dict[str, Any] = {
        "options": options,
        "backend": backend + (f" + TimescaleDB {timescale}" if timescale else ""),
    }
    try:
        warmup = build_payloads(options.signal, options.concurrency, options.batch, seed=2)
        log = Path(tempfile.mkdtemp(prefix="observatory-bench-")) / "serve.log"
        service = Service(dsn, options, log)
        stop_sampling = asyncio.Event()
        try:
            grpc_port, http_port, metrics_port = await asyncio.to_thread(service.wait_ready, options.workers)
            sampling = asyncio.create_task(service.sample_memory(stop_sampling))
            port = grpc_port if options.transport == "grpc" else http_port
            senders = [sender(options, port) for _ in range(options.concurrency)]
            for send, payload in zip(senders, warmup, strict=True):  # every connection open before timing
                await send(payload)
            rounds = [
                await measure_round(number, dsn, service, senders, options)
                for number in range(max(1, options.rounds))
            ]
            report["rounds"] = rounds
            top = median_round(rounds).served
            per_second = top.rate * 0.5 / top.items_per_request  # requests
            half_payloads = build_payloads(
                options.signal, max(10, int(per_second * options.half_rate_seconds)), options.batch, seed=3
            )
            half_items = items_in(options.signal, batches_of(options.signal, half_payloads))
            report["half"] = await fixed_rate(senders, half_payloads, per_second, half_items)
            report["peak_rss_running"], report["peak_pss_running"] = service.peak_rss, service.peak_pss
            if options.fill_queues:
                report["queue_fill"] = await fill_queues(dsn, options, port, metrics_port)
            report["peak_rss"], report["peak_pss"] = service.peak_rss, service.peak_pss
        finally:
            stop_sampling.set()
            await close_http_sessions()
            await asyncio.to_thread(service.stop)
            await sampling
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return report


def print_report(report: dict[str, Any]) -> None:
    options: Options = report["options"]
    rounds: list[Round] = report["rounds"]
    median = median_round(rounds)
    top = median.served
    half: Phase = report["half"]
    unit = {"traces": "spans", "logs": "records", "metrics": "points"}[options.signal]
    print(
        f"observatory-ingest end-to-end benchmark: {options.signal} over {options.transport}, "
        f"{options.workers} worker(s), concurrency {options.concurrency}, {options.batch} {unit}/request"
    )
    print(f"machine: {os.cpu_count()} cores; database: {report['backend']} on the same machine")
    print(f"{'':34}{'value':>14}{'ceiling':>14}{'ratio':>9}")
    print(f"{'acknowledged ' + unit + '/s':34}{top.rate:>14,.0f}")
    print(
        f"{'landed ' + unit + '/s':34}{median.landed_rate:>14,.0f}{median.ceiling:>14,.0f}"
        f"{median.ratio:>9.2f}"
    )
    print(
        f"{'  every round (landed/ceiling)':34}"
        + "  ".join(f"{r.landed_rate:,.0f}/{r.ceiling:,.0f}={r.ratio:.2f}" for r in rounds)
    )
    print(
        f"{'Export p50 / p99 at max rate (ms)':34}{top.percentile(0.5):>8.0f} /{top.percentile(0.99):>5.0f}"
    )
    print(
        f"{'Export p50 / p99 at half rate (ms)':34}"
        f"{half.percentile(0.5):>8.0f} /{half.percentile(0.99):>5.0f}"
        f"   ({half.rate:,.0f} {unit}/s offered)"
    )
    mib = 2**20
    print(
        f"{'peak RSS / PSS, running (MiB)':34}"
        f"{report['peak_rss_running'] / mib:>8.0f} /{report['peak_pss_running'] / mib:>5.0f}"
    )
    if "queue_fill" in report:
        fill: QueueFill = report["queue_fill"]
        print(
            f"{'peak RSS / PSS, queues full (MiB)':34}"
            f"{report['peak_rss'] / mib:>8.0f} /{report['peak_pss'] / mib:>5.0f}"
            f"   ({fill.refused} requests refused while full)"
        )
        print(
            f"{'  queue memory / capacity (MiB)':34}"
            + "  ".join(
                f"{name} {fill.memory[name] / mib:.1f}/{fill.capacity[name] / mib:.0f}"
                + ("" if fill.full(name) else " NOT FULL")
                for name in PRIMARY_TABLE
            )
        )
    landed = sum(r.landed for r in rounds)
    acknowledged = sum(r.served.acknowledged_items for r in rounds)
    print(f"{'landed / acknowledged':34}{landed:>14,} / {acknowledged:,}")
    refused = sum(r.served.refused for r in rounds)
    if refused:
        print(f"refused and retried during the max-rate phases: {refused}")
    print_cpu(median, unit, top.acknowledged_items)


def print_cpu(measured: Round, unit: str, items: int) -> None:
    """Where the cores went: CPU per item of each part, at the maximum rate and in the ceiling."""
    served, copying = measured.served_cpu, measured.ceiling_cpu

    def figure(use: CpuUse, group: str) -> str:
        return f"{use.micros_per_item(group, items):>8.1f} ({use.cores(group):.2f})"

    print(f"{'CPU us per ' + unit[:-1] + ' (cores busy)':34}{'max rate':>16}{'ceiling':>16}")
    print(f"{'  service':34}{figure(served, 'service'):>16}")
    print(f"{'  PostgreSQL':34}{figure(served, 'postgres'):>16}{figure(copying, 'postgres'):>16}")
    print(
        f"{'  load generator / COPY client':34}{figure(served, 'load generator'):>16}"
        f"{figure(copying, 'load generator'):>16}"
    )
    busy = sum(served.cores(group) for group in served.seconds)
    # Idle, or used by processes outside the three (none of note on the benchmark's machine).
    print(f"{'  cores none of them used':34}{max(0.0, (os.cpu_count() or 1) - busy):>16.2f}")
