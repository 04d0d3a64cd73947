"""A few threads for numpy work: numpy releases the GIL inside its loops, so tasks over
disjoint slices of large arrays run on several cores at once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")
_R = TypeVar("_R")


class Workers:
    """Threads for independent numpy tasks, or none: with one worker tasks run inline.

    One pool serves a whole conversion (reading, the octree, gathering the nodes), so its
    threads are started once.
    """

    def __init__(self, count: int | None = None) -> None:
        self.count = max(1, count if count is not None else default_workers())
        self._pool = ThreadPoolExecutor(self.count) if self.count > 1 else None

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        """``[fn(item) for item in items]``, the calls spread over the threads."""
        if self._pool is None:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown()


#: CPU pressure (share of time some task waited for a CPU) from which threads are not added.
_BUSY_PRESSURE = 10.0
#: Threads beyond this gain little on the short numpy passes they run.
_MAX_WORKERS = 8


def default_workers() -> int:
    """One thread per core this process may run on, or one when the machine is oversubscribed.

    Threads pay only on idle cores. Measured on a 2-core VM: idle, two threads take a sixth
    off a conversion; with other work competing for the cores they bring nothing and cost a
    tenth more CPU (page faults, TLB shootdowns, GIL hand-offs). Oversubscription is read from
    Linux's CPU pressure (PSI) over the last 10 s, which, unlike the load average, does not
    count this process's own running threads as a busy machine.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    if cores > 1 and cpu_pressure() >= _BUSY_PRESSURE:
        return 1
    return max(1, min(cores, _MAX_WORKERS))


def cpu_pressure() -> float:
    """Percentage of the last 10 s in which some task waited for a CPU (0 when unknown)."""
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()  # "some avg10=1.23 avg60=0.80 avg300=0.51 total=..."
        return float(some[1].removeprefix("avg10="))
    except (OSError, IndexError, ValueError):
        return 0.0


def ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous, nearly equal, non-empty ``(start, stop)`` ranges over ``0 .. n``."""
    bounds = np.linspace(0, n, max(parts, 1) + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def blocks(n: int, size: int) -> list[tuple[int, int]]:
    """Ranges of at most ``size`` items over ``0 .. n``."""
    return ranges(n, -(-n // max(size, 1)))
