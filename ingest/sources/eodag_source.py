"""Sources through eodag's real provider configurations (Earth Search, Planetary Computer,
Copernicus Data Space, USGS): eodag builds each provider's query and holds its auth."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from ingest.errors import SourceError, TransientError
from ingest.settings import IngestSettings
from ingest.source_names import PROVIDERS
from ingest.sources.base import Product, SearchQuery, classify, safe_id, self_href

log = logging.getLogger(__name__)


_dag_lock = threading.Lock()
_dag: Any = None


def gateway(settings: IngestSettings) -> Any:
    """One eodag gateway per process (building one reads every provider file: ~1 s).

    Credentials go into eodag's in-memory provider configuration only; eodag reads its own
    EODAG_* variables for everything else (tests point EODAG_PROVIDERS_CFG_DIR at loopback
    providers so no search leaves the machine).
    """
    global _dag
    with _dag_lock:
        if _dag is None:
            from eodag import EODataAccessGateway

            dag = EODataAccessGateway()
            creds: dict[str, Any] = {}
            if settings.cdse_username and settings.cdse_password:
                creds["cop_dataspace"] = {
                    "auth": {
                        "credentials": {
                            "username": settings.cdse_username.get_secret_value(),
                            "password": settings.cdse_password.get_secret_value(),
                        }
                    }
                }
            if settings.usgs_username and settings.usgs_password:
                creds["usgs"] = {
                    "api": {
                        "credentials": {
                            "username": settings.usgs_username.get_secret_value(),
                            "password": settings.usgs_password.get_secret_value(),
                        }
                    }
                }
            creds = {p: c for p, c in creds.items() if p in dag.providers}
            if creds:
                dag.update_providers_config(dict_conf=creds)
            _dag = dag
        return _dag


class EodagSource:
    """A named eodag provider. Products keep eodag's STAC rendering of the search result."""

    def __init__(self, name: str, settings: IngestSettings) -> None:
        self.name = name
        self.provider = PROVIDERS[name]
        self.settings = settings

    def _dag(self) -> Any:
        dag = gateway(self.settings)
        if self.provider not in dag.providers:
            raise SourceError(f"source {self.name!r}: eodag has no provider {self.provider!r}")
        return dag

    def search(self, query: SearchQuery) -> Iterator[Product]:
        from eodag.utils.exceptions import (
            AuthenticationError,
            NoMatchingCollection,
            RequestError,
            TimeOutError,
            ValidationError,
        )

        if not query.collection:
            raise SourceError("collection: an eodag search needs --collection")
        dag = self._dag()
        start, end = query.time_range()
        kwargs: dict[str, Any] = {
            "collection": query.collection,
            "provider": self.provider,
            "raise_errors": True,
        }
        if query.bbox:
            kwargs["geom"] = list(query.bbox)
        if start:
            kwargs["start"] = start
        if end:
            kwargs["end"] = end
        if query.max_cloud is not None:
            kwargs["eo:cloud_cover"] = query.max_cloud
        if query.ids:
            kwargs["id"] = query.ids[0]
        try:
            if query.limit:
                results = list(dag.search(items_per_page=query.limit, **kwargs))[: query.limit]
            else:
                results = list(dag.search_all(**kwargs))
        except AuthenticationError:
            raise SourceError(
                f"source {self.name!r}: the provider refused the credentials "
                "(check STACWORKS_INGEST_* credential settings)"
            ) from None
        except (NoMatchingCollection, ValidationError) as e:
            raise SourceError(f"source {self.name!r}: {e}") from None
        except TimeOutError:
            raise TransientError(f"source {self.name!r}: the search timed out") from None
        except RequestError as e:
            status = getattr(e, "status_code", None)
            if status and 400 <= status < 500 and status != 429:
                raise SourceError(f"source {self.name!r} refused the search ({status})") from None
            raise TransientError(f"source {self.name!r}: search failed ({status or e})") from None
        for eo_product in results:
            yield self.product(eo_product, query)

    def product(self, eo_product: Any, query: SearchQuery) -> Product:
        # Round-trip through JSON: eodag's dict holds datetimes and shapely-derived values.
        item = json.loads(json.dumps(eo_product.as_dict(), default=str))
        link = item["properties"].get("eodag:download_link")
        if not item.get("assets") and link:
            # Order/zip providers (CDSE): the whole product is one archive.
            item["assets"] = {
                "product": {"href": link, "type": "application/zip", "roles": ["data"]}
            }
        item.setdefault("collection", query.collection)
        thumb = item["properties"].get("eodag:thumbnail") or item["properties"].get(
            "eodag:quicklook"
        )
        if thumb and not any(
            "thumbnail" in (a.get("roles") or []) for a in item.get("assets", {}).values()
        ):
            # eodag lifts the source's thumbnail asset into a property; put it back.
            item.setdefault("assets", {})["thumbnail"] = {
                "href": thumb,
                "roles": ["thumbnail"],
                "title": "Thumbnail",
            }
        return Product(
            source=self.name,
            collection=query.collection or str(item["collection"]),
            item_id=safe_id(str(item["id"])),
            kind=classify(item),
            item=item,
            source_href=self_href(item),
            assets=list(query.assets),
        )

    def auth_for(self, product: Product) -> Any:
        """eodag's authenticator for the product's provider, when it is a requests auth
        (CDSE bearer tokens, Planetary Computer SAS signing); None for public providers."""
        import requests
        from eodag.api.product import EOProduct

        try:
            eo = EOProduct.from_dict(product.item, dag=self._dag())
            auth_plugin = eo.downloader_auth
            auth = auth_plugin.authenticate() if auth_plugin is not None else None
        except Exception as e:  # noqa: BLE001 - any provider auth failure
            log.warning("no provider auth for %s: %s", product.item_id, type(e).__name__)
            return None
        return auth if isinstance(auth, requests.auth.AuthBase) else None
