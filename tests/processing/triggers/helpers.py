"""Shared pieces of the trigger tests: two 'servers' (engines with their own pools) on the
session database, a launcher that records what it was asked to start."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processing.db import Database
from processing.triggers.engine import IngestQueue, TriggerEngine
from processing.triggers.settings import TriggerSettings
from processing.triggers.webhooks import Webhooks


@dataclass
class RecordingLauncher:
    """Stands in for ExecutionManager.submit: records each start, returns a job row."""

    calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, workflow_id: str, inputs: dict[str, Any],
                 owner: str | None) -> Mapping[str, Any]:
        with self.lock:
            self.calls.append((workflow_id, inputs, owner))
        return {"id": uuid.uuid4().hex}


def engine(dsn: str, launch: Any, *, ingest: IngestQueue | None = None,
           **settings: Any) -> TriggerEngine:
    db = Database(dsn, max_size=4)
    s = TriggerSettings(**settings)
    return TriggerEngine(db, s, launch, Webhooks(db, s), ingest=ingest)


def tick_together(engines: list[TriggerEngine], now: datetime) -> None:
    """Every engine ticks at the same fake time, as concurrently as threads allow."""
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(e: TriggerEngine) -> None:
        barrier.wait()
        try:
            e.tick(now)
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if errors:
        raise errors[0]
