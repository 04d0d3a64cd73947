"""Serve STAC/GeoJSON/JSON-Schema URLs from ../shared/data/stac-schemas for stac-api-validator.

The validator downloads schemas at run time; these machines have no internet. Loaded through
PYTHONPATH into the validator's own virtualenv only (never into the platform).
"""

import io
import os
import urllib.request
from pathlib import Path

MIRROR = Path(os.environ["STAC_SCHEMA_MIRROR"])
HOSTS = (
    "schemas.stacspec.org",
    "stac-extensions.github.io",
    "geojson.org",
    "json-schema.org",
    "proj.org",
)


def _local(url: str):
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            rest = url[len(scheme) :].split("#", 1)[0].split("?", 1)[0]
            if rest.split("/", 1)[0] in HOSTS:
                path = MIRROR / rest
                if path.is_dir():
                    path = path / "schema.json"
                return path
    return None


_urlopen = urllib.request.urlopen


class _Resp(io.BytesIO):
    status = 200
    code = 200

    def getcode(self):
        return 200

    def info(self):
        return {}

    headers = {"Content-Type": "application/json"}

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def urlopen(req, *args, **kwargs):
    url = req.full_url if hasattr(req, "full_url") else str(req)
    local = _local(url)
    if local is not None:
        if not local.exists():
            raise urllib.error.HTTPError(url, 404, "not in offline mirror", {}, None)
        return _Resp(local.read_bytes())
    return _urlopen(req, *args, **kwargs)


urllib.request.urlopen = urlopen

try:
    import requests
    from requests.adapters import HTTPAdapter

    _send = HTTPAdapter.send

    def send(self, request, *args, **kwargs):
        local = _local(request.url)
        if local is None:
            return _send(self, request, *args, **kwargs)
        resp = requests.Response()
        resp.url = request.url
        resp.request = request
        if local.exists():
            resp.status_code = 200
            resp._content = local.read_bytes()
            resp.headers["Content-Type"] = "application/json"
        else:
            resp.status_code = 404
            resp._content = b"not in offline mirror"
        return resp

    HTTPAdapter.send = send
except ImportError:  # pragma: no cover
    pass
