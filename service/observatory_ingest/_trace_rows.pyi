from collections.abc import Callable
from typing import Any

SPAN_ROW_LAYOUT: tuple[str, ...]
EVENT_ROW_LAYOUT: tuple[str, ...]
TRACE_PART_LAYOUT: tuple[str, ...]
MAX_NAME: int
MAX_TEXT: int
POSTGRES_EPOCH_US: int

def span_rows(
    span: tuple[Any, ...],
    project: bytes,
    project_id: str,
    service: str,
    resource_json: str,
    scope_name: str | None,
    scope_version: str | None,
    earliest: int,
    latest: int,
    dumps: Callable[[Any], bytes],
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]], int, int | None] | None: ...
def blake2b_16(data: bytes) -> bytes: ...
def add_to_trace_part(parts: dict[str, list[Any]], row: tuple[Any, ...]) -> None: ...
