"""Triggers under access control: a trigger or webhook is its creator's (others get 404, admins
see all), it reads only what its creator may read and ingests only where they may write; a
budget is set by the workflow's owner or an admin."""

from __future__ import annotations

import uuid

import httpx

from tests.access.conftest import PRIVATE, SHARED, Secured

NEVER = "0 0 29 2 *"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def test_triggers_are_their_owners(secured: Secured) -> None:
    s = secured
    wf = f"acc-trig-{uuid.uuid4().hex[:6]}"
    assert s.post("editor", "/workflows", {"id": wf, "definition": PASS}).status_code == 201

    def triggers(who: str) -> set[str]:
        r = s.get(who, "/triggers")
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()["triggers"]}

    made = s.post("editor", "/triggers/subscriptions", {
        "collection": PRIVATE, "cron": NEVER, "workflow_id": wf,
        "search": {"filter": "eo:cloud_cover < 20"}})
    assert made.status_code == 201, made.text
    sub = made.json()
    assert sub["owner"] == s.principals["editor"]
    assert sub["id"] in triggers("editor") and sub["id"] in triggers("admin")
    assert sub["id"] not in triggers("editor2") and sub["id"] not in triggers("viewer")
    for path in ("", "/firings", "/products"):
        assert s.get("editor2", f"/triggers/{sub['id']}{path}").status_code == 404
        assert s.get("admin", f"/triggers/{sub['id']}{path}").status_code == 200
    assert s.post("editor2", f"/triggers/{sub['id']}/pause", None).status_code == 404
    assert s.post("viewer", f"/triggers/{sub['id']}/pause", None).status_code == 403
    assert httpx.get(f"{s.base}/triggers", timeout=10).status_code == 401

    # what the creator may not read or write
    hidden = s.post("editor2", "/triggers/subscriptions", {"collection": PRIVATE, "cron": NEVER})
    assert hidden.status_code == 400 and "no such collection" in hidden.json()["detail"]
    watch = s.post("editor2", "/triggers/watches", {"collection": PRIVATE, "workflow_id": wf})
    assert watch.status_code == 400
    ingest = s.post("viewer", "/triggers/subscriptions", {
        "source": "stac:http://127.0.0.1:9", "collection": SHARED, "cron": NEVER})
    assert ingest.status_code == 403  # viewers create nothing
    foreign = s.post("editor2", "/triggers/subscriptions", {
        "source": "stac:http://127.0.0.1:9", "collection": SHARED, "cron": NEVER})
    assert foreign.status_code in (403, 404), foreign.text  # no ingest into others' collections
    schedule = s.post("editor2", "/triggers/schedules", {
        "workflow_id": wf, "cron": NEVER, "inputs": {"collection": PRIVATE, "ids": ["x"]}})
    assert schedule.status_code == 400
    local = s.post("editor2", "/triggers/schedules", {
        "workflow_id": wf, "cron": NEVER, "inputs": {"items": ["/etc/hostname"]}})
    assert local.status_code == 400 and "inputs.items" in local.json()["detail"]  # no files
    wide = s.post("editor2", "/triggers/schedules", {
        "workflow_id": wf, "cron": NEVER, "inputs": {"search": {"limit": 1}}})
    assert wide.status_code == 201, wide.text  # fired without a request: narrowed now
    assert PRIVATE not in wide.json()["inputs"]["search"]["collections"]
    assert httpx.delete(f"{s.base}/triggers/{wide.json()['id']}", headers=s.headers("editor2"),
                        timeout=10).status_code == 204

    # webhooks: the creator's; the secret shown once
    hook = s.post("editor", "/triggers/webhooks", {"url": "http://127.0.0.1:9/h"})
    assert hook.status_code == 201 and hook.json()["secret"]
    assert hook.json()["id"] not in {h["id"] for h in s.get("editor2", "/triggers/webhooks")
                                     .json()["webhooks"]}
    assert s.get("editor2", f"/triggers/webhooks/{hook.json()['id']}/deliveries").status_code \
        == 404

    # budgets: the workflow's owner and admins
    budget = {"soft_usd": 1, "hard_usd": 2}
    assert httpx.put(f"{s.base}/triggers/budgets/{wf}", json=budget, timeout=10,
                     headers=s.headers("editor2")).status_code == 403
    assert httpx.put(f"{s.base}/triggers/budgets/{wf}", json=budget, timeout=10,
                     headers=s.headers("editor")).status_code == 200
    assert s.get("viewer", f"/triggers/budgets/{wf}").json()["hard_usd"] == 2

    for path in (f"/triggers/{sub['id']}", f"/triggers/webhooks/{hook.json()['id']}",
                 f"/triggers/budgets/{wf}"):
        assert httpx.delete(f"{s.base}{path}", headers=s.headers("editor"),
                            timeout=10).status_code == 204
