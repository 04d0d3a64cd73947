"""Budgets from real task durations x the price table; webhooks signed, retried, logged."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from objectstore import LocalStore
from processing.costs import task_cost
from processing.db import Database
from processing.executions import ExecutionManager
from processing.settings import ProcessingSettings
from processing.triggers.budgets import BudgetExceeded, Budgets
from processing.triggers.service import Triggers
from processing.triggers.settings import TriggerSettings
from processing.triggers.webhooks import SIGNATURE_HEADER, Webhooks, verify
from processing.workflows import WorkflowStore, workflow_from_document

PASS_ASL = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


@pytest.fixture
def db(dsn: str) -> Iterator[Database]:
    database = Database(dsn, max_size=4)
    yield database
    database.close()


def _past_run(db: Database, workflow_id: str, principal: str | None,
              runs: list[tuple[int, int, float]], status: str = "successful") -> str:
    """A finished job of ``workflow_id`` with task runs of (cpu, memory, seconds)."""
    execution = uuid.uuid4().hex
    now = datetime.now(UTC)
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO stacworks.processing_executions (id, process_id, workflow_id, "
            "output_collection, definition, context, status, input, principal, started_at, "
            "finished_at) VALUES (%s, %s, %s, 'out', '{}', '{}', %s, '{}', %s, %s, now())",
            (execution, workflow_id, workflow_id, status, principal, now))
        for cpu, memory, seconds in runs:
            conn.execute(
                "INSERT INTO stacworks.processing_task_runs (execution_id, run, state_name, "
                "state_path, retry_count, algorithm, algorithm_version, status, token, cpu, "
                "memory, started_at, finished_at, duration_seconds) VALUES (%s, 1, 'T', 'T', 0, "
                "'a', '1', 'succeeded', 'tok', %s, %s, %s, %s, %s)",
                (execution, cpu, memory, now - timedelta(seconds=seconds), now, seconds))
    return execution


def test_a_run_over_the_hard_limit_is_refused(db: Database, tmp_path: Path) -> None:
    settings = ProcessingSettings()
    workflow = f"budget-{uuid.uuid4().hex[:8]}"
    runs = [(1024, 2048, 600.0), (4096, 8192, 1800.0), (256, 512, 5.0)]  # the last: 1 min min.
    _past_run(db, workflow, None, runs)
    expected = sum(task_cost(c, m, s, settings).usd for c, m, s in runs)
    budgets = Budgets(db, settings)
    assert budgets.spent(workflow) == pytest.approx(expected, abs=1e-6)
    assert budgets.spent(workflow, datetime.now(UTC) + timedelta(days=40)) == 0  # next month

    # through the manager: every way a job starts (API, schedule, subscription) is refused
    manager = ExecutionManager(db=db, settings=settings, dsn=db.dsn, home=tmp_path,
                               object_store=LocalStore(tmp_path / "objects"))
    triggers = Triggers.for_manager(manager, TriggerSettings(enabled=False))
    WorkflowStore(db).create(workflow_from_document(PASS_ASL, workflow_id=workflow))
    triggers.budgets.set(workflow, None, soft_usd=None, hard_usd=round(expected * 0.9, 6))
    with pytest.raises(BudgetExceeded) as refused:
        manager.submit(workflow, {"items": ["c/a"]}, stac_url=None)
    message = str(refused.value)
    assert f"budget of workflow {workflow!r}" in message and "hard limit" in message
    assert refused.value.status_code == 403
    with db.connection() as conn:
        jobs = conn.execute("SELECT count(*) AS n FROM stacworks.processing_executions WHERE "
                            "workflow_id = %s", (workflow,)).fetchone()
    assert jobs is not None and jobs["n"] == 1  # the past run only: nothing was recorded

    # the estimate of the next run counts too: a budget just above spending refuses a costly run
    budgets.set(workflow, None, soft_usd=None, hard_usd=round(expected + 0.001, 6))
    budgets.admit(workflow, 0.0005)
    with pytest.raises(BudgetExceeded):
        budgets.admit(workflow, 0.002)


class _Receiver(BaseHTTPRequestHandler):
    """Answers 500 to the first delivery, 200 after; keeps what it got."""

    got: list[tuple[bytes, dict[str, str], int]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if not self.got else 200
        self.got.append((body, dict(self.headers), status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, dict[str, str], int]]]]:
    handler = type("Receiver", (_Receiver,), {"got": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler.got
    finally:
        server.shutdown()
        server.server_close()


def test_webhooks_signed_retried_and_logged(db: Database, receiver: Any) -> None:
    url, got = receiver
    owner = f"hook-{uuid.uuid4().hex[:8]}"
    settings = TriggerSettings(webhook_backoff_seconds=30, webhook_max_attempts=3,
                               allow_private_urls=True)
    hooks = Webhooks(db, settings)
    hook = hooks.create(owner, url, ["job.finished", "job.failed", "budget.threshold"])
    job = _past_run(db, "hooked-wf", owner, [(256, 512, 1.0)])
    _past_run(db, "hooked-wf", "someone-else", [(256, 512, 1.0)])  # not this owner's

    assert hooks.emit_job_events() >= 1
    hooks.emit_job_events()  # once per job and status: still one delivery below
    # the outbox is the whole session's: other suites' due deliveries go out too, so each
    # step is judged by this hook's own delivery, not by deliver_due's count
    now = datetime.now(UTC)
    hooks.deliver_due(now, limit=1000)
    (delivery,) = hooks.deliveries(hook["id"])
    assert delivery["status"] == "pending" and delivery["last_status"] == 500
    assert delivery["attempts"] == 1
    hooks.deliver_due(now + timedelta(seconds=10), limit=1000)
    (delivery,) = hooks.deliveries(hook["id"])
    assert delivery["attempts"] == 1  # backing off
    hooks.deliver_due(now + timedelta(seconds=31), limit=1000)
    (delivery,) = hooks.deliveries(hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert [a["status"] for a in delivery["log"]] == [500, 200]

    assert [status for *_, status in got] == [500, 200]
    for body, headers, _ in got:
        assert verify(hook["secret"], body, headers[SIGNATURE_HEADER])
        assert not verify("wrong-secret-0123456789", body, headers[SIGNATURE_HEADER])
        assert not verify(hook["secret"], body + b" ", headers[SIGNATURE_HEADER])
        event = json.loads(body)
        assert event["event"] == "job.finished"
        assert event["data"]["job_id"] == job and headers["X-Stacworks-Event"] == "job.finished"

    # a soft budget crossed is announced once a month, to the budget owner's webhooks
    budgets = Budgets(db, ProcessingSettings(), announce=hooks.emit)
    budgets.set("hooked-wf", owner, soft_usd=0.0, hard_usd=None)
    budgets.admit("hooked-wf", 0.01)
    budgets.admit("hooked-wf", 0.01)
    alerts = [d for d in hooks.deliveries(hook["id"]) if d["event"] == "budget.threshold"]
    assert len(alerts) == 1 and alerts[0]["payload"]["data"]["level"] == "soft"


def test_webhook_gives_up_and_checks_urls(db: Database) -> None:
    from processing.errors import InvalidInput

    hooks = Webhooks(db, TriggerSettings(webhook_max_attempts=2, webhook_backoff_seconds=0,
                                         webhook_timeout_seconds=1, allow_private_urls=True))
    dead = hooks.create(f"dead-{uuid.uuid4().hex[:6]}", "http://127.0.0.1:9/nothing",
                        ["budget.threshold"])
    hooks.emit("budget.threshold", "k1", dead["owner"], {"x": 1})
    hooks.deliver_due(datetime.now(UTC) + timedelta(seconds=1))
    hooks.deliver_due(datetime.now(UTC) + timedelta(seconds=2))
    (delivery,) = hooks.deliveries(dead["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 2
    assert "connection failed" in delivery["last_error"]
    strict = Webhooks(db, TriggerSettings())  # the default
    with pytest.raises(InvalidInput, match="private"):
        strict.create("x", "http://127.0.0.1:8080/", ["job.failed"])
    with pytest.raises(InvalidInput, match="events"):
        hooks.create("x", "http://example.org/", ["job.exploded"])


def test_a_saved_search_that_finds_nothing_starts_nothing(db: Database, tmp_path: Path) -> None:
    from processing.triggers.engine import TriggerEngine
    from processing.triggers.store import ScheduleDoc, TriggerStore

    manager = ExecutionManager(db=db, settings=ProcessingSettings(), dsn=db.dsn, home=tmp_path,
                               object_store=LocalStore(tmp_path / "objects"))
    workflow = f"empty-{uuid.uuid4().hex[:8]}"
    WorkflowStore(db).create(workflow_from_document(PASS_ASL, workflow_id=workflow))
    settings = TriggerSettings()
    store = TriggerStore(db, settings)
    row = store.create_schedule(ScheduleDoc(
        workflow_id=workflow, cron="0 * * * *",
        inputs={"search": {"collections": ["no-such-collection"]}}), None)
    created = datetime(2032, 5, 1, 9, 30, tzinfo=UTC)  # ahead of any real trigger loop
    with db.connection() as conn:
        conn.execute("UPDATE stacworks.trigger_schedules SET created_at = %s WHERE id = %s",
                     (created, row["id"]))
    engine = TriggerEngine(db, settings,
                           lambda w, i, o: manager.submit(w, i, stac_url=None, principal=o),
                           Webhooks(db, settings))
    engine.tick(created + timedelta(minutes=31))
    (firing,) = store.firings(row["id"])
    assert firing["status"] == "no-items" and firing["execution_ids"] == []
    store.delete(row["id"])


def test_runs_submitted_at_once_cannot_all_pass_a_budget(dsn: str, tmp_path: Path) -> None:
    """Queued runs count with their estimate, and the check is held until the run is recorded:
    five runs of $1 submitted together against $2.50 of room, two pass."""
    workflow = f"burst-{uuid.uuid4().hex[:8]}"
    db = Database(dsn, max_size=6)  # a connection each, waiting on the lock
    budgets = Budgets(db, ProcessingSettings())
    budgets.set(workflow, None, soft_usd=None, hard_usd=2.5)
    barrier = threading.Barrier(5)
    passed: list[str] = []
    refused: list[BudgetExceeded] = []

    def submit() -> None:
        barrier.wait()
        execution = uuid.uuid4().hex
        try:
            with budgets.admission(workflow, 1.0) as (conn, context):
                threading.Event().wait(0.1)  # a slow insert: others are checking meanwhile
                conn.execute(
                    "INSERT INTO stacworks.processing_executions (id, process_id, workflow_id, "
                    "output_collection, definition, context, status, input) VALUES "
                    "(%s, %s, %s, 'out', '{}', %s, 'accepted', '{}')",
                    (execution, workflow, workflow, json.dumps(context)))
            passed.append(execution)
        except BudgetExceeded as exc:
            refused.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(passed) == 2 and len(refused) == 3
    assert budgets.status(workflow)["pending_usd"] == pytest.approx(2.0)
    with db.connection() as conn:  # one finished: it no longer holds its estimate
        conn.execute("UPDATE stacworks.processing_executions SET status = 'successful' "
                     "WHERE id = %s", (passed[0],))
    budgets.admit(workflow, 1.0)

    # through the manager: the estimate lands on the job's context
    manager = ExecutionManager(db=db, settings=ProcessingSettings(), dsn=db.dsn, home=tmp_path,
                               object_store=LocalStore(tmp_path / "objects"))
    Triggers.for_manager(manager, TriggerSettings(enabled=False))
    WorkflowStore(db).create(workflow_from_document(PASS_ASL, workflow_id=workflow))
    job = manager.submit(workflow, {"items": ["c/a"]}, stac_url=None)
    assert "estimate_usd" in job["context"]
    db.close()
