"""Persistence of executions: their rows, every history event, each task run and its log lines.

History events and log lines arrive from executor threads one at a time; writing each with its
own round trip would slow tasks that print a lot, so they are buffered and written in batches
by one flusher thread. Events that a restart depends on (a task's success, the end of the
execution) are flushed before the executor goes on, so a crash never loses a finished task.

Names: "store" means only the object store (``objectstore/``); this journal is where executions
are recorded, ``catalog.access.records`` is where access rules are, and a "runner" is always a
``TaskRunner`` (``processing.asl.runners``) that performs one Task.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from processing.asl import HistoryEvent, completed_tasks_from_events
from processing.db import Database
from processing.errors import NoSuchJob

__all__ = [
    "JobStatus",
    "BufferedSink",
    "ExecutionJournal",
    "LogLine",
    "job_status",
]

log = logging.getLogger(__name__)

JobStatus = Literal["accepted", "running", "successful", "failed", "dismissed"]
FINISHED: tuple[JobStatus, ...] = ("successful", "failed", "dismissed")
_FROM_ASL: dict[str, JobStatus] = {
    "SUCCEEDED": "successful",
    "FAILED": "failed",
    "TIMED_OUT": "failed",
    "ABORTED": "dismissed",
    "RUNNING": "running",
}
#: Events a resumed run needs: flushed at once rather than with the next batch.
_DURABLE = frozenset({"TaskSucceeded", "ExecutionSucceeded", "ExecutionFailed",
                      "ExecutionAborted", "ExecutionTimedOut"})


def job_status(asl_status: str) -> JobStatus:
    """The OGC status of an ASL execution status."""
    return _FROM_ASL[asl_status]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of a task's output, as buffered before it is written."""

    execution_id: str
    task_run_id: int | None
    state_path: str
    map_index: int | None
    stream: str
    message: str
    timestamp: datetime


class BufferedSink:
    """The history :data:`~processing.asl.EventSink` (and log sink) of one execution run."""

    def __init__(self, store: ExecutionJournal, execution_id: str, run: int) -> None:
        self.store = store
        self.execution_id = execution_id
        self.run = run
        self._events: list[HistoryEvent] = []
        self._logs: list[LogLine] = []
        self._lock = threading.Lock()
        self.closed = False

    def __call__(self, event: HistoryEvent) -> None:
        with self._lock:
            self._events.append(event)
        if event["type"] in _DURABLE:
            self.flush()

    def log(self, line: LogLine) -> None:
        with self._lock:
            self._logs.append(line)

    def flush(self) -> None:
        """Write what is buffered (called by the flusher thread and for durable events)."""
        with self._lock:
            events, self._events = self._events, []
            logs, self._logs = self._logs, []
        if not events and not logs:
            return
        try:
            self.store.write_batch(self.execution_id, self.run, events, logs)
        except Exception:  # noqa: BLE001 - keep them for the next attempt, never kill a task
            log.exception("cannot persist %d events of %s; retrying", len(events),
                          self.execution_id)
            with self._lock:
                self._events[:0] = events
                self._logs[:0] = logs


