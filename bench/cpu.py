"""The benchmark's processes from /proc: their tree, and CPU seconds per part (service,
PostgreSQL, load generator).

A phase's CPU per item tells where the cores went: the ratio to the ceiling is decided by it once
the machine is saturated, and cores none of the parts used show a run bound by latency instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    name: str
    ticks: int  # user + system, of every thread
    state: str = "R"  # R, S, D, Z (a zombie: exited, not yet waited for) ...

    @property
    def exited(self) -> bool:
        return self.state == "Z"


def processes() -> dict[int, Process]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry)] = Process(
            int(entry), int(fields[1]), name, int(fields[11]) + int(fields[12]), fields[0]
        )
    return found


def descendants(root: int, table: dict[int, Process]) -> set[int]:
    children: dict[int, list[int]] = {}
    for process in table.values():
        children.setdefault(process.parent, []).append(process.pid)
    found, stack = set(), [root]
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack.extend(children.get(pid, []))
    return found


Groups = dict[str, Callable[[dict[int, Process]], set[int]]]


def standard_groups(service_pid: int | None) -> Groups:
    """PostgreSQL's processes, the service's process tree, and this (load-generating) process."""
    groups: Groups = {
        "postgres": lambda table: {p.pid for p in table.values() if p.name.startswith("postgres")},
        "load generator": lambda table: {os.getpid()},
    }
    if service_pid is not None:
        groups["service"] = lambda table: descendants(service_pid, table)
    return groups


class CpuMeter:
    """CPU seconds each group spent between start() and stop(). Processes that exit meanwhile
    are lost; the benchmark's are long-lived (pooled connections, the service's workers)."""

    def __init__(self, groups: Groups) -> None:
        self.groups = groups
        self.before: dict[int, int] = {}
        self.started = 0.0

    def start(self) -> None:
        self.before = {pid: p.ticks for pid, p in processes().items()}
        self.started = os.times().elapsed

    def stop(self) -> CpuUse:
        table = processes()
        seconds = {
            name: sum(table[pid].ticks - self.before.get(pid, 0) for pid in members(table)) / TICKS_PER_SECOND
            for name, members in self.groups.items()
        }
        return CpuUse(seconds, os.times().elapsed - self.started)


@dataclass(frozen=True)
class CpuUse:
    seconds: dict[str, float]  # CPU seconds per group
    elapsed: float  # wall-clock seconds

    def cores(self, group: str) -> float:
        return self.seconds.get(group, 0.0) / self.elapsed if self.elapsed else 0.0

    def micros_per_item(self, group: str, items: int) -> float:
        return self.seconds.get(group, 0.0) * 1e6 / items if items else 0.0
