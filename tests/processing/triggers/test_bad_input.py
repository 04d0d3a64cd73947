"""Bad input on /triggers: a 4xx naming the field and nothing stored; outbound requests only to
public addresses unless allowed, re-checked when sent, the receiver's body never read."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from processing.db import Database
from processing.errors import InvalidInput
from processing.triggers.settings import TriggerSettings
from processing.triggers.webhooks import Webhooks, check_url
from tests.processing.triggers.test_budgets_webhooks import PASS_ASL

TABLES = ("trigger_schedules", "trigger_subscriptions", "trigger_watches", "trigger_webhooks")


def _counts(dsn: str) -> dict[str, int]:
    db = Database(dsn, max_size=1)
    try:
        with db.connection() as conn:
            return {t: conn.execute(f"SELECT count(*) AS n FROM stacworks.{t}")  # noqa: S608
                    .fetchone()["n"] for t in TABLES}
    finally:
        db.close()


def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(server: str, dsn: str) -> None:
    wf = f"trig-bad-{uuid.uuid4().hex[:6]}"
    nested = "(" * 2000 + "eo:cloud_cover < 20" + ")" * 2000  # cql2 segfaults on this
    ring = [[5 + i * 1e-5, 45.0] for i in range(20_000)] + [[5.0, 45.1], [5.0, 45.0]]
    sub = {"collection": "joplin", "cron": "0 6 * * *"}
    sched = {"workflow_id": wf, "cron": "0 6 * * *"}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("subscriptions", {**sub, "search": {"filter": nested}}, "search.filter"),
        ("subscriptions", {**sub, "search": {"intersects": {"type": "Polygon",
                                                            "coordinates": [ring]}}},
         "search.intersects"),
        ("subscriptions", {**sub, "search": {"bbox": [10, 10, 0, 0]}}, "search.bbox"),
        ("subscriptions", {**sub, "search": {"window": "PT0M"}}, "search.window"),
        ("subscriptions", {**sub, "source": "whatever"}, "source"),
        ("subscriptions", {**sub, "source": "stac:file:///etc/passwd"}, "source"),
        ("subscriptions", {**sub, "workflow_id": wf, "parameters": {"k": "x"}}, "parameters"),
        ("watches", {"collection": "joplin", "workflow_id": wf, "parameters": {"k": "x"}},
         "parameters"),
        ("schedules", {**sched, "inputs": {"bogus": 1}}, "inputs.bogus"),
        ("schedules", {**sched, "inputs": {"items": 5}}, "inputs.items"),
        ("schedules", {**sched, "inputs": {"items": ["joplin/a"], "parameters": 3}},
         "inputs.parameters"),
        ("schedules", {**sched, "inputs": {"items": ["joplin/a"], "parameters": {"k": "x"}}},
         "inputs.parameters"),
        ("webhooks", {"url": "file:///etc/passwd"}, "url"),
        ("webhooks", {"url": "http://127.0.0.1:99999/x"}, "url"),
    ]
    with httpx.Client(base_url=server, timeout=30) as api:
        doc = {"id": wf, "definition": PASS_ASL, "parameters": {
            "type": "object", "properties": {"k": {"type": "integer"}}}}
        assert api.post("/workflows", json=doc).status_code == 201
        before = _counts(dsn)
        for path, body, field in cases:
            got = api.post(f"/triggers/{path}", json=body)
            assert got.status_code == 400, (path, field, got.text)
            assert got.json()["detail"].split(":")[0].split(".k")[0] == field, got.text
        assert api.get("/healthz").status_code == 200  # still up after the nested filter
    assert _counts(dsn) == before


def test_private_addresses_need_the_allow_setting() -> None:
    for url in ("http://127.0.0.1:8080/", "http://169.254.169.254/latest/meta-data",
                "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://10.1.2.3/",
                "http://100.64.0.1/", "http://[::1]/"):
        with pytest.raises(InvalidInput, match="STACWORKS_TRIGGERS_ALLOW_PRIVATE_URLS"):
            check_url(url, allow_private=False)
        check_url(url, allow_private=True)
    assert TriggerSettings().allow_private_urls is False  # the default


@pytest.fixture
def stalling_receiver() -> Iterator[tuple[str, list[bytes]]]:
    """Answers 200 with a promised 100 MB body, then stalls: only its status may be read."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                got.append(conn.recv(65536))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nxxxx")
                stop.wait(3)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", got
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_delivery_rechecks_the_address_and_reads_no_body(
    dsn: str, stalling_receiver: tuple[str, list[bytes]]
) -> None:
    url, got = stalling_receiver
    db = Database(dsn, max_size=2)
    try:
        allowed = TriggerSettings(allow_private_urls=True, webhook_timeout_seconds=1,
                                  webhook_backoff_seconds=0)
        owner = f"recheck-{uuid.uuid4().hex[:6]}"
        hook = Webhooks(db, allowed).create(owner, url, ["budget.threshold"])
        strict = Webhooks(db, allowed.model_copy(update={"allow_private_urls": False,
                                                         "webhook_max_attempts": 1}))
        strict.emit("budget.threshold", "k-strict", owner, {"x": 1})
        strict.deliver_due(datetime.now(UTC) + timedelta(seconds=1))
        (refused,) = strict.deliveries(hook["id"])
        assert refused["status"] == "failed" and "ALLOW_PRIVATE_URLS" in refused["last_error"]
        assert got == []  # nothing was sent

        hooks = Webhooks(db, allowed)
        hooks.emit("budget.threshold", "k-allowed", owner, {"x": 2})
        hooks.deliver_due(datetime.now(UTC) + timedelta(seconds=2))
        delivered, _ = hooks.deliveries(hook["id"])
        assert delivered["event_key"] == "k-allowed"
        # read, the stalled body would time out: the answer is its status alone
        assert delivered["status"] == "delivered" and delivered["last_status"] == 200, delivered
        assert len(got) == 1
    finally:
        db.close()
