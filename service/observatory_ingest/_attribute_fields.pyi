from typing import Any

def first_values(
    attributes: dict[str, Any], fields: tuple[tuple[str, tuple[str, ...]], ...]
) -> dict[str, Any]: ...
