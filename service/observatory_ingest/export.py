"""Transport-agnostic Export: decode, convert, queue, wait for commit, answer, and count it all.

A failed Export becomes its Outcome here, once: counted, logged if unexpected, and handed to the
transport to render (gRPC status or HTTP status with a google.rpc.Status body).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message

from observatory_ingest import telemetry
from observatory_ingest.auth import Authenticator
from observatory_ingest.convert.common import DEFAULT_MAX_ATTRIBUTE_BYTES, MAX_REASONS, Converted
from observatory_ingest.convert.context import ContentPolicy, ConvertContext
from observatory_ingest.errors import InvalidRequest
from observatory_ingest.outcomes import Outcome, outcome_for
from observatory_ingest.pipeline.signal_pipeline import SignalPipeline
from observatory_ingest.pipeline.verdict import ALL_STORED, RowRefusal
from observatory_ingest.signals import Signal
from observatory_ingest.store.prices import PriceCatalog

log = logging.getLogger(__name__)

# Called with --max-attribute-bytes (the trace decoder caps attributes as it reads them).
Decoder = Callable[[int], Any]


def protobuf_decoder(signal: Signal, payload: bytes) -> Decoder:
    def decode(max_attribute_bytes: int) -> Any:
        try:
            return signal.decode(payload, max_attribute_bytes)
        except (DecodeError, ValueError) as error:
            # ValueError: malformed wire bytes, or invalid UTF-8 in a string field.
            raise InvalidRequest(f"cannot decode {signal.request_type.__name__}: {error}") from None

    return decode


class Ingestor:
    def __init__(
        self,
        pipelines: dict[str, SignalPipeline],
        authenticator: Authenticator | None = None,
        prices: PriceCatalog | None = None,
        content: ContentPolicy | None = None,
        max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES,
    ) -> None:
        self.max_attribute_bytes = max_attribute_bytes
        self.pipelines = pipelines
        self.authenticator = authenticator or Authenticator(required=False)
        self.prices = prices or PriceCatalog()
        self.content = content or ContentPolicy()

    async def export(
        self,
        signal: Signal,
        transport: str,
        decode: Decoder,
        wire_bytes: int,
        credentials: str | None = None,
        deadline: float | None = None,
    ) -> Message | Outcome:
        """Store the request's items for the project its credentials name; return the OTLP
        response (partial success if some were rejected), or the Outcome of the failure when
        nothing was stored."""
        started = time.perf_counter()
        labels = (signal.name, transport)
        items = 0
        try:
            # Authenticate before decoding: an unauthenticated request costs no parsing.
            project = await self.authenticator.project_for(credentials)
            project_label = telemetry.PROJECT_LABELS.see(project.id, project.name)
            pipeline = self.pipelines[signal.name]
            pipeline.admit(project.id, wire_bytes)
            context = ConvertContext(project.id, self.prices.book, self.content, self.max_attribute_bytes)
            converted = signal.convert(decode(self.max_attribute_bytes), context)
            items = converted.accepted + converted.rejected
            telemetry.ITEMS_RECEIVED.labels(*labels).inc(items)
            if converted.unpriced:
                telemetry.LLM_UNPRICED_CALLS.inc(converted.unpriced)
            if converted.sanitized:
                telemetry.ITEMS_SANITIZED.labels(*labels).inc(converted.sanitized)
            refused = (
                await pipeline.submit(project.id, converted, wire_bytes, deadline)
                if converted.rows
                else ALL_STORED
            )
        except Exception as error:
            return self.refuse(signal, transport, error, items)
        finally:
            telemetry.EXPORT_DURATION.labels(*labels).observe(time.perf_counter() - started)
        telemetry.REQUESTS.labels(*labels, "OK").inc()
        counts = tally(converted, refused)
        telemetry.ITEMS_ACCEPTED.labels(*labels).inc(counts.accepted)
        telemetry.PROJECT_ITEMS_ACCEPTED.labels(signal.name, project_label).inc(counts.accepted)
        response = signal.response_type()
        if counts.rejected:
            telemetry.ITEMS_REJECTED.labels(*labels).inc(counts.rejected)
            partial = signal.partial_success_type(error_message=counts.error_message)
            setattr(partial, signal.rejected_field, counts.rejected)
            response.partial_success.CopyFrom(partial)
        return response  # type: ignore[no-any-return]

    def refuse(self, signal: Signal, transport: str, error: Exception, items: int = 0) -> Outcome:
        """The outcome of a failed request (also of one a transport refused before export, e.g. an
        unsupported content type): counted, and logged with its cause when unexpected."""
        outcome = outcome_for(error)
        labels = (signal.name, transport)
        code = outcome.grpc_code.name
        telemetry.REQUESTS.labels(*labels, code).inc()
        if items:
            telemetry.ITEMS_REFUSED.labels(*labels, code.lower()).inc(items)
        if outcome.unexpected:
            telemetry.UNEXPECTED_ERRORS.labels(*labels, type(error).__name__).inc()
            log.error(
                "export failed unexpectedly; answered UNAVAILABLE so that the client retries",
                exc_info=error,
                extra={"signal": signal.name, "transport": transport},
            )
        return outcome


@dataclass(frozen=True)
class Tally:
    accepted: int
    rejected: int
    error_message: str


def tally(converted: Converted, refused: tuple[RowRefusal, ...]) -> Tally:
    """The response's counts, from conversion's and the database's verdicts: a row the database
    refused (kept in ingest_rejects) counts its item as rejected."""
    reasons = [*converted.errors, *map(str, refused)][:MAX_REASONS]
    return Tally(
        max(converted.accepted - len(refused), 0), converted.rejected + len(refused), "; ".join(reasons)
    )
