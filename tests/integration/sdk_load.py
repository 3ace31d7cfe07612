"""Bounded SDK load that remembers exactly which spans the service acknowledged."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult


class AckRecordingExporter(OTLPSpanExporter):
    """The official exporter; spans of every batch that got OK are recorded as acknowledged."""

    def __init__(self, endpoint: str, timeout: float) -> None:
        super().__init__(endpoint=endpoint, insecure=True, timeout=timeout)
        self.acknowledged: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        if result == SpanExportResult.SUCCESS:
            with self.lock:
                self.acknowledged.update(
                    (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans if s.context
                )
        return result


class SpanLoad:
    """Spans at a fixed rate from a background thread, for at most `seconds`, then stops by itself."""

    def __init__(
        self, port: int, service: str, rate: int = 2000, seconds: float = 20, exporter_timeout: float = 3
    ):
        self.exporter = AckRecordingExporter(f"127.0.0.1:{port}", exporter_timeout)
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(
            BatchSpanProcessor(
                self.exporter, max_queue_size=100_000, max_export_batch_size=256, schedule_delay_millis=50
            )
        )
        self.rate, self.seconds = rate, seconds
        self.stop_event = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        tracer = self.provider.get_tracer("load")
        started = time.monotonic()
        while not self.stop_event.is_set() and time.monotonic() - started < self.seconds:
            tick = time.monotonic()
            for _ in range(self.rate // 20):
                with tracer.start_as_current_span("load-root"), tracer.start_as_current_span("load-child"):
                    self.sent += 2
            time.sleep(max(0.0, 0.05 - (time.monotonic() - tick)))

    def start(self) -> SpanLoad:
        self.thread.start()
        return self

    def finish(self, service_alive: bool = True) -> set[tuple[str, str]]:
        """Stop generating, flush what the SDK still holds, and return the acknowledged spans.
        With the service gone nothing more can be acknowledged: the exporter is shut down first
        (an export in flight finishes) so the flush does not retry every queued batch."""
        self.stop_event.set()
        self.thread.join()
        if not service_alive:
            self.exporter.shutdown()
        self.provider.shutdown()
        return self.exporter.acknowledged
