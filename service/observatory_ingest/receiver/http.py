"""OTLP/HTTP receiver: POST /v1/traces, /v1/metrics, /v1/logs in protobuf or JSON."""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from observatory_ingest.auth import credentials_from
from observatory_ingest.config import ListenAddress
from observatory_ingest.errors import InvalidRequest, PayloadTooLarge, UnsupportedContentType
from observatory_ingest.export import Ingestor, protobuf_decoder
from observatory_ingest.outcomes import Outcome, rpc_status
from observatory_ingest.receiver.encodings import inflater_for
from observatory_ingest.receiver.otlp_json import json_decoder, to_json
from observatory_ingest.signals import SIGNALS, Signal
from observatory_ingest.webserver import RunningSite, start_site

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
READ_CHUNK_BYTES = 256 * 1024


def encode(message: Message, content_type: str) -> bytes:
    return to_json(message) if content_type == JSON else bytes(message.SerializeToString())


def status_response(outcome: Outcome, content_type: str) -> web.Response:
    """Errors carry a google.rpc.Status body in the request's content type."""
    headers = {}
    if outcome.retry_after_s is not None:
        headers["Retry-After"] = str(math.ceil(outcome.retry_after_s))
    reply_type = content_type if content_type in (PROTOBUF, JSON) else JSON
    return web.Response(
        status=outcome.http_status,
        body=encode(rpc_status(outcome), reply_type),
        content_type=reply_type,
        headers=headers,
    )


class HttpReceiver:
    def __init__(
        self,
        listen: ListenAddress,
        ingestor: Ingestor,
        max_message_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.listen = listen
        self.ingestor = ingestor
        self.max_message_bytes = max_message_bytes
        self.ssl_context = ssl_context
        self.shutdown_timeout = shutdown_timeout
        # Bodies are inflated here, not by aiohttp: every encoding gets the same bound on the inflated
        # size, and every failure its documented status.
        self.app = web.Application(client_max_size=max_message_bytes, handler_args={"auto_decompress": False})
        for signal in SIGNALS.values():
            self.app.router.add_post(f"/v1/{signal.name}", self.handler(signal))
        self.site: RunningSite | None = None

    def handler(self, signal: Signal) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            content_type = request.content_type
            try:
                payload = await self.read_body(request)
            except Exception as error:
                return status_response(self.ingestor.refuse(signal, "http", error), content_type)
            decode = (
                json_decoder(signal, payload) if content_type == JSON else protobuf_decoder(signal, payload)
            )
            credentials = credentials_from({key.lower(): value for key, value in request.headers.items()})
            result = await self.ingestor.export(signal, "http", decode, len(payload), credentials)
            if isinstance(result, Outcome):
                return status_response(result, content_type)
            return web.Response(body=encode(result, content_type), content_type=content_type)

        return handle

    async def read_body(self, request: web.Request) -> bytes:
        """The body, inflated as it arrives: at most --max-recv-msg-size bytes before and after."""
        if request.content_type not in (PROTOBUF, JSON):
            raise UnsupportedContentType(
                f"unsupported content type {request.content_type!r}; use {PROTOBUF} or {JSON}"
            )
        inflater = inflater_for(request.headers.get("Content-Encoding"), self.max_message_bytes)
        if (request.content_length or 0) > self.max_message_bytes:
            raise PayloadTooLarge(f"request body exceeds {self.max_message_bytes} bytes")
        try:
            async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
                inflater.feed(chunk)
        except (ConnectionError, web.RequestPayloadError) as error:  # cut short by the client
            raise InvalidRequest(f"the request body could not be read: {error}") from None
        return inflater.finish()

    async def start(self) -> None:
        self.site = await start_site(self.app, self.listen, self.ssl_context, self.shutdown_timeout)
        self.listen = self.site.listen
        log.info("otlp/http listening", extra={"address": str(self.listen), "tls": bool(self.ssl_context)})

    async def stop(self) -> None:
        if self.site:
            await self.site.stop()
