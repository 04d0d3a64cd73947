"""The CDSE (Copernicus Data Space Ecosystem) source through eodag's real ``cop_dataspace``
provider: the OData search eodag builds from our query, the products we make of the recorded
CDSE answer, the Keycloak token and the authenticated archive download, and credentials that
never reach a log line, an error message or a stored product.

The provider's endpoints point at a loopback stand-in (tests/ingest/cdse_fake.py) through
eodag's ``EODAG__COP_DATASPACE__...`` environment overrides; nothing else of its configuration
changes. Each test builds its own gateway (ours is one per process).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.download import fetch
from ingest.errors import SourceError, TransientError, is_retryable
from ingest.samples.publish import safe_zip
from ingest.settings import IngestSettings
from ingest.sources import Product, SearchQuery, eodag_source, get_source
from tests.harness import free_port, stacworks
from tests.ingest.cdse_fake import PRODUCTS, FakeCdse, serve_fake_cdse

USER = "ingest-bot@example.org"
PASSWORD = "Pa55-w0rd-n0t-f0r-l0gs"
COLLECTION = "S2_MSI_L1C"
BBOX = (142.0, 13.0, 145.5, 14.5)
BBOX_WKT = (
    "POLYGON ((142.0000 13.0000, 142.0000 14.5000, 145.5000 14.5000, "
    "145.5000 13.0000, 142.0000 13.0000))"
)


@pytest.fixture(scope="module")
def archive(shared_data: Path) -> bytes:
    """A zipped SAFE product made of the real Sentinel-2 L1C sample files."""
    return safe_zip(shared_data)


@pytest.fixture
def cdse(shared_data: Path, archive: bytes) -> Iterator[FakeCdse]:
    with serve_fake_cdse(shared_data, archive, USER, PASSWORD) as fake:
        yield fake


def _isolate(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Only ``env`` among eodag's and our ingest settings; a fresh eodag gateway."""
    for k in list(os.environ):
        if k.startswith(("EODAG", "STACWORKS_INGEST_")):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(eodag_source, "_dag", None)


@pytest.fixture
def use_cdse(cdse: FakeCdse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCdse]:
    """eodag pointed at the fake, with our CDSE credentials set."""
    creds = {"STACWORKS_INGEST_CDSE_USERNAME": USER, "STACWORKS_INGEST_CDSE_PASSWORD": PASSWORD}
    _isolate(monkeypatch, cdse.eodag_env(tmp_path / "eodag") | creds)
    yield cdse


def _search(query: SearchQuery) -> list[Product]:
    return list(get_source("cdse", IngestSettings()).search(query))


def _clauses(odata_filter: str) -> set[str]:
    """The ``and``-ed clauses of an OData $filter (split outside parentheses only)."""
    out, depth, start = set(), 0, 0
    for m in re.finditer(r"[()]| and ", odata_filter):
        if m.group() == "(":
            depth += 1
        elif m.group() == ")":
            depth -= 1
        elif depth == 0:
            out.add(odata_filter[start : m.start()])
            start = m.end()
    return out | {odata_filter[start:]}


def _attribute(kind: str, name: str, op: str, value: str) -> str:
    return (
        f"Attributes/OData.CSC.{kind}Attribute/any(att:att/Name eq '{name}' and "
        f"att/OData.CSC.{kind}Attribute/Value {op} {value})"
    )


def _recorded(cdse: FakeCdse) -> list[dict[str, Any]]:
    return list(cdse.recorded["value"])


def _secrets_absent(*texts: str) -> None:
    for text in texts:
        assert USER not in text and PASSWORD not in text


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


# -- search -----------------------------------------------------------------------------------


