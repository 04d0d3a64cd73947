"""``/triggers``: schedules, subscriptions, catalog watches, webhooks and budgets over HTTP.

Served by the jobs service (same app, same access middleware): reading needs a viewer, changing
an editor (``jobs_policy``). A trigger or webhook is its creator's: only they and admins see or
change it (others get 404, as for jobs). A budget is set by the workflow's owner or an admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field

from catalog.access import Denied, principal_of, readable_of
from processing.errors import InvalidInput, NotFound
from processing.jobs_api import ResourceRouter
from processing.triggers.service import Triggers
from processing.triggers.store import ScheduleDoc, SubscriptionDoc, WatchDoc
from processing.triggers.webhooks import EVENTS, check_url

__all__ = ["BudgetDoc", "TriggersRouter", "WebhookDoc"]


class WebhookDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="Where events are POSTed (an e-mail relay's "
                     "webhook URL works too).")
    events: list[str] = Field(default_factory=lambda: list(EVENTS), max_length=len(EVENTS))
    secret: str | None = Field(default=None, min_length=16, max_length=200,
                               description="HMAC key (generated when omitted; shown once).")


class BudgetDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    soft_usd: float | None = Field(default=None, ge=0, le=1e9)
    hard_usd: float | None = Field(default=None, ge=0, le=1e9)


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()
            if k != "secret"}


def _check_source(source: str, allow_private: bool) -> None:
    """A subscription's source: an eodag provider or ``stac:<http(s) URL>`` (polled by the
    server, so held to the webhooks' rule on private addresses)."""
    from ingest.source_names import PROVIDERS

    if source.startswith("stac:"):
        check_url(source[5:], allow_private, field="source")
    elif source not in PROVIDERS:
        raise InvalidInput("source", f"expected catalog, stac:<url> or one of {sorted(PROVIDERS)}")


