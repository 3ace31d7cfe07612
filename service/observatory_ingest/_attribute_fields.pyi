from typing import Any

def first_values(
    attributes: dict[str, Any], key_ranks: dict[str, tuple[int, int]], names: tuple[str, ...]
) -> dict[str, Any]: ...
