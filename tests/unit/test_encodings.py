"""Content-Encoding of OTLP/HTTP bodies: every coding inflates to the same bytes, no coding gets
past the size limit, and what cannot be decoded gets its documented error."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest
from backports import zstd

from observatory_ingest.errors import InvalidRequest, PayloadTooLarge, UnsupportedContentEncoding
from observatory_ingest.receiver.encodings import inflater_for

CONTENT = os.urandom(3000) + b"span " * 20_000 + bytes(range(256)) * 40


def inflate(body: bytes, encoding: str | None, limit: int = 1 << 20, chunk: int = 1000) -> bytes:
    inflater = inflater_for(encoding, limit)
    for start in range(0, len(body), chunk):
        inflater.feed(body[start : start + chunk])
    return inflater.finish()


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zstd_streamed(data: bytes, pieces: int = 7) -> bytes:
    """As a streaming encoder writes it (the Collector's, for one): no content size in the frame
    header, blocks flushed as the data comes."""
    compressor = zstd.ZstdCompressor()
    step = len(data) // pieces + 1
    out = b"".join(
        compressor.compress(data[i : i + step], zstd.ZstdCompressor.FLUSH_BLOCK)
        for i in range(0, len(data), step)
    )
    return out + compressor.flush(zstd.ZstdCompressor.FLUSH_FRAME)


ENCODED = {
    "identity": lambda data: data,
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,  # zlib format, as RFC 9110 defines deflate
    "deflate (raw)": raw_deflate,  # what some clients send instead
    "zstd": zstd.compress,
    "zstd (streamed)": zstd_streamed,
    "zstd (checksummed)": lambda data: zstd.compress(
        data, options={zstd.CompressionParameter.checksum_flag: 1}
    ),
}


@pytest.mark.parametrize("name", ENCODED)
@pytest.mark.parametrize("chunk", [1, 777, 1 << 20])
def test_every_coding_inflates_to_the_content(name: str, chunk: int) -> None:
    content = CONTENT if chunk > 1 else CONTENT[:20_000]  # a byte at a time: a shorter content
    assert inflate(ENCODED[name](content), name.split(" ")[0], chunk=chunk) == content


def test_no_header_and_identity_pass_the_body_through() -> None:
    assert inflate(b"abc", None) == b"abc"
    assert inflate(b"abc", "") == b"abc"
    assert inflate(b"abc", "Identity") == b"abc"


def test_several_gzip_members_and_several_zstd_frames_make_one_body() -> None:
    assert inflate(gzip.compress(b"one ") + gzip.compress(b"two"), "gzip") == b"one two"
    assert inflate(zstd.compress(b"one ") + zstd_streamed(b"two", 2), "zstd") == b"one two"


def test_an_empty_body_is_empty_whatever_its_coding() -> None:
    for encoding in ("gzip", "deflate", "zstd"):
        assert inflate(b"", encoding) == b""


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate), ("zstd", zstd.compress)],
)
def test_a_bomb_stops_at_the_limit_with_413(encoding: str, compress: object) -> None:
    assert callable(compress)
    bomb = compress(b"\0" * (50 << 20))  # 50 MiB of zeros: kilobytes compressed
    assert len(bomb) < 200_000
    inflater = inflater_for(encoding, 1 << 20)
    with pytest.raises(PayloadTooLarge, match="exceeds 1048576 bytes once inflated"):
        inflater.feed(bomb)  # one chunk: the whole bomb at once still stops at the limit
    assert inflater.size <= (1 << 20) + 1


def test_the_limit_holds_exactly() -> None:
    assert len(inflate(gzip.compress(b"x" * 1000), "gzip", limit=1000)) == 1000
    with pytest.raises(PayloadTooLarge):
        inflate(gzip.compress(b"x" * 1001), "gzip", limit=1000)
    with pytest.raises(PayloadTooLarge, match="exceeds 1000 bytes"):
        inflate(b"x" * 1001, None, limit=1000)
    with pytest.raises(PayloadTooLarge, match=r"exceeds 1000 bytes$"):  # so is the compressed body
        inflate(gzip.compress(os.urandom(2000)), "gzip", limit=1000, chunk=1500)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_corrupt_and_cut_bodies_are_invalid_requests(encoding: str) -> None:
    compress = {"gzip": gzip.compress, "deflate": zlib.compress, "zstd": ENCODED["zstd (checksummed)"]}[
        encoding
    ]
    body = compress(CONTENT)
    with pytest.raises(InvalidRequest, match=f"cannot inflate the {encoding} body"):
        inflate(b"this is not compressed at all" * 10, encoding)
    with pytest.raises(InvalidRequest, match="cut short"):
        inflate(body[: len(body) // 2], encoding)
    corrupt = bytearray(body)  # caught by the CRC-32, Adler-32 or XXH64 checksum at the end
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises(InvalidRequest):
        inflate(bytes(corrupt), encoding)


def test_data_after_a_deflate_stream_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="data after the end"):
        inflate(zlib.compress(b"a") + zlib.compress(b"b"), "deflate")


@pytest.mark.parametrize("header", ["br", "compress", "gzip, zstd", "zstd;q=1", "snappy"])
def test_codings_the_service_cannot_decode_are_unsupported(header: str) -> None:
    with pytest.raises(UnsupportedContentEncoding, match="use one of gzip, deflate, zstd, or none"):
        inflater_for(header, 1000)
