"""Execution history events: what the executor reports, and how a resumed run reads them back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypedDict

__all__ = [
    "EventRecorder",
    "EventSink",
    "HistoryEvent",
    "completed_tasks_from_events",
]


class HistoryEvent(TypedDict):
    """One history event, shaped after Step Functions' ``GetExecutionHistory``.

    ``previous_event_id`` links events of one thread of control: a Parallel branch or a Map
    iteration starts from the ``...StateStarted`` event of its state. ``state_path`` names the
    state visit (see :func:`processing.asl.executor.task_key`); it is the resumability key for
    ``TaskSucceeded`` events.
    """

    id: int
    previous_event_id: int
    timestamp: str
    type: str
    execution_id: str
    state_name: str | None
    state_path: str | None
    details: dict[str, Any]


EventSink = Callable[[HistoryEvent], None]
"""Receives every event, in ``id`` order, one at a time (calls are serialised)."""


class EventRecorder:
    """An in-memory :data:`EventSink`, for tests and for callers that persist afterwards."""

    def __init__(self) -> None:
        self.events: list[HistoryEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: HistoryEvent) -> None:
        with self._lock:
            self.events.append(event)

    def types(self) -> list[str]:
        """The event types in order, which is what most assertions need."""
        return [event["type"] for event in self.events]

    def of_type(self, *types: str) -> list[HistoryEvent]:
        """The events of the given types, in order."""
        return [event for event in self.events if event["type"] in types]


def completed_tasks_from_events(events: Iterable[HistoryEvent]) -> dict[str, Any]:
    """Build the ``completed_tasks`` lookup for a resumed run from a crashed run's history.

    Every ``TaskSucceeded`` event carries its task's raw result (before ResultSelector), keyed by
    its state path, so a resumed execution hands the same result to the same state visit.
    """
    completed: dict[str, Any] = {}
    for event in events:
        if event["type"] == "TaskSucceeded" and event["state_path"] is not None:
            completed[event["state_path"]] = event["details"].get("output")
    return completed