@dataclass
class TriggersRouter(ResourceRouter):
    """The routes; ``triggers`` is :class:`ProcessesFactory`'s (None: not served)."""

    access: Any = None
    triggers: Triggers | None = None

    # -- the access model ----------------------------------------------------------------------

    @staticmethod
    def _owner(request: Request) -> str | None:
        principal = principal_of(request)
        return None if principal.unrestricted else principal.id

    @staticmethod
    def _scope(request: Request) -> str | None | bool:
        """Whose rows a listing shows: True (admins: everyone's) or the caller's."""
        principal = principal_of(request)
        return True if principal.admin else principal.id

    @staticmethod
    def _mine(request: Request, owner: str | None, what: str) -> None:
        principal = principal_of(request)
        if not principal.admin and owner != principal.id:
            raise NotFound(f"{what} does not exist")

    def _check_collections(self, request: Request, read: list[str],
                           write: list[str] | None = None) -> None:
        readable = readable_of(request)
        if readable is not None:
            for c in read:
                if c not in readable:
                    raise InvalidInput("collection", f"no such collection {c!r}")
        principal = principal_of(request)
        if self.access is not None and not principal.admin:
            for c in write or []:
                if self.access.store.collection_exists(c) and not self.access.store.can_write(
                    principal, c
                ):
                    raise Denied(403, f"no write access to the collection {c!r}")

    @staticmethod
    def _input_collections(inputs: dict[str, Any]) -> list[str]:
        found = []
        if isinstance(inputs.get("collection"), str):
            found.append(inputs["collection"])
        search = inputs.get("search")
        if isinstance(search, dict):
            found += [c for c in search.get("collections") or [] if isinstance(c, str)]
        for item in inputs.get("items") or []:
            if isinstance(item, dict) and isinstance(item.get("collection"), str):
                found.append(item["collection"])
            elif isinstance(item, str) and "://" not in item and item.count("/") == 1:
                found.append(item.split("/")[0])
        return found

    def _check_parameters(self, process_id: str, parameters: Any, field: str) -> None:
        """The parameters a firing will pass, checked as a job request's are (404 for an
        unknown process)."""
        from collections.abc import Mapping

        from processing.algorithms import validate_parameters

        process = self.manager.process(process_id)
        if not isinstance(parameters, Mapping):
            raise InvalidInput(field, "expected an object")
        if process.algorithm is not None:
            validate_parameters(process.algorithm, parameters, field=field)
        else:
            manager: Any = self.manager  # an ExecutionManager: the check of submit()
            try:
                manager._check_workflow_parameters(process.workflow, parameters)
            except InvalidInput as exc:  # it names inputs.parameters...: name ours
                where = field + exc.field.removeprefix("inputs.parameters")
                raise InvalidInput(where, str(exc).split(": ", 1)[-1]) from None

    def _checked_inputs(self, request: Request, process_id: str,
                        inputs: dict[str, Any]) -> dict[str, Any]:
        """A schedule's fixed inputs, checked now as a job request would be (the firing has no
        caller to answer), with the caller's read access: items must be readable catalog
        items, and a search is narrowed to the collections the caller reads now (the loop
        submits without a request, so it could not narrow it later)."""
        from collections.abc import Mapping

        from catalog.api import restrict_collections
        from processing.executions import _INPUT_KEYS

        manager = self.manager
        unknown = set(inputs) - _INPUT_KEYS
        if unknown:
            raise InvalidInput(f"inputs.{sorted(unknown)[0]}",
                               f"unknown input (expected {sorted(_INPUT_KEYS)})")
        self._check_parameters(process_id, inputs.get("parameters", {}), "inputs.parameters")
        readable = readable_of(request)
        try:
            manager.resolve_items(inputs, None, readable)
        except InvalidInput as exc:  # a search that finds nothing yet may find items later
            if not (exc.field == "inputs.items" and "no input items" in str(exc)):
                raise
        search = inputs.get("search")
        if readable is not None and isinstance(search, Mapping):
            inputs = {**inputs, "search": {**search, "collections": restrict_collections(
                search.get("collections"), readable)}}
        return inputs

    # -- routes --------------------------------------------------------------------------------

    def register_routes(self) -> None:  # noqa: C901 - one closure per route
        t = self.triggers
        if t is None:
            return
        manager, router = self.manager, self.router

        @router.get("/triggers")
        def list_triggers(request: Request, kind: Annotated[
                Literal["schedule", "subscription", "watch"] | None, Query()] = None
                          ) -> dict[str, Any]:
            rows = t.store.find(self._scope(request), kind)
            return {"triggers": [_out(r) for r in rows]}

        @router.post("/triggers/schedules", status_code=201)
        def create_schedule(request: Request, body: ScheduleDoc) -> dict[str, Any]:
            body = body.model_copy(update={
                "inputs": self._checked_inputs(request, body.workflow_id, body.inputs)})
            self._check_collections(request, self._input_collections(body.inputs))
            row = t.store.create_schedule(body, self._owner(request))
            if t.aws is not None:
                try:
                    t.store.set_aws_schedule(row["id"], t.aws.put(row))
                except Exception:
                    t.store.delete(row["id"])  # no schedule that nothing would fire
                    raise
                row = t.store.get(row["id"])
            return _out({"kind": "schedule", **row})

        @router.post("/triggers/subscriptions", status_code=201)
        def create_subscription(request: Request, body: SubscriptionDoc) -> dict[str, Any]:
            if body.workflow_id is not None:
                self._check_parameters(body.workflow_id, body.parameters, "parameters")
            ours = body.source == "catalog"
            self._check_collections(request, [body.collection] if ours else [],
                                    [] if ours else [body.collection])
            if not ours:
                _check_source(body.source, t.settings.allow_private_urls)
            if not ours and t.engine.ingest is None:
                raise InvalidInput("source", "ingest is not set up on this server")
            return _out({"kind": "subscription",
                         **t.store.create_subscription(body, self._owner(request))})

        @router.post("/triggers/watches", status_code=201)
        def create_watch(request: Request, body: WatchDoc) -> dict[str, Any]:
            self._check_parameters(body.workflow_id, body.parameters, "parameters")
            output = manager.process(body.workflow_id).workflow.collection
            if output == body.collection:
                raise InvalidInput("collection", f"the workflow writes into {output!r}: "
                                   "watching it would start the workflow on its own outputs")
            self._check_collections(request, [body.collection])
            return _out({"kind": "watch", **t.store.create_watch(body, self._owner(request))})

        # webhooks and budgets before /triggers/{id}: their paths are fixed words

        @router.get("/triggers/webhooks")
        def list_webhooks(request: Request) -> dict[str, Any]:
            return {"webhooks": [_out(r) for r in t.webhooks.find(self._scope(request))]}

        @router.post("/triggers/webhooks", status_code=201)
        def create_webhook(request: Request, body: WebhookDoc) -> dict[str, Any]:
            row = t.webhooks.create(self._owner(request), body.url, body.events, body.secret)
            return {**_out(row), "secret": row["secret"]}  # shown once

        @router.delete("/triggers/webhooks/{webhook_id}", status_code=204)
        def delete_webhook(request: Request, webhook_id: str) -> None:
            self._mine(request, t.webhooks.owner_of(webhook_id), f"webhook {webhook_id!r}")
            t.webhooks.delete(webhook_id)

        @router.get("/triggers/webhooks/{webhook_id}/deliveries")
        def webhook_deliveries(request: Request, webhook_id: str,
                               limit: Annotated[int, Query(ge=1, le=1000)] = 100
                               ) -> dict[str, Any]:
            self._mine(request, t.webhooks.owner_of(webhook_id), f"webhook {webhook_id!r}")
            return {"deliveries": [_out(r) for r in t.webhooks.deliveries(webhook_id, limit)]}

        def budget_key(request: Request | None, process_id: str) -> str:
            """The workflow id a process's runs are recorded under (``algorithm:ndvi`` runs as
            ``ndvi``); with a request, also check the caller may set it: the workflow's owner
            or an admin (algorithms are admins' alone)."""
            process = manager.process(process_id)
            key = process.workflow.id
            if request is None:
                return key
            principal = principal_of(request)
            if principal.admin:
                return key
            owner = None if process.algorithm is not None else manager.workflows.owner(key)
            if owner is None or owner != principal.id:
                raise Denied(403, f"only the owner of workflow {process_id!r} or an admin may "
                                  "set its budget")
            return key

        @router.get("/triggers/budgets/{workflow_id}")
        def get_budget(workflow_id: str) -> dict[str, Any]:
            return t.budgets.status(budget_key(None, workflow_id))

        @router.put("/triggers/budgets/{workflow_id}")
        def put_budget(request: Request, workflow_id: str, body: BudgetDoc) -> dict[str, Any]:
            key = budget_key(request, workflow_id)
            if body.soft_usd is not None and body.hard_usd is not None and (
                body.soft_usd > body.hard_usd
            ):
                raise InvalidInput("soft_usd", "must not exceed hard_usd")
            t.budgets.set(key, self._owner(request), body.soft_usd, body.hard_usd)
            return t.budgets.status(key)

        @router.delete("/triggers/budgets/{workflow_id}", status_code=204)
        def delete_budget(request: Request, workflow_id: str) -> None:
            t.budgets.delete(budget_key(request, workflow_id))

        @router.get("/triggers/{trigger_id}")
        def get_trigger(request: Request, trigger_id: str) -> dict[str, Any]:
            row = t.store.get(trigger_id)
            self._mine(request, row["owner"], f"trigger {trigger_id!r}")
            return _out(row)

        def set_paused(request: Request, trigger_id: str, paused: bool) -> dict[str, Any]:
            row = t.store.get(trigger_id)
            self._mine(request, row["owner"], f"trigger {trigger_id!r}")
            if t.aws is not None and row.get("aws_schedule"):
                t.aws.set_paused(row, paused)
            return _out(t.store.set_paused(trigger_id, paused))

        @router.post("/triggers/{trigger_id}/pause")
        def pause(request: Request, trigger_id: str) -> dict[str, Any]:
            return set_paused(request, trigger_id, True)

        @router.post("/triggers/{trigger_id}/resume")
        def resume(request: Request, trigger_id: str) -> dict[str, Any]:
            return set_paused(request, trigger_id, False)

        @router.delete("/triggers/{trigger_id}", status_code=204)
        def delete_trigger(request: Request, trigger_id: str) -> None:
            row = t.store.get(trigger_id)
            self._mine(request, row["owner"], f"trigger {trigger_id!r}")
            if t.aws is not None and row.get("aws_schedule"):
                t.aws.delete(row)
            t.store.delete(trigger_id)

        @router.get("/triggers/{trigger_id}/firings")
        def firings(request: Request, trigger_id: str,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
            row = t.store.get(trigger_id)
            self._mine(request, row["owner"], f"trigger {trigger_id!r}")
            base = str(request.base_url).rstrip("/")
            out = []
            for f in t.store.firings(trigger_id, limit):
                doc = _out(f)
                doc["jobs"] = [f"{base}/jobs/{e}" for e in f["execution_ids"]]
                out.append(doc)
            return {"firings": out}

        @router.get("/triggers/{trigger_id}/products")
        def products(request: Request, trigger_id: str) -> dict[str, Any]:
            row = t.store.get(trigger_id)
            self._mine(request, row["owner"], f"trigger {trigger_id!r}")
            if row["kind"] != "subscription":
                raise NotFound(f"trigger {trigger_id!r} is not a subscription")
            return {"products": [_out({k: v for k, v in r.items() if k != "product"})
                                 for r in t.store.seen(trigger_id)]}