def test_search_sends_our_query_as_odata(use_cdse: FakeCdse) -> None:
    """Collection, bbox, interval and cloud cover become CDSE's OData $filter; the interval's
    last day counts in full, as for STAC API sources."""
    products = _search(
        SearchQuery(
            collection=COLLECTION, bbox=BBOX, datetime="2020-08-08/2020-08-16", max_cloud=99.5
        )
    )
    assert len(products) == 2
    (search,) = use_cdse.requests_to(PRODUCTS)
    assert _clauses(search.query["$filter"][0]) == {
        "Collection/Name eq 'SENTINEL-2'",
        f"OData.CSC.Intersects(area=geography'SRID=4326;{BBOX_WKT}')",
        _attribute("String", "productType", "eq", "'S2MSI1C'"),
        _attribute("Double", "cloudCover", "le", "99.5"),
        "ContentDate/Start lt 2020-08-16T23:59:59.999Z",
        "ContentDate/End gt 2020-08-08T00:00:00.000Z",
    }
    assert search.query["$orderby"] == ["ContentDate/Start asc"]
    assert search.query["$expand"] == ["Attributes", "Assets"]
    assert search.query["$top"] == ["1000"] and search.query["$skip"] == ["0"]


def test_one_day_search_covers_the_day(use_cdse: FakeCdse) -> None:
    """``--datetime 2020-08-08`` is that whole day (eodag alone asked for an empty window:
    ``Start < 08T00:00 and End > 08T00:00``); ``--limit`` is the page size and the cut."""
    products = _search(SearchQuery(collection=COLLECTION, datetime="2020-08-08", limit=1))
    (search,) = use_cdse.requests_to(PRODUCTS)
    clauses = _clauses(search.query["$filter"][0])
    assert "ContentDate/Start lt 2020-08-08T23:59:59.999Z" in clauses
    assert "ContentDate/End gt 2020-08-08T00:00:00.000Z" in clauses
    assert not any("Intersects" in c or "cloudCover" in c for c in clauses)
    assert search.query["$top"] == ["1"]
    assert [p.item_id for p in products] == [_recorded(use_cdse)[0]["Name"].removesuffix(".SAFE")]


def test_each_id_is_searched(use_cdse: FakeCdse) -> None:
    """``--id`` (repeatable): one by-name search per id (only the first used to be sent), and
    of each answer only the product of that name is kept."""
    names = [v["Name"].removesuffix(".SAFE") for v in reversed(_recorded(use_cdse))]
    products = _search(SearchQuery(collection=COLLECTION, ids=tuple(names)))
    assert [p.item_id for p in products] == names
    searches = use_cdse.requests_to(PRODUCTS)
    assert [_clauses(s.query["$filter"][0]) for s in searches] == [
        {
            "Collection/Name eq 'SENTINEL-2'",
            _attribute("String", "productType", "eq", "'S2MSI1C'"),
            f"contains(Name,'{name}')",
        }
        for name in names
    ]


def test_products_map_the_recorded_answer(use_cdse: FakeCdse) -> None:
    """Each recorded OData product becomes one SAFE product of our collection: id, footprint,
    acquisition time, cloud cover, archive and quicklook hrefs as CDSE gave them."""
    products = _search(SearchQuery(collection=COLLECTION, bbox=BBOX, datetime="2020-08-08"))
    assert len(products) == len(_recorded(use_cdse)) == 2
    for product, odata in zip(products, _recorded(use_cdse), strict=True):
        attrs = {a["Name"]: a["Value"] for a in odata["Attributes"]}
        name = odata["Name"].removesuffix(".SAFE")
        assert (product.source, product.collection, product.kind) == ("cdse", COLLECTION, "safe")
        assert product.item_id == name and product.item["id"] == name
        assert product.item["collection"] == COLLECTION
        assert product.item["geometry"] == odata["GeoFootprint"]
        ring = odata["GeoFootprint"]["coordinates"][0]
        assert product.item["bbox"] == [
            min(x for x, _ in ring),
            min(y for _, y in ring),
            max(x for x, _ in ring),
            max(y for _, y in ring),
        ]
        props = product.item["properties"]
        assert props["datetime"] == props["start_datetime"] == odata["ContentDate"]["Start"]
        assert props["end_datetime"] == odata["ContentDate"]["End"]
        assert props["eo:cloud_cover"] == attrs["cloudCover"]
        assert props["platform"] == "S2A" and props["constellation"] == "SENTINEL-2"
        assert props["grid:code"] == f"MGRS-{attrs['tileId']}"
        assert props["product:type"] == "S2MSI1C"
        assert props["sat:relative_orbit"] == attrs["relativeOrbitNumber"]
        assert props["file:checksum"] == odata["Checksum"][0]["Value"]  # the MD5 one
        assert product.item["assets"]["product"] == {
            "href": f"{use_cdse.base}{PRODUCTS}({odata['Id']})/$value",
            "type": "application/zip",
            "roles": ["data"],
        }
        (quicklook,) = odata["Assets"]
        assert product.item["assets"]["thumbnail"]["href"] == quicklook["DownloadLink"]
        assert product.item["assets"]["thumbnail"]["roles"] == ["thumbnail"]
        # What the run records and the worker receives: JSON, round-trips, holds no secret.
        stored = json.dumps(product.to_json())
        assert Product.from_json(json.loads(stored)) == product
        _secrets_absent(stored)


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [(400, SourceError, "refused the search (400)"), (503, TransientError, "search failed")],
)
def test_search_errors(
    use_cdse: FakeCdse, status: int, error: type[Exception], message: str
) -> None:
    use_cdse.search_status = status
    with pytest.raises(error, match=re.escape(message)):
        _search(SearchQuery(collection=COLLECTION, bbox=BBOX))


