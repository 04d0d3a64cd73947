"""The trigger loop: fire due schedules, poll due subscriptions, carry their new products through
ingest to a workflow, start workflows for catalog changes, and deliver webhooks.

Why a loop in each jobs server rather than procrastinate periodic tasks: procrastinate's periodic
tasks are declared in code when the app is built, ours are rows users add at any time; and a
job must be submitted to an execution manager, which lives in the jobs server. So every server
ticks, and PostgreSQL makes the result exactly-once: a firing row is unique per (trigger, slot)
(``INSERT ... ON CONFLICT DO NOTHING``: only the server that inserts it acts), a seen product is
unique per (subscription, product id), rows are claimed with ``FOR UPDATE SKIP LOCKED``. After
downtime the next tick finds the missed slots and applies the trigger's catch-up policy.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from processing.db import Database
from processing.errors import InvalidInput, ProcessingError
from processing.triggers.budgets import BudgetExceeded
from processing.triggers.cron import latest_due, should_fire
from processing.triggers.settings import TriggerSettings
from processing.triggers.store import SavedSearch, parse_window
from processing.triggers.webhooks import Webhooks

__all__ = ["Found", "IngestQueue", "Launcher", "TriggerEngine"]

log = logging.getLogger(__name__)

#: (workflow id, job inputs, principal) -> the execution row (raises ProcessingError).
Launcher = Callable[[str, dict[str, Any], str | None], Mapping[str, Any]]


@dataclass(frozen=True)
class Found:
    """A product a subscription's search matched: its id at the source, where it goes."""

    product_id: str
    collection: str
    item_id: str
    product: dict[str, Any] | None = None  # an ingest Product as JSON (None: already ours)


class IngestQueue(Protocol):
    """What subscriptions need from ingest (:class:`processing.triggers.ingest.IngestBridge`)."""

    def search(self, source: str, collection: str, search: SavedSearch, start: datetime,
               end: datetime, limit: int) -> list[Found]: ...

    def queue(self, source: str, subscription_id: str,
              products: list[dict[str, Any]]) -> list[int | None]: ...

    def statuses(self, ingest_product_ids: list[int]) -> dict[int, str]: ...


