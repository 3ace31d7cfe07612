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
from observatory_ingest.errors import PayloadTooLarge, UnsupportedContentType
from observatory_ingest.export import Ingestor, protobuf_decoder
from observatory_ingest.outcomes import Outcome, outcome_for, rpc_status
from observatory_ingest.receiver.otlp_json import json_decoder, to_json
from observatory_ingest.signals import SIGNALS, Signal
from observatory_ingest.webserver import RunningSite, start_site

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


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
        # aiohttp inflates gzip bodies itself; client_max_size bounds the inflated size too.
        self.app = web.Application(client_max_size=max_message_bytes)
        for signal in SIGNALS.values():
            self.app.router.add_post(f"/v1/{signal.name}", self.handler(signal))
        self.site: RunningSite | None = None

    def handler(self, signal: Signal) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            content_type = request.content_type
            try:
                payload = await self.read_body(request)
                decode = (
                    json_decoder(signal, payload)
                    if content_type == JSON
                    else protobuf_decoder(signal, payload)
                )
                credentials = credentials_from({key.lower(): value for key, value in request.headers.items()})
                response = await self.ingestor.export(signal, "http", decode, len(payload), credentials)
            except Exception as error:
                outcome = outcome_for(error)
                if outcome.http_status == 500:
                    log.exception("export failed", extra={"signal": signal.name})
                return status_response(outcome, content_type)
            return web.Response(body=encode(response, content_type), content_type=content_type)

        return handle

    async def read_body(self, request: web.Request) -> bytes:
        if request.content_type not in (PROTOBUF, JSON):
            raise UnsupportedContentType(
                f"unsupported content type {request.content_type!r}; use {PROTOBUF} or {JSON}"
            )
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLarge(f"request body exceeds {self.max_message_bytes} bytes") from None

    async def start(self) -> None:
        self.site = await start_site(self.app, self.listen, self.ssl_context, self.shutdown_timeout)
        self.listen = self.site.listen
        log.info("otlp/http listening", extra={"address": str(self.listen), "tls": bool(self.ssl_context)})

    async def stop(self) -> None:
        if self.site:
            await self.site.stop()
