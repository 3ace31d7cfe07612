from collections.abc import Callable
from typing import Any

MAX_DEPTH: int
MAX_NESTING: int
RUNTIME_NESTING: int
TOO_DEEP: str
SPAN_TUPLE_LAYOUT: tuple[str, ...]
EVENT_TUPLE_LAYOUT: tuple[str, ...]

class DecodeError(ValueError): ...

def decode_traces(
    payload: bytes, max_attribute_bytes: int, capped_value: Callable[[Any, int, bool], Any]
) -> list[tuple[dict[str, Any], list[tuple[str, str, list[tuple[Any, ...]]]]]]: ...
def flatten_values(payload: bytes, signal: int) -> bytes: ...
