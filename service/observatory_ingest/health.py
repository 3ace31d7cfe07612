"""Readiness: migrations done, database reachable, every receiver listening, not shutting down.
Watchers hear changes."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Health:
    def __init__(self) -> None:
        self.migrated = False
        self.database_reachable = False
        # Ready means a client that trusts /readyz can connect to gRPC and HTTP alike.
        self.receivers_listening = False
        self.shutting_down = False
        self._watchers: list[Callable[[bool], None]] = []

    @property
    def ready(self) -> bool:
        return (
            self.migrated and self.database_reachable and self.receivers_listening and not self.shutting_down
        )

    def watch(self, watcher: Callable[[bool], None]) -> None:
        self._watchers.append(watcher)
        watcher(self.ready)

    def update(self, **flags: bool) -> None:
        before = self.ready
        for name, value in flags.items():
            setattr(self, name, value)
        if self.ready != before:
            log.info("readiness changed", extra={"ready": self.ready, **flags})
            for watcher in self._watchers:
                watcher(self.ready)
