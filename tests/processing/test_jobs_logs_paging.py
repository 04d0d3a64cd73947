"""``GET /jobs/{id}/logs``: bad ``limit``/``after``/``task`` are 400s naming the parameter
(never a 500, even past PostgreSQL's bigint), and a page is at most
``STACWORKS_PROCESSING_LOG_PAGE_LINES`` lines whatever ``limit`` asks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.testclient import TestClient

from catalog.access import Access, AccessSettings
from catalog.settings import CatalogSettings
from processing.jobs_api import ProcessesFactory
from processing.journal import LogLine
from processing.settings import ProcessingSettings


def test_log_pages_are_bounded_and_bad_parameters_named(stacworks_env: dict[str, str],
                                                         dsn: str) -> None:
    catalog = CatalogSettings(home=stacworks_env["STACWORKS_HOME"],
                              db_port=int(stacworks_env["STACWORKS_DB_PORT"]))
    factory = ProcessesFactory.local(catalog, ProcessingSettings(log_page_lines=3),
                                     access=Access(dsn, AccessSettings(enabled=False)))
    job = uuid.uuid4().hex
    with TestClient(factory.create_app()) as api:
        executions = factory.manager.executions
        executions.create({"id": job, "process_id": "logs-probe", "workflow_id": "logs-probe",
                           "workflow_version": None, "output_collection": "logs-probe",
                           "definition": {}, "context": {}, "input": {}, "principal": None})
        run = executions.start_task_run({
            "execution_id": job, "run": 1, "state_name": "T", "state_path": "T",
            "map_index": None, "retry_count": 0, "algorithm": "probe",
            "algorithm_version": "1", "token": uuid.uuid4().hex, "cpu": 256, "memory": 512})
        now = datetime.now(UTC)
        executions.write_batch(job, 1, [], [LogLine(job, run, "T", None, "stdout", f"l{n}", now)
                                            for n in range(5)])
        url = f"/jobs/{job}/logs"
        for name, value in [("limit", "0"), ("limit", "abc"), ("after", "-1"),
                            ("after", str(2**63)), ("task", str(2**70)), ("task", "0")]:
            answer = api.get(url, params={name: value})
            assert answer.status_code == 400, (name, value, answer.text)
            assert f"query.{name}" in answer.json()["detail"], answer.text
        first = api.get(url, params={"limit": 10**30}).json()  # capped at 3, then paged on
        assert first["next_after"] is not None
        rest = api.get(url, params={"after": first["next_after"]}).json()
        assert rest["next_after"] is None
        assert api.get(url, params={"after": 2**63 - 1}).json()["next_after"] is None
    lines = [line["message"] for page in (first, rest) for task in page["tasks"]
             for line in task["lines"]]
    assert lines == [f"l{n}" for n in range(5)]
