"""Session-wide fixtures shared by every part's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample data beside the checkout (never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def env_no_db(tmp_path: Path) -> dict[str, str]:
    """An environment with no database at all: commands that need none must not try one."""
    env = {**os.environ, "STACWORKS_HOME": str(tmp_path / "nothing-here"),
           "STACWORKS_DB_PORT": "1"}
    env.pop("STACWORKS_DATABASE_URL", None)
    return env


from collections.abc import Iterator  # noqa: E402

from tests.harness import private_catalog, serve, stacworks  # noqa: E402

# The catalog sample set every search test reads: real collections and items.
SAMPLE_STAC = [
    "stac/joplin/collection.json",
    "stac/joplin/index.geojson",
    "stac/pgstac-test/collections.json",
    "stac/pgstac-test/items.ndjson",
    "stac/earth-search-v1/collections/sentinel-2-l2a.json",
    "stac/earth-search-v1/collections/landsat-c2-l2.json",
]


@pytest.fixture(scope="session")
def stacworks_env() -> Iterator[dict[str, str]]:
    """A private data folder and PostgreSQL cluster for the session, via `stacworks db start`."""
    # The legacy suites test features, not access control: they read and write anonymously.
    # The security suite (tests/access) serves the same database with access control on.
    base = {**os.environ, "STACWORKS_AUTH_ENABLED": "false"}
    # Webhook receivers and STAC sources in the tests live on loopback (off by default).
    base["STACWORKS_TRIGGERS_ALLOW_PRIVATE_URLS"] = "true"
    with private_catalog("stacworks-test-", base) as env:
        yield env


@pytest.fixture(scope="session")
def dsn(stacworks_env: dict[str, str]) -> str:
    from catalog.settings import CatalogSettings

    return CatalogSettings(
        home=stacworks_env["STACWORKS_HOME"], db_port=int(stacworks_env["STACWORKS_DB_PORT"])
    ).dsn


@pytest.fixture(scope="session")
def sample_loaded(stacworks_env: dict[str, str], shared_data: Path) -> list[Path]:
    """The real sample catalog loaded through the CLI (upsert, so reruns are harmless)."""
    paths = [shared_data / p for p in SAMPLE_STAC]
    paths += sorted((shared_data / "stac/earth-search-v1/items/sentinel-2-l2a").glob("*.json"))
    paths += sorted((shared_data / "stac/earth-search-v1/items/landsat-c2-l2").glob("*.json"))
    stacworks("load", "--mode", "upsert", *map(str, paths), env=stacworks_env)
    return paths


@pytest.fixture(scope="session")
def server(
    stacworks_env: dict[str, str],
    sample_loaded: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """`stacworks serve` (every service) on a free loopback port, with the sample data."""
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    with serve(stacworks_env, log=log) as base:
        yield base


@pytest.fixture(scope="session")
def stac_url(server: str) -> str:
    return f"{server}/stac"


# Ingest end-to-end fixtures: loopback STAC + file server, eodag kept offline, moto S3.
from tests.ingest.fixtures import (  # noqa: E402,F401
    eodag_offline,
    ingest_env,
    ingest_home,
    ingest_s3,
    ingest_server,
    ingest_stac_url,
    loopback,
)

# Processing (jobs API) fixtures: input items, the example algorithms registered, an API client.
from tests.processing.jobs_fixtures import api, processing_data  # noqa: E402,F401
