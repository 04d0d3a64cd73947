"""Small pieces of ingest without servers: query checks, the source registry, settings,
product classification, file fields, the offline schema validator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ingest.errors import SourceError, TransientError, is_retryable
from ingest.items.files import file_fields
from ingest.items.schemas import validate_stac
from ingest.settings import IngestSettings
from ingest.sources import SearchQuery, classify, get_source, safe_id
from objectstore import StoreUnavailable
from tests.conftest import SHARED_DATA

MIRROR = SHARED_DATA / "stac-schemas"


def test_query_checks_its_fields() -> None:
    with pytest.raises(SourceError, match="bbox"):
        SearchQuery(bbox=(10, 50, 5, 40))
    with pytest.raises(SourceError, match="max_cloud"):
        SearchQuery(max_cloud=120)
    q = SearchQuery(collection="c", bbox=(1, 2, 3, 4), datetime="2020-01-01/..", urls=("u",))
    assert SearchQuery.from_dict(q.as_dict()) == q
    assert q.time_range() == ("2020-01-01", None)


def test_source_registry() -> None:
    assert get_source("urls").name == "urls"
    assert get_source("stac:https://example.org/api/").name == "stac:https://example.org/api"
    assert get_source("earth-search").name == "earth-search"
    with pytest.raises(SourceError, match="unknown 'nope'; choose from earth-search"):
        get_source("nope")
    with pytest.raises(SourceError, match="http"):
        get_source("stac:ftp://x")


def test_credentials_are_secret_and_paired(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACWORKS_INGEST_CDSE_USERNAME", "me")
    monkeypatch.setenv("STACWORKS_INGEST_CDSE_PASSWORD", "hunter2")
    s = IngestSettings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    monkeypatch.delenv("STACWORKS_INGEST_CDSE_PASSWORD")
    with pytest.raises(ValueError, match="CDSE"):
        IngestSettings()
    with pytest.raises(ValueError, match="profile"):
        IngestSettings(cog_profile="gif")


def test_retry_classification() -> None:
    assert is_retryable(TransientError("503")) and is_retryable(StoreUnavailable("down"))
    assert not is_retryable(SourceError("bad")) and not is_retryable(ValueError("x"))


def test_classify_products() -> None:
    def item(href: str, mtype: str = "") -> dict[str, object]:
        return {"id": "S2A_MSIL1C_X", "assets": {"a": {"href": href, "type": mtype}}}

    assert classify(item("https://x/S2A_MSIL1C_X.SAFE.zip", "application/zip")) == "safe"
    assert classify(item("https://x/LC08_X_MTL.xml")) == "mtl"
    assert classify(item("https://x/a.copc.laz", "application/vnd.laszip+copc")) == "pointcloud"
    assert classify(item("https://x/B04.tif", "image/tiff")) == "stac"
    assert safe_id("a/b c..") == "a_b_c"


def test_file_fields_are_a_sha256_multihash(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"stacworks")
    fields = file_fields(p)
    assert fields == {
        "file:size": 9,
        "file:checksum": "1220" + hashlib.sha256(b"stacworks").hexdigest(),
    }


def test_schema_validator_offline() -> None:
    item = json.loads(
        (
            SHARED_DATA / "stac/earth-search-v1/items/sentinel-2-l2a/S2A_13TDE_20231008_0_L2A.json"
        ).read_text()
    )
    core = {**item, "stac_extensions": []}
    assert validate_stac(core, mirror=MIRROR).is_valid
    broken = {
        **core,
        "properties": {k: v for k, v in core["properties"].items() if k != "datetime"},
    }
    result = validate_stac(broken, mirror=MIRROR)
    assert not result.is_valid and "datetime" in " ".join(result.errors)
    # An extension error the source item has too is a warning, not ours to fail on.
    with_ext = validate_stac(item, mirror=MIRROR, source=item)
    assert with_ext.is_valid
