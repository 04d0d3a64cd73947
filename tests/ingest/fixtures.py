"""Session fixtures for the end-to-end ingest tests (imported by tests/conftest.py).

- ``loopback``: the static STAC API + file server publishing the real sample products;
- ``ingest_env``: the CLI environment: the session's database, eodag kept on loopback
  (EODAG_CFG_DIR / EODAG_PROVIDERS_CFG_DIR / EODAG_EXT_COLLECTIONS_CFG_URI), schemas offline,
  fast heartbeats so a killed worker is noticed in seconds;
- ``ingest_s3``: a moto S3 server over HTTP and the env that points the store at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import free_port, remove_tree, serve, stacworks, world_traversable_tmpdir
from tests.ingest.loopback import StaticStac, serve_static_stac
from tests.ingest.publish import publish_all


@dataclass
class Loopback:
    base: str
    stac: StaticStac
    published: dict[str, Any]


@pytest.fixture(scope="session")
def loopback(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loopback]:
    stac = StaticStac()
    with serve_static_stac(stac) as base:
        published = publish_all(stac, shared_data, tmp_path_factory.mktemp("bad"))
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
    home = world_traversable_tmpdir("stacworks-ingest-")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("STACWORKS_", "EODAG_", "AWS_"))
    }
    env.update({"STACWORKS_HOME": str(home / "home"), "STACWORKS_DB_PORT": str(free_port()),
                "STACWORKS_AUTH_ENABLED": "false"})  # feature tests; tests/access does security
    stacworks("db", "start", env=env)
    stacworks("db", "migrate", env=env)
    try:
        yield env
    finally:
        stacworks("db", "stop", env=env, check=False)
        remove_tree(home)


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
        }
    )
    return env


@pytest.fixture(scope="session")
def ingest_s3(ingest_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """moto_server on loopback and a bucket; yields the env that stores objects there."""
    import boto3

    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
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
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
