"""A job whose task kills its server every time (as a task exhausting memory would get the
server killed): each restart resumes it until ``STACWORKS_PROCESSING_MAX_CRASHED_RUNS`` runs
have crashed, then the next server fails it with the reason; the staging folders the dead
runs left are removed when the job is resumed and when it ends."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.harness import serve_process
from tests.processing.jobs_fixtures import (
    ProcessingData,
    register_algorithm,
    shell_algorithm,
    start_job,
    wait_job,
)
from tests.processing.test_jobs_ndvi import ecs_task

pytestmark = pytest.mark.slow  # real servers and workers, end to end

#: Leaves a file in its staging folder, records the run, then kills the server that started it.
KILLER = ('echo leftover > leftover.txt; echo "$PWD" >> "$MARKER"; sleep 0.3; '
          'kill -9 "$PPID"; sleep 30')


@contextmanager
def own_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`stacworks serve processes` (the jobs API and its executor alone: a quicker start)."""
    with serve_process(env, "processes", log=log, timeout=90) as running:
        yield running


def test_job_whose_task_kills_the_server_fails_after_max_crashed_runs(
    stacworks_env: dict[str, str], processing_data: ProcessingData, tmp_path: Path
) -> None:
    env = {**stacworks_env, "STACWORKS_PROCESSING_MAX_CRASHED_RUNS": "2"}
    register_algorithm(env, tmp_path, shell_algorithm("server-killer", KILLER))
    marker = tmp_path / "runs"
    task = ecs_task("server-killer")
    task["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"].append(
        {"Name": "MARKER", "Value": str(marker)})
    d = processing_data
    job = ""
    for run in (1, 2):  # the first server starts it, the second resumes it: both die
        with own_server(env, tmp_path / f"serve{run}.log") as (base, proc), \
                httpx.Client(base_url=base, timeout=30) as client:
            if run == 1:
                doc = {"id": "kills-its-server",
                       "definition": {"StartAt": "Kill", "States": {"Kill": task}}}
                r = client.post("/workflows", json=doc)
                assert r.status_code in (201, 409), r.text
                job = start_job(client, "kills-its-server", {"items": [f"{d.s2}/{d.s2_item}"]})
            proc.wait(60)  # killed by its task
            assert proc.returncode == -9
        staged = [Path(p) for p in marker.read_text().split()]
        assert len(staged) == run
        assert (staged[-1] / "leftover.txt").exists()  # what the dead run left
        if run == 2:
            assert not staged[0].exists(), "resuming removes the dead runs' staging folders"
    with own_server(env, tmp_path / "serve3.log") as (base, _), \
            httpx.Client(base_url=base, timeout=30) as client:
        info = wait_job(client, job, timeout=30)
        assert info["status"] == "failed", info
        assert info["error"] == "Stacworks.WorkerCrashed"
        assert "stopped while a task ran, in 2 runs" in info["cause"]
        assert "STACWORKS_PROCESSING_MAX_CRASHED_RUNS=2" in info["cause"]
        assert len(marker.read_text().split()) == 2, "not started a third time"
        tasks = client.get(f"/jobs/{job}/logs").json()["tasks"]
        assert [t["status"] for t in tasks] == ["abandoned", "abandoned"]
    staging = Path(staged[0]).parent
    assert staging.name == job
    assert not staging.exists(), "a finished job's staging folder is removed"
