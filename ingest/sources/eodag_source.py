"""Sources through eodag's real provider configurations (Earth Search, Planetary Computer,
Copernicus Data Space, USGS): eodag builds each provider's query and holds its auth."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

from ingest.errors import IngestError, SourceError, TransientError
from ingest.settings import IngestSettings
from ingest.source_names import PROVIDERS
from ingest.sources.base import Product, SearchQuery, classify, safe_id, self_href

log = logging.getLogger(__name__)


_dag_lock = threading.Lock()
_dag: Any = None

#: The settings that hold each source's credentials (named in errors, never their values).
CREDENTIAL_SETTINGS = {
    "cdse": "STACWORKS_INGEST_CDSE_USERNAME and _PASSWORD",
    "usgs": "STACWORKS_INGEST_USGS_USERNAME and _PASSWORD",
    "planetary-computer": "STACWORKS_INGEST_PLANETARY_COMPUTER_KEY",
}
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Loggers that write download URLs with the provider token in the query (CDSE ``?token=``)
#: at DEBUG: eodag's token auth and urllib3's request lines.
_TOKEN_LOGGERS = ("eodag.auth.openid_connect", "urllib3.connectionpool")
_TOKEN_IN_URL = re.compile(r"(?i)([?&](?:token|access_token)=)[^&#\s\"']+")


class MaskTokens(logging.Filter):
    """Masks ``token=`` query values in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_URL.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def gateway(settings: IngestSettings) -> Any:
    """One eodag gateway per process (building one reads every provider file: ~1 s).

    Credentials go into eodag's in-memory provider configuration only; eodag reads its own
    EODAG_* variables for everything else (tests point EODAG_PROVIDERS_CFG_DIR at loopback
    providers, or EODAG__<PROVIDER>__... overrides at loopback endpoints, so no search leaves
    the machine).
    """
    global _dag
    with _dag_lock:
        if _dag is None:
            from eodag import EODataAccessGateway

            dag = EODataAccessGateway()
            _mask_tokens_in_logs()
            creds = {p: c for p, c in provider_credentials(settings).items() if p in dag.providers}
            if creds:
                dag.update_providers_config(dict_conf=creds)
            _dag = dag
        return _dag


def _mask_tokens_in_logs() -> None:
    """A worker run at DEBUG would otherwise log each CDSE download URL, token included."""
    for name in _TOKEN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskTokens) for f in logger.filters):
            logger.addFilter(MaskTokens())


def provider_credentials(settings: IngestSettings) -> dict[str, Any]:
    """eodag provider configuration holding the credentials that are set (values unmasked:
    for eodag's in-memory configuration only)."""
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
    if settings.planetary_computer_key:
        key = settings.planetary_computer_key.get_secret_value()
        creds["planetary_computer"] = {"auth": {"credentials": {"apikey": key}}}
    return creds


def search_window(query: SearchQuery) -> tuple[str | None, str | None]:
    """The query's time range with a bare date covering its whole UTC day, as pystac-client
    reads it for ``stac:`` sources. eodag sends a bare date as its midnight, so a one-day
    search asked CDSE for ``Start < day 00:00 and End > day 00:00`` (nothing), and an
    interval lost its last day."""
    start, end = query.time_range()
    if start and _DATE_ONLY.fullmatch(start):
        start = f"{start}T00:00:00Z"
    if end and _DATE_ONLY.fullmatch(end):
        end = f"{end}T23:59:59.999Z"
    return start, end