@dataclass
class TriggerEngine:
    """One server's trigger loop (any number may run against one database)."""

    db: Database
    settings: TriggerSettings
    launch: Launcher
    webhooks: Webhooks
    ingest: IngestQueue | None = None
    #: processing.triggers.aws.AwsSchedules on the aws back end (its schedules fire there).
    aws: Any = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # -- the loop ------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="triggers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.tick_seconds):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop outlives a bad tick (a DB outage)
                log.warning("trigger tick failed", exc_info=True)

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """One pass over everything due at ``now`` (the clock's time by default).

        Each step runs even when an earlier one failed (a source down must not hold back
        webhook deliveries); the first error is raised at the end, for the loop to log.
        """
        at = now or self.clock()
        steps: dict[str, Callable[[], int]] = {
            "schedules": lambda: self.fire_schedules(at),
            "aws_runs": self.adopt_aws_runs,
            "polls": lambda: self.poll_subscriptions(at),
            "ingest_queued": self.queue_new_products,
            "ingested": self.follow_ingest,
            "subscription_jobs": self.start_subscription_jobs,
            "watch_jobs": self.run_watches,
            "changes_pruned": self.prune_changes,
            "job_events": self.webhooks.emit_job_events,
            "deliveries": lambda: self.webhooks.deliver_due(at),
        }
        done: dict[str, int] = {}
        failed: Exception | None = None
        for name, step in steps.items():
            try:
                done[name] = step()
            except Exception as exc:  # noqa: BLE001 - reported after the other steps ran
                failed = failed or exc
        if failed is not None:
            raise failed
        return done

    # -- firings -------------------------------------------------------------------------------

    def _claim_slot(self, table: str, row: Mapping[str, Any], kind: str, key: str,
                    slot: datetime | None, status: str) -> int | None:
        """Record the firing; None when another server already did (it acts, we do not)."""
        with self.db.connection() as conn, conn.transaction():
            firing = conn.execute(
                "INSERT INTO stacworks.trigger_firings (trigger_id, key, kind, slot, status) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (trigger_id, key) DO NOTHING "
                "RETURNING id", (row["id"], key, kind, slot, status),
            ).fetchone()
            if slot is not None:
                conn.execute(
                    f"UPDATE stacworks.{table} SET last_slot = greatest(last_slot, %s) "  # noqa: S608
                    "WHERE id = %s", (slot, row["id"]))
        return None if firing is None else int(firing["id"])

    def _end_firing(self, firing_id: int, status: str, detail: str | None = None,
                    execution_ids: Iterable[str] = ()) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE stacworks.trigger_firings SET status = %s, detail = %s, "
                "execution_ids = execution_ids || %s::jsonb WHERE id = %s",
                (status, detail, json.dumps(list(execution_ids)), firing_id))

    def _start(self, workflow_id: str, inputs: dict[str, Any],
               owner: str | None) -> tuple[str, str | None, str | None]:
        """Launch; (status, execution id, detail): started, refused (budget) or failed."""
        try:
            row = self.launch(workflow_id, inputs, owner)
        except BudgetExceeded as exc:
            return "refused", None, str(exc)
        except InvalidInput as exc:
            if exc.field == "inputs.items" and "no input items" in str(exc):
                return "no-items", None, "the saved search found no items"
            return "failed", None, str(exc)
        except ProcessingError as exc:
            return "failed", None, str(exc)
        return "started", str(row["id"]), None

    def _due(self, table: str, now: datetime) -> list[tuple[dict[str, Any], datetime]]:
        with self.db.connection() as conn:
            rows = conn.execute(f"SELECT * FROM stacworks.{table} WHERE NOT paused",  # noqa: S608
                                ).fetchall()
        due = []
        for row in rows:
            try:
                slot = latest_due(row["cron"], row["timezone"], row["last_slot"],
                                  row["created_at"], now)
            except ProcessingError:
                log.warning("%s %s: bad cron or time zone", table, row["id"])
                continue
            if slot is not None:
                due.append((row, slot))
        return due

    def fire_schedules(self, now: datetime) -> int:
        fired = 0
        for row, slot in self._due("trigger_schedules", now):
            if row.get("aws_schedule"):
                continue  # EventBridge Scheduler fires this one
            fire = should_fire(slot, now, row["catch_up"], self.settings.late_grace_seconds)
            firing = self._claim_slot("trigger_schedules", row, "schedule", slot.isoformat(),
                                      slot, "firing" if fire else "skipped")
            if firing is None:
                continue
            if not fire:
                self._end_firing(firing, "skipped", f"missed by {int((now - slot).total_seconds())}"
                                 " s (catch_up=skip)")
                continue
            status, execution, detail = self._start(row["workflow_id"], dict(row["inputs"]),
                                                    row["owner"])
            self._end_firing(firing, status, detail, [execution] if execution else [])
            fired += 1
        return fired

    def adopt_aws_runs(self) -> int:
        """Jobs for the runs EventBridge Scheduler started: the schedule's owner's, under the
        budgets, and a firing each in the schedule's history."""
        if self.aws is None:
            return 0
        with self.db.connection() as conn:
            rows = conn.execute("SELECT * FROM stacworks.trigger_schedules "
                                "WHERE aws_schedule IS NOT NULL").fetchall()
        adopted = 0
        for row in rows:
            for arn, doc, started in self.aws.started_runs(row):
                # the job first (adopting twice returns the first), then its firing, once
                job = self.aws.manager.adopt(row["workflow_id"], arn, doc, principal=row["owner"],
                                             context={"schedule": row["id"]})
                firing = self._claim_slot("trigger_schedules", row, "schedule",
                                          f"aws:{job['id']}", started, "firing")
                if firing is None:
                    continue
                refused = job.get("error") == "Stacworks.BudgetExceeded"
                self._end_firing(firing, "refused" if refused else "started",
                                 job.get("cause") if refused else None, [job["id"]])
                adopted += 1
        return adopted

    # -- subscriptions -------------------------------------------------------------------------

    def poll_subscriptions(self, now: datetime) -> int:
        polled = 0
        for row, slot in self._due("trigger_subscriptions", now):
            firing = self._claim_slot("trigger_subscriptions", row, "subscription",
                                      f"poll:{slot.isoformat()}", slot, "polling")
            if firing is None:
                continue
            polled += 1
            try:
                new = self.poll(row, now, firing)
            except ProcessingError as exc:
                self._end_firing(firing, "failed", str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a source's own errors (ingest's vocabulary)
                self._end_firing(firing, "failed", f"{type(exc).__name__}: {exc}"[:500])
                continue
            self._end_firing(firing, "matched" if new else "nothing-new",
                             f"{len(new)} new product(s)" if new else None)
        return polled

    def poll(self, row: Mapping[str, Any], now: datetime, firing_id: int | None = None
             ) -> list[str]:
        """Search the source once; record new products (unique per subscription); return
        their ids. What to do with them happens in the next steps (also after a crash)."""
        search = SavedSearch.model_validate(row["search"])
        start = now - parse_window(search.window)
        limit = min(search.limit or self.settings.max_matches_per_poll,
                    self.settings.max_matches_per_poll)
        if row["source"] == "catalog":
            found = self._catalog_search(row["collection"], search, start, now, limit)
        else:
            if self.ingest is None:
                raise ProcessingError("subscriptions to other sources need ingest")
            found = self.ingest.search(row["source"], row["collection"], search, start, now,
                                       limit)
        new: list[str] = []
        with self.db.connection() as conn:
            for f in found:
                inserted = conn.execute(
                    "INSERT INTO stacworks.trigger_seen_products (subscription_id, product_id, "
                    "collection, item_id, firing_id, status, product) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING product_id",
                    (row["id"], f.product_id, f.collection, f.item_id, firing_id,
                     "new" if f.product is not None else "ingested",
                     json.dumps(f.product) if f.product is not None else None),
                ).fetchone()
                if inserted is not None:
                    new.append(f.product_id)
        if new:
            self.webhooks.emit("subscription.matched", f"subscription:{row['id']}:{firing_id}",
                               row["owner"], {"subscription_id": row["id"],
                                              "collection": row["collection"],
                                              "products": new})
        return new

    def _catalog_search(self, collection: str, search: SavedSearch, start: datetime,
                        end: datetime, limit: int) -> list[Found]:
        body: dict[str, Any] = {
            "collections": [collection], "limit": limit,
            "datetime": f"{start.isoformat()}/{end.isoformat()}",
            "fields": {"include": ["id", "collection"], "exclude": []},
        }
        if search.intersects is not None:
            body["intersects"] = search.intersects
        elif search.bbox is not None:
            body["bbox"] = search.bbox
        if search.filter:
            import cql2

            body["filter"] = cql2.parse_text(search.filter).to_json()
            body["filter-lang"] = "cql2-json"
        with self.db.connection() as conn:
            row = conn.execute("SELECT pgstac.search(%s::jsonb) AS fc",
                               (json.dumps(body),)).fetchone()
        features = ((row or {}).get("fc") or {}).get("features") or []
        return [Found(f["id"], f["collection"], f["id"]) for f in features]

    def queue_new_products(self) -> int:
        """Hand products recorded as new to ingest; a crash before the commit leaves them new,
        and the next tick (this server's or another's) queues them."""
        if self.ingest is None:
            return 0
        queued = 0
        with self.db.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT s.subscription_id, s.product_id, s.product, t.source "
                "FROM stacworks.trigger_seen_products s JOIN stacworks.trigger_subscriptions t "
                "ON t.id = s.subscription_id WHERE s.status = 'new' "
                "ORDER BY s.subscription_id, s.seen_at LIMIT 1000 FOR UPDATE OF s SKIP LOCKED"
            ).fetchall()
            by_sub: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for r in rows:
                by_sub.setdefault((r["subscription_id"], r["source"]), []).append(r)
            for (sub, source), group in by_sub.items():
                ids = self.ingest.queue(source, sub, [r["product"] for r in group])
                for r, pid in zip(group, ids, strict=True):
                    conn.execute(
                        "UPDATE stacworks.trigger_seen_products SET status = %s, "
                        "ingest_product_id = %s WHERE subscription_id = %s AND product_id = %s",
                        ("ingesting" if pid is not None else "ingested", pid, sub,
                         r["product_id"]))
                    queued += 1
        return queued

    def follow_ingest(self) -> int:
        """Products whose ingest ended: ingested (done or already there) or failed."""
        if self.ingest is None:
            return 0
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT subscription_id, product_id, ingest_product_id FROM "
                "stacworks.trigger_seen_products WHERE status = 'ingesting'").fetchall()
        if not rows:
            return 0
        statuses = self.ingest.statuses([r["ingest_product_id"] for r in rows])
        ended = 0
        with self.db.connection() as conn:
            for r in rows:
                status = statuses.get(r["ingest_product_id"])
                if status in ("done", "skipped", "failed"):
                    conn.execute(
                        "UPDATE stacworks.trigger_seen_products SET status = %s "
                        "WHERE subscription_id = %s AND product_id = %s AND status = 'ingesting'",
                        ("failed" if status == "failed" else "ingested", r["subscription_id"],
                         r["product_id"]))
                    ended += 1
        return ended

    def start_subscription_jobs(self) -> int:
        """Run each subscription's workflow on its newly ingested items (per batch or item)."""
        started = 0
        with self.db.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT s.*, t.workflow_id, t.parameters, t.per, t.owner FROM "
                "stacworks.trigger_seen_products s JOIN stacworks.trigger_subscriptions t "
                "ON t.id = s.subscription_id WHERE s.status = 'ingested' "
                "AND t.workflow_id IS NOT NULL AND NOT t.paused "
                "ORDER BY s.subscription_id, s.seen_at, s.product_id "
                "LIMIT 1000 FOR UPDATE OF s SKIP LOCKED").fetchall()
            groups: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                groups.setdefault(r["subscription_id"], []).append(r)
            for sub, group in groups.items():
                batches = [group] if group[0]["per"] == "batch" else [[r] for r in group]
                for batch in batches:
                    first = batch[0]
                    inputs = {"items": [{"collection": r["collection"], "id": r["item_id"]}
                                        for r in batch],
                              "parameters": dict(first["parameters"] or {})}
                    status, execution, detail = self._start(first["workflow_id"], inputs,
                                                            first["owner"])
                    for r in batch:
                        conn.execute(
                            "UPDATE stacworks.trigger_seen_products SET status = %s, "
                            "execution_id = %s WHERE subscription_id = %s AND product_id = %s",
                            (status, execution, sub, r["product_id"]))
                    if execution is not None:
                        conn.execute(
                            "UPDATE stacworks.trigger_firings SET execution_ids = execution_ids "
                            "|| %s::jsonb WHERE id = %s", (json.dumps([execution]),
                                                           first["firing_id"]))
                        started += 1
                    elif detail:
                        log.warning("subscription %s: %s", sub, detail)
        return started

    # -- catalog watches -----------------------------------------------------------------------

    def prune_changes(self, batch: int = 10000) -> int:
        """Drop changes older than ``change_log_keep_hours`` (a bounded batch per tick)."""
        with self.db.connection() as conn:
            cur = conn.execute(
                "DELETE FROM stacworks.catalog_changes WHERE id IN (SELECT id FROM "
                "stacworks.catalog_changes WHERE at < now() - %s ORDER BY id LIMIT %s)",
                (timedelta(hours=self.settings.change_log_keep_hours), batch))
            return cur.rowcount

    def run_watches(self) -> int:
        """Each change in a watched collection starts the workflow once (the firing's key is
        the change's id; the cursor moves in the same transaction)."""
        started = 0
        with self.db.connection() as conn:
            ids = [r["id"] for r in conn.execute(
                "SELECT id FROM stacworks.trigger_watches WHERE NOT paused").fetchall()]
        for watch_id in ids:
            with self.db.connection() as conn, conn.transaction():
                watch = conn.execute(
                    "SELECT * FROM stacworks.trigger_watches WHERE id = %s AND NOT paused "
                    "FOR UPDATE SKIP LOCKED", (watch_id,)).fetchone()
                if watch is None:
                    continue
                changes = conn.execute(
                    "SELECT * FROM stacworks.catalog_changes WHERE collection = %s AND id > %s "
                    "ORDER BY id LIMIT %s",
                    (watch["collection"], watch["cursor"], self.settings.max_changes_per_tick),
                ).fetchall()
                for change in changes:
                    firing = conn.execute(
                        "INSERT INTO stacworks.trigger_firings (trigger_id, key, kind, status, "
                        "detail) VALUES (%s, %s, 'watch', 'firing', %s) ON CONFLICT DO NOTHING "
                        "RETURNING id", (watch_id, f"change:{change['id']}",
                                         f"{change['op']} {change['collection']}/"
                                         f"{change['item_id']}")).fetchone()
                    if firing is None:
                        continue
                    inputs = {"collection": change["collection"], "ids": [change["item_id"]],
                              "parameters": dict(watch["parameters"] or {})}
                    status, execution, detail = self._start(watch["workflow_id"], inputs,
                                                            watch["owner"])
                    conn.execute(
                        "UPDATE stacworks.trigger_firings SET status = %s, detail = coalesce(%s,"
                        " detail), execution_ids = %s WHERE id = %s",
                        (status, detail, json.dumps([execution] if execution else []),
                         firing["id"]))
                    started += execution is not None
                if changes:
                    conn.execute("UPDATE stacworks.trigger_watches SET cursor = %s WHERE id = %s",
                                 (changes[-1]["id"], watch_id))
        return started
