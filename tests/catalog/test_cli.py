"""The `stacworks` CLI as a subprocess: loading, and clear errors instead of tracebacks."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port, stacworks, world_traversable_tmpdir


def _count(dsn: str, collection: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pgstac.items WHERE collection = %s", (collection,)
        ).fetchone()
    return int(row[0]) if row else 0


def _write(tmp: Path, name: str, doc: object) -> Path:
    p = tmp / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


@pytest.fixture()
def cli_collection(tmp_path: Path, shared_data: Path, dsn: str) -> Iterator[tuple[Path, Path, str]]:
    coll = json.loads((shared_data / "stac/joplin/collection.json").read_text())
    cid = f"cli-{tmp_path.name[-12:].lower().replace('_', '-')}"
    coll["id"] = cid
    items = json.loads((shared_data / "stac/joplin/index.geojson").read_text())["features"][:5]
    for f in items:
        f["collection"] = cid
    ndjson = "\n".join(json.dumps(f) for f in items) + "\n"
    yield _write(tmp_path, "c.json", coll), _write(tmp_path, "items.ndjson", ndjson), cid
    # Copies of joplin items: remove them so searches over Joplin elsewhere see only joplin.
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pgstac.collections WHERE id = %s", (cid,)).fetchone():
            conn.execute("SELECT pgstac.delete_collection(%s)", (cid,))


def test_db_status_reports_running(stacworks_env: dict[str, str]) -> None:
    res = stacworks("db", "status", env=stacworks_env)
    assert "running" in res.stdout and "***" in res.stdout
    assert "stacworks@" not in res.stdout  # password never shown


def test_load_modes(stacworks_env: dict[str, str], dsn: str, cli_collection) -> None:
    coll, items, cid = cli_collection
    res = stacworks("load", str(coll), str(items), env=stacworks_env)
    assert "1 collection(s) and 5 item(s)" in res.stdout
    assert _count(dsn, cid) == 5
    again = stacworks("load", str(items), env=stacworks_env, check=False)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert stacworks("load", "--mode", "ignore", str(items), env=stacworks_env).returncode == 0
    assert stacworks("load", "--mode", "upsert", str(items), env=stacworks_env).returncode == 0
    assert _count(dsn, cid) == 5


def test_bad_files_write_nothing(
    stacworks_env: dict[str, str], dsn: str, cli_collection, tmp_path: Path
) -> None:
    coll, items, cid = cli_collection
    stacworks("load", str(coll), env=stacworks_env)
    good = [json.loads(line) for line in items.read_text().splitlines()]
    broken = good[:3] + [{**good[3], "properties": {}}]  # the 4th item has no datetime
    bad = _write(tmp_path, "bad.json", {"type": "FeatureCollection", "features": broken})
    res = stacworks("load", str(bad), env=stacworks_env, check=False)
    assert res.returncode == 1 and "datetime" in res.stderr and "Traceback" not in res.stderr
    assert _count(dsn, cid) == 0

    not_json = _write(tmp_path, "x.json", "{this is not json")
    res = stacworks("load", str(not_json), env=stacworks_env, check=False)
    assert res.returncode == 1 and "x.json" in res.stderr

    orphan = [{**good[0], "collection": "no-such-collection"}]
    res = stacworks("load", str(_write(tmp_path, "o.json", orphan)), env=stacworks_env, check=False)
    assert res.returncode == 1 and "no-such-collection" in res.stderr
    assert _count(dsn, cid) == 0

    # PostGIS stores a nested GeometryCollection but cannot give it back: refused before writing.
    nested = {"type": "GeometryCollection", "geometries": [
        {"type": "GeometryCollection", "geometries": [good[1]["geometry"]]}]}
    broken = [good[0], {**good[1], "geometry": nested}]
    res = stacworks("load", str(_write(tmp_path, "n.json", broken)), env=stacworks_env, check=False)
    assert res.returncode == 1 and "geometry.geometries.0" in res.stderr, res.stderr
    assert _count(dsn, cid) == 0


def _error_of(*args: str, env: dict[str, str]) -> str:
    res = stacworks(*args, env=env, check=False, timeout=60)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res.stderr.replace("\n", " ")


def test_clear_errors_for_database_problems(stacworks_env: dict[str, str], dsn: str) -> None:
    dead = {
        **stacworks_env,
        "STACWORKS_DATABASE_URL": f"postgresql://x:y@127.0.0.1:{free_port()}/db",
    }
    assert "cannot reach the database" in _error_of("db", "migrate", env=dead)
    port = stacworks_env["STACWORKS_DB_PORT"]
    # trust auth on the private cluster accepts any password; an unknown role still fails.
    wrong = {
        **stacworks_env,
        "STACWORKS_DATABASE_URL": f"postgresql://nobody:secret-pw@127.0.0.1:{port}/stacworks",
    }
    msg = _error_of("db", "migrate", env=wrong)
    assert "secret-pw" not in msg
    assert "user name or password" in msg


def test_clear_errors_for_machine_problems(stacworks_env: dict[str, str], tmp_path: Path) -> None:
    no_pg = {
        **stacworks_env,
        "STACWORKS_PG_BIN": str(tmp_path),
        "STACWORKS_HOME": str(tmp_path / "h"),
    }
    assert "initdb" in _error_of("db", "start", env=no_pg)

    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert "not writable" in _error_of(
            "db", "start", env={**stacworks_env, "STACWORKS_HOME": str(ro / "h")}
        )
    else:
        blocker = world_traversable_tmpdir("stacworks-file-")
        (blocker / "file").write_text("a file, not a folder")
        msg = _error_of(
            "db", "start", env={**stacworks_env, "STACWORKS_HOME": str(blocker / "file" / "h")}
        )
        assert "not writable" in msg

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        fresh = world_traversable_tmpdir("stacworks-port-")
        env = {**stacworks_env, "STACWORKS_HOME": str(fresh / "h"), "STACWORKS_DB_PORT": str(busy)}
        assert "in use" in _error_of("db", "start", env=env)
        assert "in use" in _error_of("serve", "--port", str(busy), env=stacworks_env)


def test_serve_one_service_alone(stacworks_env: dict[str, str]) -> None:
    from tests.harness import serve

    with serve(stacworks_env, "stac") as base:
        body = httpx.get(f"{base}/stac/").json()
        assert body["type"] == "Catalog"
    assert "unknown service" in _error_of("serve", "nope", env=stacworks_env)