def _refused(e: BaseException) -> bool:
    """Whether an eodag AuthenticationError is the provider saying no (a 4xx from its token
    endpoint) rather than the endpoint failing (5xx, 429, no answer): eodag raises the same
    class for both and keeps the HTTP error as the exception's context."""
    cause = e.__cause__ or e.__context__
    status = getattr(getattr(cause, "response", None), "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status != 429


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
        if not query.collection:
            raise SourceError("collection: an eodag search needs --collection")
        dag = self._dag()
        kwargs = self.search_kwargs(query)
        # eodag searches one id at a time (CDSE: ``contains(Name,'<id>')``, exact match kept)
        searches = [{**kwargs, "id": one} for one in query.ids] or [kwargs]
        found = [p for search in searches for p in self._results(dag, search, query.limit)]
        for eo_product in found[: query.limit] if query.limit else found:
            yield self.product(eo_product, query)

    def search_kwargs(self, query: SearchQuery) -> dict[str, Any]:
        """eodag's search arguments for the query (eodag turns them into the provider's own),
        less the ids: :meth:`search` runs one search per id."""
        start, end = search_window(query)
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
        return kwargs

    def _results(self, dag: Any, kwargs: dict[str, Any], limit: int | None) -> list[Any]:
        """Run the search, eodag's and requests' failures turned into ours."""
        import requests
        from eodag.utils.exceptions import (
            AuthenticationError,
            MisconfiguredError,
            NoMatchingCollection,
            RequestError,
            TimeOutError,
            UnsupportedCollection,
            UnsupportedProvider,
            ValidationError,
        )

        try:
            if limit:
                return list(dag.search(limit=limit, **kwargs))[:limit]
            return list(dag.search_all(**kwargs))
        except AuthenticationError:
            raise self._refused_error() from None
        except (
            NoMatchingCollection,
            UnsupportedCollection,
            UnsupportedProvider,
            ValidationError,
        ) as e:
            raise SourceError(f"source {self.name!r}: {e}") from None
        except TimeOutError:
            raise TransientError(f"source {self.name!r}: the search timed out") from None
        except RequestError as e:
            status = getattr(e, "status_code", None)
            if status and 400 <= status < 500 and status != 429:
                raise SourceError(f"source {self.name!r} refused the search ({status})") from None
            raise TransientError(f"source {self.name!r}: search failed ({status or e})") from None
        except MisconfiguredError as e:
            raise self._setup_error(e) from None
        except requests.RequestException as e:
            # eodag lets connection errors of its side requests (CDSE: the OIDC discovery of
            # the download auth plugin, built with every search) through
            raise TransientError(
                f"source {self.name!r}: the provider is unreachable ({type(e).__name__})"
            ) from None

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
        """eodag's authenticator for the product's downloads when it is a requests auth (CDSE
        tokens, Planetary Computer SAS signing); None for public providers.

        Raises rather than let the download go unauthenticated (a 401 that reads as a bad
        product): missing or refused credentials fail the product (SourceError), a token
        service that does not answer is retried (TransientError). Messages name the
        settings, never their values.
        """
        import jwt
        import requests
        from eodag.utils.exceptions import AuthenticationError, MisconfiguredError, RequestError

        plugin = self._auth_plugin(product)
        try:
            auth = plugin.authenticate() if plugin is not None else None
        except MisconfiguredError:
            hint = CREDENTIAL_SETTINGS.get(self.name, "the source's credential settings")
            raise SourceError(
                f"source {self.name!r}: downloads need credentials; set {hint}"
            ) from None
        except AuthenticationError as e:
            raise (self._refused_error() if _refused(e) else self._unreachable(e)) from None
        except (RequestError, requests.RequestException, jwt.PyJWKClientError) as e:
            raise self._unreachable(e) from None
        except Exception as e:  # noqa: BLE001 - other plugins (S3 sessions): download unsigned
            log.warning("no provider auth for %s: %s", product.item_id, type(e).__name__)
            return None
        return auth if isinstance(auth, requests.auth.AuthBase) else None

    def _auth_plugin(self, product: Product) -> Any:
        """The auth plugin eodag pairs with the product's download, as after a search.

        The item is deserialised without the gateway: ``EOProduct.from_dict(dag=...)`` adds a
        generic STAC provider to the shared gateway, which fails (so no auth, so a 401) when
        EODAG_PROVIDERS_WHITELIST is set. Building the plugin may fetch the provider's OIDC
        configuration (CDSE): that failing is retried.
        """
        import requests
        from eodag.api.product import EOProduct
        from eodag.utils.exceptions import EodagError, MisconfiguredError

        manager = self._dag()._plugins_manager
        try:
            eo = EOProduct.from_dict(product.item)
            return manager.get_auth_plugin(manager.get_download_plugin(eo), eo)
        except MisconfiguredError as e:
            raise self._setup_error(e) from None
        except requests.RequestException as e:
            raise self._unreachable(e) from None
        except EodagError as e:  # not an eodag product, provider gone: download unsigned
            log.warning("no provider auth for %s: %s", product.item_id, type(e).__name__)
            return None

    def _setup_error(self, e: BaseException) -> IngestError:
        """eodag's MisconfiguredError: retried when an HTTP request under it failed (CDSE's
        OIDC discovery answering 5xx), final otherwise (a provider configuration fault)."""
        import requests

        if isinstance(e.__context__, requests.RequestException):
            return self._unreachable(e)
        return SourceError(f"source {self.name!r}: eodag configuration: {str(e)[:200]}")

    def _refused_error(self) -> IngestError:
        hint = CREDENTIAL_SETTINGS.get(self.name, "STACWORKS_INGEST_* credential settings")
        return SourceError(
            f"source {self.name!r}: the provider refused the credentials (check {hint})"
        )

    def _unreachable(self, e: BaseException) -> IngestError:
        return TransientError(
            f"source {self.name!r}: the provider's authentication service failed "
            f"({type(e).__name__}); will retry"
        )