@pytest.mark.parametrize("failure", ["no answer", "503"])
def test_identity_service_down_is_transient(
    cdse: FakeCdse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """eodag builds the CDSE token plugin (fetching the OIDC configuration) with every search:
    an identity service that does not answer is a retry, not a crash."""
    env = cdse.eodag_env(tmp_path / "eodag")
    if failure == "no answer":
        env["EODAG__COP_DATASPACE__AUTH__OIDC_CONFIG_URL"] = f"http://127.0.0.1:{free_port()}/"
    else:
        cdse.oidc_status = 503
    _isolate(monkeypatch, env)
    with pytest.raises(TransientError, match="unreachable|authentication service") as e:
        _search(SearchQuery(collection=COLLECTION, bbox=BBOX))
    assert is_retryable(e.value)


# -- download ---------------------------------------------------------------------------------


def test_download_with_a_cdse_token(
    use_cdse: FakeCdse, archive: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's path: our auth for the product (Keycloak password grant), then the archive
    with the token. The credentials go to the token endpoint only, and no log line has them."""
    caplog.set_level(logging.DEBUG)
    source = get_source("cdse", IngestSettings())
    (product,) = source.search(SearchQuery(collection=COLLECTION, bbox=BBOX, limit=1))
    auth = source.auth_for(product)
    dest = tmp_path / "product.zip"
    assert fetch(product.item["assets"]["product"]["href"], dest, auth=auth) == len(archive)
    assert dest.read_bytes() == archive
    with zipfile.ZipFile(io.BytesIO(dest.read_bytes())) as zf:
        assert any(n.endswith(".SAFE/manifest.safe") for n in zf.namelist())

    (grant,) = [s for s in use_cdse.seen if s.method == "POST"]
    assert grant.form["username"] == [USER] and grant.form["password"] == [PASSWORD]
    assert grant.form["client_id"] == ["cdse-public"]
    (download,) = [s for s in use_cdse.seen if s.path.endswith("/$value")]
    assert download.query["token"] == use_cdse.tokens  # the one token issued
    for seen in use_cdse.seen:
        if seen is not grant:
            _secrets_absent(json.dumps([seen.path, seen.query, seen.form]))
    _secrets_absent(_log_text(caplog), json.dumps(product.to_json()))
    assert "token=***" in _log_text(caplog) and use_cdse.tokens[0] not in _log_text(caplog)


def test_refused_credentials_fail_the_product_without_echoing_them(
    use_cdse: FakeCdse, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong password is final (no retry), says which settings to check, and neither the
    message nor any log line holds the username or password. (It used to be swallowed: the
    download went out without a token and failed as a bad product with a 401.)"""
    caplog.set_level(logging.DEBUG)
    use_cdse.password = "the-right-one"  # the fake expects another password than ours
    source = get_source("cdse", IngestSettings())
    (product,) = source.search(SearchQuery(collection=COLLECTION, bbox=BBOX, limit=1))
    with pytest.raises(SourceError, match="refused the credentials") as e:
        source.auth_for(product)
    assert "STACWORKS_INGEST_CDSE_USERNAME" in str(e.value) and not is_retryable(e.value)
    _secrets_absent(str(e.value), repr(e.value), _log_text(caplog))


def test_missing_credentials_are_named(
    cdse: FakeCdse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CDSE searches need no account, its downloads do: the product fails naming the settings."""
    _isolate(monkeypatch, cdse.eodag_env(tmp_path / "eodag"))
    source = get_source("cdse", IngestSettings())
    (product,) = source.search(SearchQuery(collection=COLLECTION, bbox=BBOX, limit=1))
    with pytest.raises(SourceError, match="downloads need credentials; set STACWORKS_INGEST_CDSE"):
        source.auth_for(product)
    assert not [s for s in cdse.seen if s.method == "POST"]


def test_token_service_failure_is_retried(use_cdse: FakeCdse) -> None:
    use_cdse.token_status = 503
    source = get_source("cdse", IngestSettings())
    (product,) = source.search(SearchQuery(collection=COLLECTION, bbox=BBOX, limit=1))
    with pytest.raises(TransientError, match="authentication service failed") as e:
        source.auth_for(product)
    assert is_retryable(e.value)
    _secrets_absent(str(e.value))


def test_settings_errors_do_not_echo_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic puts the environment's values in validation errors (``input_value=``)."""
    _isolate(monkeypatch, {"STACWORKS_INGEST_CDSE_PASSWORD": PASSWORD})
    with pytest.raises(ValueError, match="CDSE") as e:
        IngestSettings()
    _secrets_absent(str(e.value))
    _isolate(
        monkeypatch,
        {"STACWORKS_INGEST_CDSE_USERNAME": USER}
        | {
            "STACWORKS_INGEST_CDSE_PASSWORD": PASSWORD,
            "STACWORKS_INGEST_HEARTBEAT_S": "60",
        },
    )
    with pytest.raises(ValueError, match="heartbeat") as e:
        IngestSettings()
    _secrets_absent(str(e.value))


# -- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_cdse_ingest_end_to_end(
    ingest_env: dict[str, str], ingest_stac_url: str, cdse: FakeCdse, tmp_path: Path
) -> None:
    """`stacworks ingest --source cdse`: search, token, archive download, stactools-sentinel2,
    COG, item in the catalog. First with a wrong password (the product fails, nothing leaks),
    then with the right one. The archive is the real L1C sample (tile 31TDH), served for the
    CDSE product found: the item is named after the CDSE product and described from the SAFE."""
    env = {k: v for k, v in ingest_env.items() if not k.startswith("EODAG")}
    env |= cdse.eodag_env(tmp_path / "eodag") | {"STACWORKS_INGEST_CDSE_USERNAME": USER}
    args = ["ingest", "--source", "cdse", "--collection", COLLECTION, "--limit", "1", "--json"]
    args += ["--bbox", ",".join(map(str, BBOX)), "--datetime", "2020-08-08"]

    bad = stacworks(*args, env=env | {"STACWORKS_INGEST_CDSE_PASSWORD": "wrong"}, check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    (failed,) = json.loads(bad.stdout)["products"]
    assert failed["status"] == "failed" and "refused the credentials" in failed["error"]
    _secrets_absent(bad.stdout, bad.stderr)

    good = stacworks(*args, env=env | {"STACWORKS_INGEST_CDSE_PASSWORD": PASSWORD})
    _secrets_absent(good.stdout, good.stderr)
    (done,) = json.loads(good.stdout)["products"]
    odata = cdse.recorded["value"][0]
    item_id = odata["Name"].removesuffix(".SAFE")
    assert (done["status"], done["item_id"], done["kind"]) == ("done", item_id, "safe")
    assert [s.query["token"] for s in cdse.seen if s.path == f"{PRODUCTS}({odata['Id']})/$value"]

    r = httpx.get(f"{ingest_stac_url}/collections/{COLLECTION}/items/{item_id}", timeout=30)
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["properties"]["s2:product_type"] == "S2MSI1C"
    assert item["assets"]["coastal"]["type"].startswith("image/tiff; application=geotiff")
    assert not any(k.startswith("eodag:") for k in item["properties"])
    _secrets_absent(r.text)
