"""Transport-agnostic Export: decode, convert, queue, wait for commit, answer."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError

from observatory_ingest.errors import InvalidRequest
from observatory_ingest.pipeline.batcher import SignalPipeline
from observatory_ingest.signals import Signal


class Ingestor:
    def __init__(self, pipelines: dict[str, SignalPipeline]) -> None:
        self.pipelines = pipelines

    def decode(self, signal: Signal, payload: bytes) -> Any:
        try:
            return signal.request_type.FromString(payload)
        except (DecodeError, ValueError) as error:
            raise InvalidRequest(f"cannot decode {signal.request_type.__name__}: {error}") from None

    async def export(
        self, signal: Signal, request: Any, project_id: str, deadline: float | None = None
    ) -> Any:
        """Store the request's items; return the OTLP response (partial success if some were
        rejected). Raises IngestError or QueueFull when nothing was stored."""
        converted = signal.convert(request, project_id)
        if converted.rows:
            await self.pipelines[signal.name].submit(converted, deadline)
        response = signal.response_type()
        if converted.rejected:
            partial = signal.partial_success_type(error_message=converted.error_message)
            setattr(partial, signal.rejected_field, converted.rejected)
            response.partial_success.CopyFrom(partial)
        return response
