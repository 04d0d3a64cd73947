"""Workflows and algorithms over HTTP: versions, duplicate, export/import, delete, estimates,
and 4xx answers that name the field."""

from __future__ import annotations

import httpx

from tests.processing.test_workflow_cli import CHOICE


def test_workflow_lifecycle(api: httpx.Client) -> None:
    api.delete("/workflows/api-flow")
    api.delete("/workflows/api-flow-copy")
    created = api.post("/workflows/import", params={"id": "api-flow"}, json=CHOICE)
    assert created.status_code == 201 and created.json()["version"] == 1
    changed = {**CHOICE, "Comment": "second"}
    updated = api.put("/workflows/api-flow", json={"definition": changed, "title": "Two"})
    assert updated.status_code == 200 and updated.json()["version"] == 2
    assert api.get("/workflows/api-flow/asl").json()["Comment"] == "second"
    assert api.get("/workflows/api-flow/asl", params={"version": 1}).json() == CHOICE
    assert [v["version"] for v in api.get("/workflows/api-flow/versions").json()["versions"]] == [
        1, 2]
    copy = api.post("/workflows/api-flow/duplicate", json={"id": "api-flow-copy"})
    assert copy.status_code == 201 and copy.json()["definition"]["Comment"] == "second"
    ids = {w["id"] for w in api.get("/workflows").json()["workflows"]}
    assert {"api-flow", "api-flow-copy"} <= ids
    assert "api-flow" in {p["id"] for p in api.get("/processes").json()["processes"]}
    assert api.delete("/workflows/api-flow-copy").status_code == 204
    assert api.get("/workflows/api-flow-copy").status_code == 404
    assert api.post("/workflows/import", params={"id": "api-flow"}, json=CHOICE).status_code == 409


def test_bad_documents_name_the_field(api: httpx.Client) -> None:
    broken = {**CHOICE, "States": {**CHOICE["States"], "Double": {"Type": "Pass",
                                                                  "Next": "Nowhere"}}}
    response = api.post("/workflows", json={"id": "broken", "definition": broken})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("definition.States.Double.Next")
    bad_id = api.post("/workflows", json={"id": "Bad Id!", "definition": CHOICE})
    assert bad_id.status_code == 400 and bad_id.json()["detail"].startswith("id")
    algorithm = {"name": "tiny", "version": "1", "cpu": 256, "memory": 4096,
                 "local_command": ["/bin/true"]}
    response = api.post("/algorithms", json=algorithm)
    assert response.status_code == 400 and response.json()["detail"].startswith("memory")
    response = api.post("/algorithms", json={**algorithm, "memory": 512,
                                             "parameters": {"type": "nonsense"}})
    assert response.status_code == 400 and response.json()["detail"].startswith("parameters")


def test_algorithms_and_estimate(api: httpx.Client) -> None:
    algorithm = {"name": "api-echo", "version": "1.0.0", "cpu": "0.5 vCPU", "memory": "1 GB",
                 "local_command": ["/bin/echo", "hello"], "typical_duration_seconds": 600}
    api.delete("/algorithms/api-echo")
    created = api.post("/algorithms", json=algorithm)
    assert created.status_code == 201 and created.json()["cpu"] == 512
    assert created.json()["memory"] == 1024
    assert api.post("/algorithms", json=algorithm).status_code == 409
    assert api.post("/algorithms", params={"replace": "true"}, json=algorithm).status_code == 201
    assert api.get("/algorithms/api-echo").json()["version"] == "1.0.0"
    estimate = api.post("/processes/algorithm:api-echo/estimate", json={"item_count": 4}).json()
    each = (0.5 * 0.04048 + 1 * 0.004445) * 600 / 3600
    assert estimate["task_runs"] == 4
    assert abs(estimate["cost_usd"] - 4 * each) < 1e-6
    assert api.delete("/algorithms/api-echo").status_code == 204
    assert api.get("/algorithms/api-echo").status_code == 404


def test_validate_names_every_problem_on_its_state(api: httpx.Client) -> None:
    """What the workflow builder shows on its nodes: every issue, nothing stored."""
    ok = api.post("/workflows/validate", json=CHOICE)
    assert ok.status_code == 200 and ok.json()["valid"] is True, ok.text
    broken = {**CHOICE, "States": {**CHOICE["States"], "Stop": {"Type": "Succeed",
                                                                "Next": CHOICE["StartAt"]}}}
    found = api.post("/workflows/validate", json={"definition": broken}).json()
    assert found["valid"] is False
    assert {"Stop"} <= {e["state"] for e in found["errors"]}
    assert all(e["code"] and e["message"] for e in found["errors"])
    assert api.get("/workflows/validate").status_code == 404  # no workflow is called that
