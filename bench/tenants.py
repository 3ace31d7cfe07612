"""`bench e2e --tenants`: one project floods while another sends a modest steady stream.

Starts `observatory-ingest serve --auth required` on a fresh database with two projects. Project
B sends on a fixed schedule (open loop) twice: alone, then while project A floods with many
exporters in a closed loop, each retrying a refused request after the delay the service gave
(as the OpenTelemetry SDKs do). Reported: B's Export latency (p50 / p99) in both phases, B's
refusals (none expected), A's acknowledged rate and A's refusals by status code, and every
acknowledged span of both projects counted in the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families

from bench.e2e import Options, Service, build_payloads, database_dsn
from bench.payloads import Generator
from observatory_ingest.signals import SIGNALS
from observatory_ingest.store.keys import create_key

TRACES = SIGNALS["traces"]
RETRY_DELAY_CAP_S = 5.0  # an SDK waits what it is told, within its own budget


@dataclass
class TenantOptions:
    modest_rate: float = 10.0  # B's requests per second
    modest_batch: int = 64  # spans per B request
    seconds: float = 15.0  # per phase
    flood_exporters: int = 24


@dataclass
class Sent:
    latencies: list[float] = field(default_factory=list)  # of acknowledged requests
    refused: dict[str, int] = field(default_factory=dict)  # by status code
    acknowledged_spans: int = 0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def count(self, code: grpc.StatusCode) -> None:
        self.refused[code.name] = self.refused.get(code.name, 0) + 1


class KeyedExporter:
    """One exporter of one project: its own connection, its key on every call."""

    def __init__(self, port: int, key: str) -> None:
        self.channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}",
            options=[
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.use_local_subchannel_pool", 1),
            ],
        )
        self.call = self.channel.unary_unary(
            TRACES.grpc_method, request_serializer=None, response_deserializer=None
        )
        self.metadata = (("authorization", f"Bearer {key}"),)

    async def send(self, payload: bytes) -> tuple[grpc.StatusCode, float | None]:
        """The status code, and the retry delay the service gave with a refusal."""
        try:
            await self.call(payload, timeout=30, metadata=self.metadata)
        except grpc.aio.AioRpcError as error:
            return error.code(), retry_delay(error)
        return grpc.StatusCode.OK, None


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.ToNanoseconds() / 1e9)
    return None


class DistinctPayloads:
    """Endless trace requests, each with trace ids of its own (so nothing is a replay), made from
    a few generated ones by rewriting their trace ids in place: generating each would cost the
    load generator ~50 ms of CPU per 512 spans, rewriting costs well under one."""

    def __init__(self, batch: int, seed: int, bases: int = 8) -> None:
        self.bases: list[tuple[bytes, list[tuple[int, bytes]]]] = []
        for number in range(bases):
            request = Generator(seed=seed + number).traces(batch)
            payload = request.SerializeToString()
            trace_ids = {
                span.trace_id for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
            }
            offsets = [
                (offset, trace_id) for trace_id in trace_ids for offset in occurrences(payload, trace_id)
            ]
            self.bases.append((payload, offsets))
        self.made = 0

    def __iter__(self) -> DistinctPayloads:
        return self

    def __next__(self) -> bytes:
        payload, offsets = self.bases[self.made % len(self.bases)]
        tag = self.made.to_bytes(8, "big")
        self.made += 1
        rewritten = bytearray(payload)
        replacements: dict[bytes, bytes] = {}
        for offset, trace_id in offsets:
            replacement = replacements.get(trace_id)
            if replacement is None:
                replacement = replacements[trace_id] = hashlib.blake2b(
                    trace_id + tag, digest_size=16
                ).digest()
            rewritten[offset : offset + len(trace_id)] = replacement
        return bytes(rewritten)


def occurrences(payload: bytes, part: bytes) -> list[int]:
    found, start = [], payload.find(part)
    while start != -1:
        found.append(start)
        start = payload.find(part, start + 1)
    return found


def spans_in(payload: bytes) -> int:
    request = TRACES.request_type.FromString(payload)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


async def modest(exporter: KeyedExporter, payloads: list[bytes], per_second: float) -> Sent:
    """B: requests started on a fixed schedule, whatever the latency; a refusal is counted, not retried."""
    sent = Sent()

    async def one(payload: bytes) -> None:
        started = time.perf_counter()
        code, _ = await exporter.send(payload)
        if code == grpc.StatusCode.OK:
            sent.latencies.append(time.perf_counter() - started)
            sent.acknowledged_spans += spans_in(payload)
        else:
            sent.count(code)

    tasks = []
    started = time.perf_counter()
    for index, payload in enumerate(payloads):
        await asyncio.sleep(max(0.0, started + index / per_second - time.perf_counter()))
        tasks.append(asyncio.create_task(one(payload)))
    await asyncio.gather(*tasks)
    return sent


async def flood(exporters: list[KeyedExporter], payloads: Iterator[bytes], until: float) -> Sent:
    """A: every exporter sends its next request once the last is answered, retrying a refused one
    after the delay it was given, until the phase ends."""
    sent = Sent()

    async def exporter_loop(exporter: KeyedExporter) -> None:
        payload = next(payloads)
        while time.monotonic() < until:
            started = time.perf_counter()
            code, delay = await exporter.send(payload)
            if code == grpc.StatusCode.OK:
                sent.latencies.append(time.perf_counter() - started)
                sent.acknowledged_spans += spans_in(payload)
                payload = next(payloads)
                continue
            sent.count(code)
            await asyncio.sleep(min(delay if delay is not None else 1.0, RETRY_DELAY_CAP_S))

    await asyncio.gather(*(exporter_loop(exporter) for exporter in exporters))
    return sent


async def refusal_reasons(metrics_port: int, project: str) -> dict[str, float]:
    """The service's own count of the project's refusals, by reason (rate limit or queue share)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{metrics_port}/metrics") as reply,
    ):
        text = await reply.text()
    reasons: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "observatory_project_refused_requests_total"
                and sample.labels["project"] == project
            ):
                reasons[sample.labels["reason"]] = reasons.get(sample.labels["reason"], 0) + sample.value
    return reasons


