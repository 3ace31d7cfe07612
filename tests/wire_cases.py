"""Trace requests on which the C decoder once decided otherwise than the protobuf runtime, one per
difference (issue 20), and requests at the edges of the depth policy. tests/unit/test_wire_differences.py
holds the decoder to the runtime on each; tests/fuzz/make_corpus.py puts them in the seed corpus."""

from __future__ import annotations

from tests.otlp_builders import length_delimited, request_of_span_bytes, varint

SPAN = b"\x0a\x10" + b"\x01" * 16 + b"\x12\x08" + b"\x02" * 8 + b"\x2a\x01s"  # trace id, span id, name


def with_attribute(key_value: bytes) -> bytes:
    return request_of_span_bytes(SPAN + b"\x4a" + length_delimited(key_value))


def attribute_value(any_value: bytes) -> bytes:
    """A span whose attribute "k" has the given AnyValue wire bytes."""
    return with_attribute(b"\x0a\x01k\x12" + length_delimited(any_value))


def with_entity_ref(entity_ref: bytes) -> bytes:
    """A request whose resource carries one EntityRef of the given wire bytes."""
    return b"\x0a" + length_delimited(b"\x0a" + length_delimited(b"\x1a" + length_delimited(entity_ref)))


def nested_groups(count: int) -> bytes:
    """An unknown field (127) of `count` groups within groups."""
    return b"\xfb\x07" * count + b"\xfc\x07" * count


def nested_arrays(levels: int, innermost: bytes = b"\x0a\x01x") -> bytes:
    """AnyValue wire bytes: an array within an array ... `levels` deep around `innermost`."""
    value, prefixes = innermost, []
    length = len(innermost)
    for _ in range(levels):
        items = b"\x0a" + varint(length)
        prefix = b"\x2a" + varint(len(items) + length) + items
        prefixes.append(prefix)
        length += len(prefix)
    return b"".join(reversed(prefixes)) + value


# name -> (request bytes, what the protobuf runtime does with it: "decoded" or "refused")
DIFFERENCES: dict[str, tuple[bytes, str]] = {
    # Tags and lengths are read from at most 5 bytes (tags up to 2^32 - 1, lengths up to 2^31 - 1).
    "tag of 6 bytes": (request_of_span_bytes(SPAN + b"\xaa\x80\x80\x80\x80\x00\x01x"), "refused"),
    "tag of 5 bytes over 32 bits": (request_of_span_bytes(SPAN + b"\xaa\x80\x80\x80\x10\x01x"), "refused"),
    "tag of 5 bytes": (request_of_span_bytes(SPAN + b"\xaa\x80\x80\x80\x00\x01x"), "decoded"),
    "length of 6 bytes": (request_of_span_bytes(SPAN + b"\x2a\x81\x80\x80\x80\x80\x00x"), "refused"),
    "length of 5 bytes": (request_of_span_bytes(SPAN + b"\x2a\x81\x80\x80\x80\x00x"), "decoded"),
    "length of 10 bytes": (
        request_of_span_bytes(SPAN + b"\x2a" + b"\x81" + b"\x80" * 8 + b"\x00x"),
        "refused",
    ),
    # Field numbers of 2^32 and more are refused, not truncated, in skipped groups and EntityRefs.
    "field number over 32 bits in a group": (
        request_of_span_bytes(SPAN + b"\xfb\x07\x80\x80\x80\x80\x10\x00\xfc\x07"),
        "refused",
    ),
    "field number 0 in a group": (request_of_span_bytes(SPAN + b"\xfb\x07\x00\x00\xfc\x07"), "decoded"),
    "field number over 32 bits in an EntityRef": (with_entity_ref(b"\x80\x80\x80\x80\x10\x00"), "refused"),
    # Unknown fields of an EntityRef are skipped like any other: their bytes are not text.
    "invalid UTF-8 in an unknown EntityRef field": (with_entity_ref(b"\x2a\x01\xff"), "decoded"),
    "invalid UTF-8 in an EntityRef's type": (with_entity_ref(b"\x12\x01\xff"), "refused"),
    # Groups and messages count together (the runtime's 101 levels, where what is kept is read):
    # the span is level 4, so 97 groups within it reach 101.
    "97 groups in a span": (request_of_span_bytes(SPAN + nested_groups(97)), "decoded"),
    "98 groups in a span": (request_of_span_bytes(SPAN + nested_groups(98)), "refused"),
    # A oneof member a later member replaces is parsed all the same, so it must be valid.
    "replaced array with a malformed item": (attribute_value(b"\x2a\x02\x0a\x05" + b"\x0a\x01x"), "refused"),
    "replaced string of invalid UTF-8": (attribute_value(b"\x0a\x01\xff\x18\x01"), "refused"),
    "string of invalid UTF-8 sent again": (attribute_value(b"\x0a\x01\xff\x0a\x01y"), "refused"),
    "replaced array, valid": (attribute_value(b"\x2a\x02\x0a\x00" + b"\x0a\x01x"), "decoded"),
    # Capping measures the value as the runtime encodes it (12 bytes in the tests): a replaced
    # string of 100 bytes and an overlong length pad this one-item array, which stays kept.
    "array padded on the wire": (
        attribute_value(b"\x0a\x64" + b"x" * 100 + b"\x2a\x84\x80\x00\x0a\x02\x18\x01"),
        "decoded",
    ),
    "array padded with unknown fields": (
        attribute_value(b"\x2a\x04\x0a\x02\x18\x01" + b"\x48\x01" * 3),
        "decoded",
    ),
    "array over the cap": (attribute_value(b"\x2a\x0c" + b"\x0a\x02\x18\x01" * 3), "decoded"),
}

# name -> request bytes the depth policy reads although the protobuf runtime refuses them
DEEP: dict[str, bytes] = {
    "array nested 60 levels": attribute_value(nested_arrays(60)),
    # The innermost value of 4,997 arrays is level 10,000 (request, resource spans, scope spans,
    # span, key-value, then two levels per array): the deepest the Go runtime reads.
    "array nested 4,997 levels": attribute_value(nested_arrays(4997)),
    "replaced array nested 200 levels": attribute_value(nested_arrays(200) + b"\x0a\x01y"),
    "empty array at level 10,000": attribute_value(nested_arrays(4996, b"\x2a\x00")),
    # Groups count with messages: 14 within the AnyValue at level 9,986 reach level 10,000.
    "groups to level 10,000": attribute_value(nested_arrays(4990, b"\x0b" * 14 + b"\x0c" * 14)),
}

# name -> request bytes refused for nesting past 10,000 levels
TOO_DEEP_TO_READ: dict[str, bytes] = {
    "array nested 4,998 levels": attribute_value(nested_arrays(4998)),
    "empty array at level 10,001": attribute_value(nested_arrays(4997, b"\x2a\x00")),
    "groups past level 10,000": attribute_value(nested_arrays(4990, b"\x0b" * 15 + b"\x0c" * 15)),
}
