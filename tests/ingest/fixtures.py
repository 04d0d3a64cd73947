"""Session fixtures for the end-to-end ingest tests (imported by tests/conftest.py).

- ``loopback``: the static STAC API + file server publishing the real sample products;
- ``ingest_env``: the CLI environment: the session's database, eodag kept on loopback
  (EODAG_CFG_DIR / EODAG_PROVIDERS_CFG_DIR / EODAG_EXT_COLLECTIONS_CFG_URI), schemas offline,
  fast heartbeats so a killed worker is noticed in seconds;
- ``ingest_s3``: a moto S3 server over HTTP and the env that points the store at it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingest.samples.static_stac import StaticStac, serve_static_stac
from tests.harness import moto_server, private_catalog, serve
from tests.ingest.bad_samples import publish_for_tests


@dataclass
class Loopback:
    base: str
    stac: StaticStac
    published: dict[str, Any]


@pytest.fixture(scope="session")
def loopback(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loopback]:
    stac = StaticStac()
    with serve_static_stac(stac) as base:
        published = publish_for_tests(stac, shared_data, tmp_path_factory.mktemp("bad"))
        yield Loopback(base, stac, published)


def _eodag_provider(name: str, base: str) -> str:
    """A StacSearch provider on loopback, shaped like eodag's own provider files."""
    return f"""{name}:
  priority: 0
  description: {name} on loopback (tests)
  url: {base}
  search:
    type: StacSearch
    api_endpoint: {base}/search
    need_auth: false
    discover_collections:
      fetch_url: null
    discover_queryables:
      fetch_url: null
      collection_fetch_url: null
  products:
    GENERIC_COLLECTION:
      _collection: '{{collection}}'
  download:
    type: HTTPDownload
    ssl_verify: false
"""


@pytest.fixture(scope="session")
def eodag_offline(loopback: Loopback, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("eodag")
    (root / "cfg").mkdir()
    (root / "cfg" / "eodag.yml").write_text("")
    (root / "providers").mkdir()
    for name in ("earth_search", "planetary_computer"):
        (root / "providers" / f"{name}.yml").write_text(_eodag_provider(name, loopback.base))
    (root / "ext.json").write_text("{}")
    return {
        "EODAG_CFG_DIR": str(root / "cfg"),
        "EODAG_PROVIDERS_CFG_DIR": str(root / "providers"),
        "EODAG_EXT_COLLECTIONS_CFG_URI": str(root / "ext.json"),
        "EODAG_PROVIDERS_WHITELIST": '["earth_search", "planetary_computer"]',
    }


@pytest.fixture(scope="session")
def ingest_home() -> Iterator[dict[str, str]]:
    """A private database cluster for the ingest tests alone: they add collections and items,
    which would change what the catalog tests (on the shared session catalog) expect."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("STACWORKS_", "EODAG_", "AWS_"))
    }
    clean["STACWORKS_AUTH_ENABLED"] = "false"  # feature tests; tests/access does security
    with private_catalog("stacworks-ingest-", clean) as env:
        yield env


@pytest.fixture(scope="session")
def ingest_env(
    ingest_home: dict[str, str], eodag_offline: dict[str, str], shared_data: Path
) -> dict[str, str]:
    env = dict(ingest_home)
    env.update(eodag_offline)
    env.update(
        {
            "STACWORKS_INGEST_SCHEMA_MIRROR": str(shared_data / "stac-schemas"),
            "STACWORKS_INGEST_HEARTBEAT_S": "1",
            "STACWORKS_INGEST_STALLED_AFTER_S": "3",
            "STACWORKS_INGEST_RETRY_WAIT_S": "1",
            "STACWORKS_INGEST_MAX_ATTEMPTS": "4",
            "STACWORKS_INGEST_HTTP_TIMEOUT_S": "20",
            # Responses give each asset's stored location as alternate.file (see stored_href).
            "STACWORKS_STAC_ALTERNATE_FILE": "true",
        }
    )
    return env


def stored_href(asset: dict[str, Any]) -> str:
    """Where a served asset lives in the store: its href is the /assets download URL, the
    stored location its alternate (``s3``, or ``file`` with STACWORKS_STAC_ALTERNATE_FILE)."""
    alternate = asset.get("alternate") or {}
    for name in ("s3", "file"):
        if name in alternate:
            return str(alternate[name]["href"])
    return str(asset["href"])  # not in the serving store (another bucket, a remote URL)


@pytest.fixture(scope="session")
def ingest_s3(ingest_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """moto_server on loopback and a bucket; yields the env that stores objects there."""
    import boto3

    with moto_server() as endpoint:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket="ingest")
        env = {k: v for k, v in ingest_env.items() if not k.startswith("AWS_")}
        env.update(
            {
                "STACWORKS_STORE": "s3://ingest/objects",
                "STACWORKS_S3_ENDPOINT": endpoint,
                "STACWORKS_S3_ACCESS_KEY_ID": "test",
                "STACWORKS_S3_SECRET_ACCESS_KEY": "test",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        yield env


@pytest.fixture(scope="session")
def ingest_server(
    ingest_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`stacworks serve` (STAC, ingest, tiles, ...) on the ingest tests' database."""
    with serve(ingest_env, log=tmp_path_factory.mktemp("ingest-logs") / "serve.log") as base:
        yield base


@pytest.fixture(scope="session")
def ingest_stac_url(ingest_server: str) -> str:
    return f"{ingest_server}/stac"


def catalog_settings(env: dict[str, str]) -> Any:
    from catalog.settings import CatalogSettings

    return CatalogSettings(home=env["STACWORKS_HOME"], db_port=int(env["STACWORKS_DB_PORT"]))


def store_for(env: dict[str, str]) -> Any:
    """The store the CLI in ``env`` writes to, built the same way (settings from ``env``)."""
    from objectstore import load_settings, store_from_settings

    keys = [k for k in env if k.startswith("STACWORKS_")]
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: env[k] for k in keys})
    try:
        settings = load_settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return store_from_settings(settings)