async def stored_spans(dsn: str, project_id: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM trace_spans WHERE project_id = $1", project_id)
        )
    finally:
        await connection.close()


async def run(options: Options, tenants: TenantOptions) -> dict[str, Any]:
    admin = await asyncpg.connect(options.server_dsn)
    name = f"oi_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = database_dsn(options.server_dsn, name)
    report: dict[str, Any] = {"options": options, "tenants": tenants}
    try:
        log = Path(tempfile.mkdtemp(prefix="observatory-bench-")) / "serve.log"
        options.extra_args = ["--auth", "required", *options.extra_args]
        service = Service(dsn, options, log)
        exporters: list[KeyedExporter] = []
        try:
            grpc_port, _, metrics_port = await asyncio.to_thread(service.wait_ready, options.workers)
            connection = await asyncpg.connect(dsn)
            try:
                key_a, project_a = await create_key(connection, "flood")
                key_b, project_b = await create_key(connection, "modest")
            finally:
                await connection.close()
            count = max(1, int(tenants.modest_rate * tenants.seconds))
            b = KeyedExporter(grpc_port, key_b)
            flooders = [KeyedExporter(grpc_port, key_a) for _ in range(tenants.flood_exporters)]
            exporters = [b, *flooders]
            for exporter in exporters:  # every connection open (and the key cached) before timing
                await exporter.send(build_payloads("traces", 1, 8, seed=1)[0])
            alone_payloads = build_payloads("traces", count, tenants.modest_batch, seed=20)
            report["alone"] = await modest(b, alone_payloads, tenants.modest_rate)

            flood_payloads = DistinctPayloads(options.batch, seed=30)
            beside_payloads = build_payloads("traces", count, tenants.modest_batch, seed=21)
            until = time.monotonic() + tenants.seconds + 2.0
            flooding = asyncio.create_task(flood(flooders, flood_payloads, until))
            await asyncio.sleep(2.0)  # the flood has reached its share of the queue
            report["beside"] = await modest(b, beside_payloads, tenants.modest_rate)
            report["flood"] = await flooding
            report["flood_seconds"] = tenants.seconds + 2.0
            report["refusal_reasons"] = await refusal_reasons(metrics_port, "flood")
            report["stored_a"] = await stored_spans(dsn, project_a)
            report["stored_b"] = await stored_spans(dsn, project_b)
        finally:
            for exporter in exporters:
                await exporter.channel.close()
            await asyncio.to_thread(service.stop)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return report


def print_report(report: dict[str, Any]) -> None:
    options: Options = report["options"]
    tenants: TenantOptions = report["tenants"]
    alone: Sent = report["alone"]
    beside: Sent = report["beside"]
    flooding: Sent = report["flood"]
    print(
        "observatory-ingest tenants benchmark: traces over gRPC, "
        f"{options.workers} worker(s), --auth required"
    )
    print(
        f"B (modest): {tenants.modest_rate:g} requests/s x {tenants.modest_batch} spans "
        f"for {tenants.seconds:g} s; "
        f"A (flood): {tenants.flood_exporters} exporters x {options.batch} spans, closed loop, "
        "retrying refusals after the delay given"
    )
    print(f"machine: {os.cpu_count()} cores")
    print(f"{'':36}{'B alone':>14}{'B, A flooding':>16}")
    print(
        f"{'B Export p50 / p99 (ms)':36}{alone.percentile(0.5):>7.0f} /{alone.percentile(0.99):>5.0f}"
        f"{beside.percentile(0.5):>9.0f} /{beside.percentile(0.99):>5.0f}"
    )
    print(f"{'B refused':36}{sum(alone.refused.values()):>14}{sum(beside.refused.values()):>16}")
    print(f"{'B p99 with A flooding / alone':36}{beside.percentile(0.99) / alone.percentile(0.99):>30.2f}")
    rate = flooding.acknowledged_spans / report["flood_seconds"]
    print(f"{'A acknowledged spans/s':36}{rate:>30,.0f}")
    refusals = ", ".join(f"{code} {count}" for code, count in sorted(flooding.refused.items())) or "none"
    print(f"{'A refused (then retried)':36}{refusals:>30}")
    reasons = ", ".join(
        f"{reason} {count:,.0f}" for reason, count in sorted(report["refusal_reasons"].items())
    )
    print(f"{'  by reason (service /metrics)':36}{reasons or 'none':>30}")
    # The warm-up request (8 spans) is one and the same for every exporter of a project.
    acknowledged = {
        "A": flooding.acknowledged_spans + 8,
        "B": alone.acknowledged_spans + beside.acknowledged_spans + 8,
    }
    stored = {"A": report["stored_a"], "B": report["stored_b"]}
    print(
        f"{'stored / acknowledged spans':36}"
        + "   ".join(f"{project} {stored[project]:,} / {acknowledged[project]:,}" for project in "AB")
    )
