"""What a conversion needs besides the request: whose data it is, prices, the content policy."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from observatory_ingest.convert.common import DEFAULT_MAX_ATTRIBUTE_BYTES, DEFAULT_PROJECT_ID, project_bytes
from observatory_ingest.convert.pricing import PriceCatalogue


@dataclass(frozen=True)
class ContentPolicy:
    """Prompt and completion content: kept up to max_bytes per field, or dropped entirely."""

    keep: bool = True
    max_bytes: int = 64 * 1024


@dataclass(frozen=True)
class ConvertContext:
    project_id: str = DEFAULT_PROJECT_ID
    prices: PriceCatalogue = field(default_factory=PriceCatalogue)
    content: ContentPolicy = field(default_factory=ContentPolicy)
    max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES
    received_ns: int = field(default_factory=time.time_ns)  # fallback for missing or absurd times

    @property
    def project(self) -> bytes:
        return project_bytes(self.project_id)
