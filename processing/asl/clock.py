"""Time as the executor sees it: an injectable clock so Wait states and retries test instantly."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Wall time for timestamps, monotonic time for deadlines, and an interruptible sleep."""

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; deadlines are measured on it."""
        ...

    def sleep(self, seconds: float, cancel: threading.Event) -> bool:
        """Sleep up to ``seconds``; return False as soon as ``cancel`` is set, True otherwise."""
        ...


class SystemClock:
    """The real clock: sleeping waits on the cancel event, so aborts interrupt a Wait at once."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float, cancel: threading.Event) -> bool:
        """Block until the time is up or ``cancel`` is set."""
        if seconds <= 0:
            return not cancel.is_set()
        return not cancel.wait(seconds)


class FakeClock:
    """A clock whose sleeps return at once and move virtual time forward.

    Real time still passes underneath (deadlines of running tasks stay honest); the virtual
    offset only accumulates what Wait states and retry back-offs asked for. ``sleeps`` records
    every requested duration, which is what tests assert on.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start_wall = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._start_mono = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """The virtual wall time."""
        return self._start_wall + timedelta(seconds=self.monotonic() - self._start_mono)

    def monotonic(self) -> float:
        """Real monotonic time plus everything slept so far."""
        with self._lock:
            return time.monotonic() + self._offset

    def sleep(self, seconds: float, cancel: threading.Event) -> bool:
        """Record the sleep and advance virtual time, unless already cancelled."""
        if cancel.is_set():
            return False
        with self._lock:
            self.sleeps.append(seconds)
            self._offset += max(0.0, seconds)
        return True

    def advance(self, seconds: float) -> None:
        """Move virtual time forward without sleeping."""
        with self._lock:
            self._offset += seconds
