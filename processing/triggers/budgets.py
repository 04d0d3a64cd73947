"""Monthly budgets per workflow: what past runs cost (real task durations x the price table of
:mod:`processing.costs`) plus the estimate of the run about to start.

Over the hard limit a run is refused before it is recorded (the API answers 403 naming the
budget); past the soft limit the budget's owner is notified once a month by webhook.

Runs queued but not yet (fully) run count with their estimate (``estimate_usd`` on the job's
context, less what their task runs cost so far), and the check holds a per-workflow advisory
lock until the job's row is committed: two runs submitted at once cannot both pass a budget
that has room for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from processing.db import Database
from processing.errors import ProcessingError
from processing.settings import ProcessingSettings
from processing.triggers.store import returned

__all__ = ["BudgetExceeded", "Budgets", "month_start"]

#: (event name, dedup key, owner, payload) -> None: how a crossed threshold is announced.
Announce = Callable[[str, str, str | None, dict[str, Any]], object]


class BudgetExceeded(ProcessingError):
    """The run would take the workflow over its monthly hard limit."""

    status_code = 403
    title = "budget exceeded"


def month_start(now: datetime) -> datetime:
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class Budgets:
    """Reads and sets budgets, sums the month's spending, admits or refuses runs."""

    def __init__(self, db: Database, settings: ProcessingSettings,
                 announce: Announce | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.settings = settings
        self.announce = announce
        self.clock = clock

    def get(self, workflow_id: str) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            row = conn.execute("SELECT * FROM stacworks.trigger_budgets WHERE workflow_id = %s",
                               (workflow_id,)).fetchone()
        return row

    def set(self, workflow_id: str, owner: str | None, soft_usd: float | None,
            hard_usd: float | None) -> dict[str, Any]:
        with self.db.connection() as conn:
            return returned(conn.execute(
                "INSERT INTO stacworks.trigger_budgets (workflow_id, owner, soft_usd, hard_usd) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (workflow_id) DO UPDATE SET "
                "soft_usd = excluded.soft_usd, hard_usd = excluded.hard_usd, "
                "updated_at = now() RETURNING *",
                (workflow_id, owner, soft_usd, hard_usd),
            ).fetchone())

    def delete(self, workflow_id: str) -> None:
        with self.db.connection() as conn:
            conn.execute("DELETE FROM stacworks.trigger_budgets WHERE workflow_id = %s",
                         (workflow_id,))

    def _cost_sql(self) -> tuple[str, tuple[float, float, float]]:
        """USD of one task run ``t``: its real duration (billed at least the Fargate minimum)
        at its size, at today's prices."""
        s = self.settings
        return ("(t.cpu / 1024.0 * %s + t.memory / 1024.0 * %s) * greatest(coalesce("
                "t.duration_seconds, extract(epoch FROM coalesce(t.finished_at, now()) - "
                "t.started_at)), %s) / 3600.0",
                (s.fargate_vcpu_hour_usd, s.fargate_gb_hour_usd, s.fargate_minimum_seconds))

    def spent(self, workflow_id: str, now: datetime | None = None, conn: Any = None) -> float:
        """USD of the workflow's task runs started this (UTC) month."""
        cost, prices = self._cost_sql()
        with self._conn(conn) as c:
            row = c.execute(
                f"SELECT coalesce(sum({cost}), 0) AS usd "  # noqa: S608 - our own SQL
                "FROM stacworks.processing_task_runs t "
                "JOIN stacworks.processing_executions e ON e.id = t.execution_id "
                "WHERE e.workflow_id = %s AND t.started_at >= %s",
                (*prices, workflow_id, month_start(now or self.clock())),
            ).fetchone()
        return round(float(row["usd"] if row else 0.0), 6)

    def pending(self, workflow_id: str, conn: Any = None) -> float:
        """USD still to come from the workflow's unfinished jobs: each one's estimate less what
        its task runs cost so far (jobs recorded without an estimate count nothing)."""
        cost, prices = self._cost_sql()
        with self._conn(conn) as c:
            row = c.execute(
                "SELECT coalesce(sum(greatest((e.context->>'estimate_usd')::float8 - "
                f"coalesce((SELECT sum({cost}) FROM stacworks.processing_task_runs t "  # noqa: S608
                "WHERE t.execution_id = e.id), 0), 0)), 0) AS usd "
                "FROM stacworks.processing_executions e WHERE e.workflow_id = %s "
                "AND e.status IN ('accepted', 'running') AND e.context ? 'estimate_usd'",
                (*prices, workflow_id),
            ).fetchone()
        return round(float(row["usd"] if row else 0.0), 6)

    @contextmanager
    def _conn(self, conn: Any) -> Iterator[Any]:
        if conn is not None:
            yield conn
        else:
            with self.db.connection() as fresh:
                yield fresh

    @contextmanager
    def admission(self, workflow_id: str, estimate_usd: float
                  ) -> Iterator[tuple[Any, dict[str, Any]]]:
        """:meth:`admit` under the workflow's advisory lock; yields (the transaction's
        connection, the job context entry) for the job's row, which must be inserted on that
        connection: the lock is held until it commits, so the next check counts this run."""
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                         (f"stacworks.budget:{workflow_id}",))
            self.admit(workflow_id, estimate_usd, conn)
            yield conn, {"estimate_usd": round(estimate_usd, 6)}

    def status(self, workflow_id: str) -> dict[str, Any]:
        budget = self.get(workflow_id) or {}
        now = self.clock()
        return {"workflow_id": workflow_id, "month": month_start(now).strftime("%Y-%m"),
                "spent_usd": self.spent(workflow_id, now),
                "pending_usd": self.pending(workflow_id),
                "soft_usd": budget.get("soft_usd"), "hard_usd": budget.get("hard_usd")}

    def admit(self, workflow_id: str, estimate_usd: float, conn: Any = None) -> None:
        """Refuse a run that would pass the hard limit; announce a crossed soft limit.

        Alone it is a check, not a reservation: :meth:`admission` makes it hold."""
        budget = self.get(workflow_id)
        if budget is None or (budget["soft_usd"] is None and budget["hard_usd"] is None):
            return
        now = self.clock()
        month = month_start(now).strftime("%Y-%m")
        spent = round(self.spent(workflow_id, now, conn) + self.pending(workflow_id, conn), 6)
        total = round(spent + estimate_usd, 6)
        payload = {"workflow_id": workflow_id, "month": month, "spent_usd": spent,
                   "estimate_usd": round(estimate_usd, 6), "soft_usd": budget["soft_usd"],
                   "hard_usd": budget["hard_usd"]}
        hard = budget["hard_usd"]
        if hard is not None and total > hard:
            self._announce("hard", workflow_id, month, budget["owner"], payload)
            raise BudgetExceeded(
                f"budget of workflow {workflow_id!r}: {month} spending ${spent:.4f} (queued runs "
                f"included) plus this "
                f"run's estimate ${estimate_usd:.4f} exceeds the hard limit ${hard:.2f}; the run "
                "was refused (raise the budget or wait for next month)"
            )
        soft = budget["soft_usd"]
        if soft is not None and total > soft:
            self._announce("soft", workflow_id, month, budget["owner"], payload)

    def _announce(self, level: str, workflow_id: str, month: str, owner: str | None,
                  payload: dict[str, Any]) -> None:
        if self.announce is not None:
            self.announce("budget.threshold", f"budget:{workflow_id}:{month}:{level}", owner,
                          {**payload, "level": level})
