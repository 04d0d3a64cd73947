"""Loopback stand-ins for remote providers: a tiny static STAC API plus an HTTP file server.

Real provider responses and files from shared/data are published with their hrefs rewritten to
this server, so ingest runs its real code paths (eodag StacSearch, pystac-client, httpx
downloads) without the internet. ``fail`` injects transient 503s to exercise retries.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def _ts(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class StaticStac:
    """Collections, items and files that the server publishes (filled in by the fixtures)."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Any]] = {}
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, Path | bytes] = {}
        self.fail: Counter[str] = Counter()  # path -> number of 503s still to answer
        self.hits: Counter[str] = Counter()
        self.delay: dict[str, float] = {}  # path -> seconds to stall its next answer (once)
        self.base = ""

    def add_collection(self, collection: dict[str, Any]) -> None:
        self.collections[collection["id"]] = collection
        self.items.setdefault(collection["id"], [])

    def add_item(self, item: dict[str, Any]) -> None:
        self.items[item["collection"]].append(item)

    def search(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        cols = params.get("collections") or list(self.items)
        if isinstance(cols, str):
            cols = cols.split(",")
        ids = params.get("ids")
        if isinstance(ids, str):
            ids = ids.split(",")
        bbox = params.get("bbox")
        if isinstance(bbox, str):
            bbox = [float(v) for v in bbox.split(",")]
        out = []
        for c in cols:
            for item in self.items.get(c, []):
                if ids and item["id"] not in ids:
                    continue
                if bbox and not _overlaps(bbox, item["bbox"]):
                    continue
                if params.get("datetime") and not _in_range(params["datetime"], item):
                    continue
                if not _query_ok(params.get("query") or {}, item["properties"]):
                    continue
                out.append(item)
        return out[: int(params.get("limit") or 100)]


def _overlaps(a: list[float], b: list[float]) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def _in_range(interval: str, item: dict[str, Any]) -> bool:
    start, _, end = interval.partition("/")
    when = _ts(item["properties"]["datetime"])
    if start not in ("", "..") and when < _ts(start if "T" in start else start + "T00:00:00Z"):
        return False
    return not (end not in ("", "..") and when > _ts(end if "T" in end else end + "T23:59:59Z"))


def _query_ok(query: dict[str, Any], props: dict[str, Any]) -> bool:
    ops = {
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "eq": lambda a, b: a == b,
    }
    for name, cond in query.items():
        if name not in props:
            continue
        for op, value in cond.items():
            if op in ops and not ops[op](props[name], value):
                return False
    return True


class _Handler(BaseHTTPRequestHandler):
    stac: StaticStac

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _json(self, doc: Any, status: int = 200, ctype: str = "application/json") -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _links(self) -> list[dict[str, str]]:
        b = self.stac.base
        return [
            {"rel": "self", "href": f"{b}/"},
            {"rel": "root", "href": f"{b}/"},
            {"rel": "conformance", "href": f"{b}/conformance"},
            {"rel": "data", "href": f"{b}/collections"},
            {
                "rel": "search",
                "href": f"{b}/search",
                "method": "GET",
                "type": "application/geo+json",
            },
            {
                "rel": "search",
                "href": f"{b}/search",
                "method": "POST",
                "type": "application/geo+json",
            },
        ]

    def _fc(self, feats: list[dict[str, Any]]) -> None:
        self._json(
            {
                "type": "FeatureCollection",
                "features": feats,
                "links": [],
                "context": {"returned": len(feats), "matched": len(feats)},
                "numberMatched": len(feats),
                "numberReturned": len(feats),
            },
            ctype="application/geo+json",
        )

    def _route(self, params: dict[str, Any] | None) -> None:
        path = urlsplit(self.path).path
        self.stac.hits[path] += 1
        if self.stac.fail[path] > 0:
            self.stac.fail[path] -= 1
            self._json({"code": "Unavailable"}, status=503)
            return
        stall = self.stac.delay.pop(path, 0.0)
        if stall:
            time.sleep(stall)
        parts = [p for p in path.split("/") if p]
        q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if params is None:
            params = q
            if "query" in params:
                params["query"] = json.loads(params["query"])
        if not parts:
            self._json(
                {
                    "type": "Catalog",
                    "id": "loopback",
                    "stac_version": "1.0.0",
                    "description": "loopback",
                    "conformsTo": CONFORMS,
                    "links": self._links(),
                }
            )
        elif parts == ["conformance"]:
            self._json({"conformsTo": CONFORMS})
        elif parts == ["search"]:
            self._fc(self.stac.search(params))
        elif parts == ["collections"]:
            self._json({"collections": list(self.stac.collections.values()), "links": []})
        elif parts[0] == "collections" and len(parts) == 2 and parts[1] in self.stac.collections:
            self._json(self.stac.collections[parts[1]])
        elif parts[0] == "collections" and len(parts) == 3 and parts[2] == "items":
            self._fc(self.stac.search({**params, "collections": [parts[1]]}))
        elif parts[0] == "collections" and len(parts) == 4:
            found = self.stac.search({"collections": [parts[1]], "ids": [parts[3]]})
            if found:
                self._json(found[0], ctype="application/geo+json")
            else:
                self._json({"code": "NotFound"}, status=404)
        elif parts[0] == "files" and "/".join(parts[1:]) in self.stac.files:
            self._file(self.stac.files["/".join(parts[1:])])
        else:
            self._json({"code": "NotFound"}, status=404)

    def _file(self, src: Path | bytes) -> None:
        data = src if isinstance(src, bytes) else src.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._route(None)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(None)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._route(json.loads(self.rfile.read(length) or b"{}"))


@contextmanager
def serve_static_stac(stac: StaticStac) -> Iterator[str]:
    """Serve ``stac`` on a free loopback port in a thread; yields the base URL."""
    handler = type("Handler", (_Handler,), {"stac": stac})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    stac.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stac.base
    finally:
        server.shutdown()
        server.server_close()
