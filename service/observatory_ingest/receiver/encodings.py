"""Content-Encoding of OTLP/HTTP bodies (identity, gzip, deflate, zstd), inflated as the body
arrives and never past the size limit: a decompression bomb costs the limit, then answers 413."""

from __future__ import annotations

import sys
import zlib
from typing import Protocol

from observatory_ingest.errors import InvalidRequest, PayloadTooLarge, UnsupportedContentEncoding

if sys.version_info >= (3, 14):
    from compression.zstd import ZstdDecompressor, ZstdError
else:
    from backports.zstd import ZstdDecompressor, ZstdError

SUPPORTED = ("gzip", "deflate", "zstd")
ALIASES = {"x-gzip": "gzip"}  # RFC 9110 8.4.1.3


class Stream(Protocol):
    """One compressed stream (a gzip member, a zstd frame, ...) of a body."""

    def inflate(self, data: bytes, max_length: int) -> tuple[bytes, bytes]:
        """At most max_length bytes of output, and what follows the end of this stream."""

    @property
    def complete(self) -> bool:
        """The stream's end was read."""


class ZlibStream:
    def __init__(self, wbits: int) -> None:
        self.decompressor = zlib.decompressobj(wbits)

    def inflate(self, data: bytes, max_length: int) -> tuple[bytes, bytes]:
        out = self.decompressor.decompress(data, max_length)
        return out, self.decompressor.unused_data if self.decompressor.eof else b""

    @property
    def complete(self) -> bool:
        return self.decompressor.eof


class ZstdFrame:
    def __init__(self) -> None:
        # The window a frame may ask for is bounded by libzstd's default limit (2^27 = 128 MiB).
        self.decompressor = ZstdDecompressor()

    def inflate(self, data: bytes, max_length: int) -> tuple[bytes, bytes]:
        out = self.decompressor.decompress(data, max_length)
        return out, self.decompressor.unused_data if self.decompressor.eof else b""

    @property
    def complete(self) -> bool:
        return self.decompressor.eof


def deflate_stream(first_byte: int) -> Stream:
    # HTTP's "deflate" is the zlib format (RFC 1950), but some clients send raw deflate (RFC 1951):
    # a zlib header says compression method 8 in its low four bits.
    return ZlibStream(zlib.MAX_WBITS if first_byte & 0x0F == 8 else -zlib.MAX_WBITS)


class Inflater:
    """Takes a body chunk by chunk and keeps at most `limit` bytes of its content."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0  # of the content so far
        self.received = 0
        self.stream: Stream | None = None

    def new_stream(self, data: bytes) -> Stream:
        """The stream that starts with data: several gzip members, or several zstd frames, make
        one body (as gzip and zstd read them); a deflate body is one stream."""
        if self.encoding == "gzip":
            return ZlibStream(16 + zlib.MAX_WBITS)
        if self.encoding == "deflate":
            if self.stream is not None:
                raise InvalidRequest("deflate body: data after the end of the compressed stream")
            return deflate_stream(data[0])
        return ZstdFrame()

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.limit:
            raise PayloadTooLarge(f"request body exceeds {self.limit} bytes")
        if self.encoding == "identity":
            self.parts.append(data)
            return
        # The output budget is the limit + 1 bytes: a call that fills it ends the body with 413, so
        # no output is ever left waiting inside a decompressor.
        try:
            while data:
                if self.stream is None or self.stream.complete:
                    self.stream = self.new_stream(data)
                out, data = self.stream.inflate(data, self.limit + 1 - self.size)
                self.parts.append(out)
                self.size += len(out)
                if self.size > self.limit:
                    raise PayloadTooLarge(
                        f"request body exceeds {self.limit} bytes once inflated ({self.encoding})"
                    )
        except (zlib.error, ZstdError, EOFError) as error:
            raise InvalidRequest(f"cannot inflate the {self.encoding} body: {error}") from None

    def finish(self) -> bytes:
        if self.stream is not None and not self.stream.complete:
            raise InvalidRequest(f"cannot inflate the {self.encoding} body: it is cut short")
        return b"".join(self.parts)


def inflater_for(content_encoding: str | None, limit: int) -> Inflater:
    """The Inflater for a Content-Encoding header (one coding; identity may be named or not)."""
    codings = [
        ALIASES.get(name, name)
        for name in (part.strip().lower() for part in (content_encoding or "").split(","))
        if name and name != "identity"
    ]
    if not codings:
        return Inflater("identity", limit)
    if len(codings) == 1 and codings[0] in SUPPORTED:
        return Inflater(codings[0], limit)
    raise UnsupportedContentEncoding(
        f"unsupported Content-Encoding {content_encoding!r}; use one of {', '.join(SUPPORTED)}, or none"
    )