class ExecutionJournal:
    """Executions and their traces in the catalog database."""

    def __init__(self, db: Database, *, flush_seconds: float = 0.25) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self._sinks: set[BufferedSink] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the flusher ---------------------------------------------------------------------------

    def sink(self, execution_id: str, run: int) -> BufferedSink:
        sink = BufferedSink(self, execution_id, run)
        with self._lock:
            self._sinks.add(sink)
            if self._thread is None:
                self._thread = threading.Thread(target=self._flush_loop, name="processing-flush",
                                                daemon=True)
                self._thread.start()
        return sink

    def release(self, sink: BufferedSink) -> None:
        sink.flush()
        with self._lock:
            self._sinks.discard(sink)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush_all()

    def flush_all(self) -> None:
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            sink.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush_all()

    def write_batch(
        self, execution_id: str, run: int, events: list[HistoryEvent], logs: list[LogLine]
    ) -> None:
        with self.db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if events:
                cur.executemany(
                    "INSERT INTO stacworks.processing_events (execution_id, run, event_id, "
                    "previous_event_id, type, state_name, state_path, timestamp, details) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [(execution_id, run, e["id"], e["previous_event_id"], e["type"],
                      e["state_name"], e["state_path"], e["timestamp"],
                      json.dumps(e["details"], default=str)) for e in events],
                )
            if logs:
                cur.executemany(
                    "INSERT INTO stacworks.processing_logs (execution_id, task_run_id, "
                    "state_path, map_index, stream, message, timestamp) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [(line.execution_id, line.task_run_id, line.state_path, line.map_index,
                      line.stream, line.message, line.timestamp) for line in logs],
                )
            cur.execute(
                "UPDATE stacworks.processing_executions SET updated_at = now() WHERE id = %s",
                (execution_id,),
            )

    # -- executions ----------------------------------------------------------------------------

    def create(self, record: Mapping[str, Any], conn: Any = None) -> None:
        """Record a job; on ``conn`` when given (the admission's transaction, whose locks the
        insert must be inside), otherwise on a pooled connection."""
        with contextlib.nullcontext(conn) if conn is not None else self.db.connection() as conn:
            conn.execute(
                "INSERT INTO stacworks.processing_executions (id, process_id, workflow_id, "
                "workflow_version, output_collection, definition, context, status, input, "
                "principal) VALUES (%s, %s, %s, %s, %s, %s, %s, 'accepted', %s, %s)",
                (record["id"], record["process_id"], record["workflow_id"],
                 record["workflow_version"], record["output_collection"],
                 json.dumps(record["definition"]), json.dumps(record["context"]),
                 json.dumps(record["input"]), record.get("principal")),
            )

    def principal_of(self, execution_id: str) -> str | None | bool:
        """The job's owner (None for jobs started without access control); False: no job."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT principal FROM stacworks.processing_executions WHERE id = %s",
                (execution_id,),
            ).fetchone()
        return False if row is None else row["principal"]

    def get(self, execution_id: str) -> dict[str, Any]:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT * FROM stacworks.processing_executions WHERE id = %s", (execution_id,)
            ).fetchone()
        if row is None:
            raise NoSuchJob(f"job {execution_id!r} does not exist")
        return row

    def find(self, *, status: list[str] | None = None, process_id: list[str] | None = None,
             limit: int = 100, offset: int = 0, principal: str | bool = True
             ) -> list[dict[str, Any]]:
        """Executions, newest first; ``principal``: True for everyone's, else only that one's."""
        everyone = principal is True
        owner = None if everyone else principal
        with self.db.connection() as conn:
            return conn.execute(
                "SELECT * FROM stacworks.processing_executions "
                "WHERE (%s::text[] IS NULL OR status = ANY(%s)) "
                "AND (%s::text[] IS NULL OR process_id = ANY(%s)) "
                "AND (%s OR principal = %s) "
                "ORDER BY created_at DESC, id LIMIT %s OFFSET %s",
                (status, status, process_id, process_id, everyone, owner, limit, offset),
            ).fetchall()

    def claim(self, execution_id: str, owner: str) -> int:
        """Mark the execution running under ``owner`` and return the new run number."""
        with self.db.connection() as conn:
            row = conn.execute(
                "UPDATE stacworks.processing_executions SET status = 'running', run = run + 1, "
                "owner = %s, heartbeat_at = now(), started_at = coalesce(started_at, now()), "
                "updated_at = now() WHERE id = %s RETURNING run",
                (owner, execution_id),
            ).fetchone()
        if row is None:
            raise NoSuchJob(f"job {execution_id!r} does not exist")
        return int(row["run"])

    def finish(self, execution_id: str, status: JobStatus, *, output: Any = None,
               error: str | None = None, cause: str | None = None) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE stacworks.processing_executions SET status = %s, output = %s, "
                "error = %s, cause = %s, finished_at = now(), updated_at = now(), owner = NULL "
                "WHERE id = %s",
                (status, json.dumps(output) if output is not None else None, error, cause,
                 execution_id),
            )

    def heartbeat(self, execution_ids: Iterable[str], owner: str) -> None:
        ids = list(execution_ids)
        if not ids:
            return
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE stacworks.processing_executions SET heartbeat_at = now() "
                "WHERE id = ANY(%s) AND owner = %s",
                (ids, owner),
            )

    def request_cancel(self, execution_id: str) -> dict[str, Any]:
        with self.db.connection() as conn:
            row = conn.execute(
                "UPDATE stacworks.processing_executions SET cancel_requested = true, "
                "updated_at = now() WHERE id = %s RETURNING *",
                (execution_id,),
            ).fetchone()
        if row is None:
            raise NoSuchJob(f"job {execution_id!r} does not exist")
        return row

    def unfinished(self) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return conn.execute(
                "SELECT * FROM stacworks.processing_executions "
                "WHERE status IN ('accepted', 'running') ORDER BY created_at"
            ).fetchall()

    def take_over(self, execution_id: str, expected_owner: str | None, owner: str) -> bool:
        """Atomically move an orphaned execution to ``owner``; False if someone else did."""
        with self.db.connection() as conn:
            row = conn.execute(
                "UPDATE stacworks.processing_executions SET owner = %s, heartbeat_at = now() "
                "WHERE id = %s AND owner IS NOT DISTINCT FROM %s "
                "AND status IN ('accepted', 'running') RETURNING id",
                (owner, execution_id, expected_owner),
            ).fetchone()
        return row is not None

    # -- history -------------------------------------------------------------------------------

    def events(self, execution_id: str) -> list[HistoryEvent]:
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT run, event_id, previous_event_id, timestamp, type, state_name, "
                "state_path, details FROM stacworks.processing_events WHERE execution_id = %s "
                "ORDER BY run, event_id",
                (execution_id,),
            ).fetchall()
        return [
            {"id": r["event_id"], "previous_event_id": r["previous_event_id"],
             "timestamp": r["timestamp"].isoformat(), "type": r["type"],
             "execution_id": execution_id, "state_name": r["state_name"],
             "state_path": r["state_path"], "details": {**r["details"], "run": r["run"]}}
            for r in rows
        ]  # type: ignore[misc]

    def completed_tasks(self, execution_id: str) -> dict[str, Any]:
        """What a resumed run may reuse: every task that succeeded in an earlier run."""
        return completed_tasks_from_events(
            e for e in self.events(execution_id) if e["type"] == "TaskSucceeded"
        )

    def state_progress(self, execution_id: str) -> dict[str, dict[str, int]]:
        """Per state name: how many visits started, succeeded, failed (the latest run wins
        for tasks reused from earlier runs, which count as succeeded)."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT state_name, type, count(*) AS n FROM stacworks.processing_events "
                "WHERE execution_id = %s AND state_name IS NOT NULL "
                "AND run = (SELECT max(run) FROM stacworks.processing_events "
                "           WHERE execution_id = %s) "
                "GROUP BY state_name, type",
                (execution_id, execution_id),
            ).fetchall()
        states: dict[str, dict[str, int]] = {}
        for row in rows:
            entry = states.setdefault(row["state_name"], {"entered": 0, "succeeded": 0,
                                                          "failed": 0, "running": 0})
            kind, n = row["type"], int(row["n"])
            if kind.endswith("StateEntered"):
                entry["entered"] += n
            elif kind.endswith("StateExited"):
                entry["succeeded"] += n
            elif kind in ("TaskFailed", "TaskTimedOut", "MapStateFailed",
                          "ParallelStateFailed", "MapIterationFailed"):
                entry["failed"] += n
        for entry in states.values():
            entry["running"] = max(0, entry["entered"] - entry["succeeded"] - entry["failed"])
        return states

    # -- task runs and logs --------------------------------------------------------------------

    def start_task_run(self, row: Mapping[str, Any]) -> int:
        with self.db.connection() as conn:
            found = conn.execute(
                "INSERT INTO stacworks.processing_task_runs (execution_id, run, state_name, "
                "state_path, map_index, retry_count, algorithm, algorithm_version, status, "
                "token, cpu, memory, started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
                "'running', %s, %s, %s, now()) RETURNING id",
                (row["execution_id"], row["run"], row["state_name"], row["state_path"],
                 row["map_index"], row["retry_count"], row["algorithm"],
                 row["algorithm_version"], row["token"], row["cpu"], row["memory"]),
            ).fetchone()
        assert found is not None
        return int(found["id"])

    def finish_task_run(self, task_run_id: int, *, status: str, exit_code: int | None,
                        duration: float, cost: float, error: str | None = None,
                        cause: str | None = None, outputs: Any = None) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE stacworks.processing_task_runs SET status = %s, exit_code = %s, "
                "finished_at = now(), duration_seconds = %s, cost_usd = %s, error = %s, "
                "cause = %s, outputs = %s WHERE id = %s",
                (status, exit_code, duration, cost, error, cause,
                 json.dumps(outputs) if outputs is not None else None, task_run_id),
            )

    def abandon_task_runs(self, execution_id: str, cause: str) -> list[dict[str, Any]]:
        """Close the task runs a dead server left 'running'; return them (with their tokens)."""
        with self.db.connection() as conn:
            return conn.execute(
                "UPDATE stacworks.processing_task_runs SET status = 'abandoned', cause = %s, "
                "finished_at = now(), duration_seconds = extract(epoch FROM now() - started_at) "
                "WHERE execution_id = %s AND status = 'running' RETURNING *",
                (cause, execution_id),
            ).fetchall()

    def crashed_runs(self, execution_id: str) -> int:
        """How many runs of the execution ended with a dead server while a task ran."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT count(DISTINCT run) AS n FROM stacworks.processing_task_runs "
                "WHERE execution_id = %s AND status = 'abandoned'",
                (execution_id,),
            ).fetchone()
        return int(row["n"]) if row else 0

    def task_runs(self, execution_id: str) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return conn.execute(
                "SELECT * FROM stacworks.processing_task_runs WHERE execution_id = %s ORDER BY id",
                (execution_id,),
            ).fetchall()

    def log_totals(self, task_run_id: int) -> tuple[int, int, bool]:
        """Lines and bytes recorded for a task run, and whether they end in a truncation
        notice (what a follower taking over an AWS task's logs continues from)."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n, coalesce(sum(octet_length(message)), 0) AS size, "
                "coalesce(bool_or(message LIKE '[stacworks: log truncated%%'), false) AS cut "
                "FROM stacworks.processing_logs WHERE task_run_id = %s",
                (task_run_id,),
            ).fetchone()
        assert row is not None
        return int(row["n"]), int(row["size"]), bool(row["cut"])

    def logs(self, execution_id: str, *, after: int = 0, task_run_id: int | None = None,
             limit: int = 10000) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return conn.execute(
                "SELECT id, task_run_id, state_path, map_index, stream, message, timestamp "
                "FROM stacworks.processing_logs WHERE execution_id = %s AND id > %s "
                "AND (%s::bigint IS NULL OR task_run_id = %s) ORDER BY id LIMIT %s",
                (execution_id, after, task_run_id, task_run_id, limit),
            ).fetchall()

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
