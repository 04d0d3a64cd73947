"""`stacworks schedule ...` and `stacworks subscribe ...`: triggers from a shell.

Commands write the catalog database directly (like `stacworks workflow`); triggers made here
have no owner, so admins manage them through the API. The jobs servers' trigger loop fires them
(or EventBridge Scheduler, for schedules made with STACWORKS_PROCESSING_BACKEND=aws).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from processing.cli import (
    CommandGroup,
    EnsureDatabase,
    _echo_json,
    _fail,
    _friendly,
    _read_json_arg,
)

__all__ = ["ScheduleCommands", "SubscribeCommands", "build_cli"]


class _TriggerCommands(CommandGroup):
    """What both groups share: list, show, pause, resume, remove, history."""

    kind = "schedule"

    def store(self) -> Any:
        from processing.triggers.settings import TriggerSettings
        from processing.triggers.store import TriggerStore

        return TriggerStore(self.database(), TriggerSettings())

    def aws(self, db: Any) -> Any:
        """EventBridge schedules when the back end is AWS (None otherwise)."""
        from processing.settings import ProcessingSettings

        if ProcessingSettings().backend != "aws":
            return None
        from processing.aws.backend import manager_from_environment
        from processing.triggers.aws import AwsSchedules
        from processing.triggers.settings import TriggerSettings

        s = TriggerSettings()
        return AwsSchedules(manager_from_environment(db), s.aws_scheduler_role_arn,
                            s.aws_schedule_group)

    def register(self) -> None:
        store, kind, aws = self.store, self.kind, self.aws

        @self.app.command("list")
        @_friendly
        def trigger_list() -> None:
            """Every trigger of this kind: id, state, what it runs, when."""
            wanted = ("schedule",) if kind == "schedule" else ("subscription", "watch")
            for row in store().find(True):
                if row["kind"] not in wanted:
                    continue
                state = "paused" if row["paused"] else "active"
                when = row.get("cron") or f"on change in {row.get('collection')}"
                what = row.get("workflow_id") or f"ingest {row.get('collection')}"
                typer.echo(f"{row['id']}\t{row['kind']}\t{state}\t{when}\t{what}")

        @self.app.command("show")
        @_friendly
        def trigger_show(trigger_id: str) -> None:
            """One trigger as JSON."""
            _echo_json(store().get(trigger_id))

        def set_paused(trigger_id: str, paused: bool) -> None:
            s = store()
            row = s.get(trigger_id)
            if row.get("aws_schedule"):
                aws(s.db).set_paused(row, paused)
            s.set_paused(trigger_id, paused)
            typer.echo(f"{trigger_id} {'paused' if paused else 'resumed'}")

        @self.app.command("pause")
        @_friendly
        def trigger_pause(trigger_id: str) -> None:
            """Stop firing (a paused trigger misses its slots; see catch_up)."""
            set_paused(trigger_id, True)

        @self.app.command("resume")
        @_friendly
        def trigger_resume(trigger_id: str) -> None:
            """Fire again from the next slot."""
            set_paused(trigger_id, False)

        @self.app.command("remove")
        @_friendly
        def trigger_remove(trigger_id: str) -> None:
            """Delete a trigger (its firings stay, with the jobs they started)."""
            s = store()
            row = s.get(trigger_id)
            if row.get("aws_schedule"):
                aws(s.db).delete(row)
            s.delete(trigger_id)
            typer.echo(f"removed {trigger_id}")

        @self.app.command("history")
        @_friendly
        def trigger_history(trigger_id: str,
                            limit: Annotated[int, typer.Option(min=1, max=1000)] = 20) -> None:
            """The latest firings: when, outcome, jobs started."""
            for f in store().firings(trigger_id, limit):
                when = (f["slot"] or f["fired_at"]).isoformat()
                jobs = ",".join(f["execution_ids"]) or "-"
                typer.echo(f"{when}\t{f['status']}\t{jobs}\t{f['detail'] or ''}")
        self.register_add()

    def register_add(self) -> None:
        raise NotImplementedError


class ScheduleCommands(_TriggerCommands):
    """`stacworks schedule add|list|show|pause|resume|remove|history`."""

    kind = "schedule"

    def register_add(self) -> None:
        store, aws = self.store, self.aws

        @self.app.command("add")
        @_friendly
        def schedule_add(
            workflow_id: Annotated[str, typer.Argument(help="Workflow id or algorithm:NAME.")],
            cron: Annotated[str, typer.Option(help="Five-field cron, e.g. '0 6 * * *'.")],
            inputs: Annotated[str, typer.Option(
                help="Job inputs JSON (or @file): items, collection+ids, or a saved search.")],
            tz: Annotated[str, typer.Option("--tz", help="IANA time zone.")] = "UTC",
            catch_up: Annotated[str, typer.Option(
                help="After downtime: skip missed slots, or run-once for them.")] = "skip",
        ) -> None:
            """Run a workflow on a cron expression."""
            from pydantic import ValidationError

            from processing.triggers.store import ScheduleDoc
            from processing.workflows import WorkflowStore

            try:
                doc = ScheduleDoc(workflow_id=workflow_id, cron=cron, timezone=tz,
                                  catch_up=catch_up,  # type: ignore[arg-type]
                                  inputs=_read_json_arg(inputs, "--inputs"))
            except ValidationError as exc:
                err = exc.errors()[0]
                raise _fail(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
            s = store()
            if not workflow_id.startswith("algorithm:"):
                WorkflowStore(s.db).get(workflow_id)
            row = s.create_schedule(doc, None)
            backend = aws(s.db)
            if backend is not None:
                try:
                    s.set_aws_schedule(row["id"], backend.put(row))
                except Exception:
                    s.delete(row["id"])  # no schedule that nothing would fire
                    raise
            typer.echo(row["id"])


class SubscribeCommands(_TriggerCommands):
    """`stacworks subscribe add|watch|products|list|show|pause|resume|remove|history`."""

    kind = "subscription"

    def register_add(self) -> None:
        store = self.store

        @self.app.command("add")
        @_friendly
        def subscribe_add(
            collection: Annotated[str, typer.Argument(help="Collection at the source (and ours).")],
            source: Annotated[str, typer.Option(
                help="catalog (ours), stac:<url>, or an eodag provider.")] = "catalog",
            aoi: Annotated[Path | None, typer.Option(
                help="GeoJSON file: a geometry, Feature or FeatureCollection (first).")] = None,
            window: Annotated[str, typer.Option(help="Datetime window ending now.")] = "P3D",
            filter: Annotated[str | None, typer.Option(  # noqa: A002
                "--filter", help="CQL2 text, e.g. 'eo:cloud_cover < 20'.")] = None,
            workflow: Annotated[str | None, typer.Option(
                help="Run this workflow on new items.")] = None,
            per: Annotated[str, typer.Option(help="One job per batch or per item.")] = "batch",
            cron: Annotated[str, typer.Option(help="When to poll.")] = "*/30 * * * *",
            tz: Annotated[str, typer.Option("--tz")] = "UTC",
            parameters: Annotated[str, typer.Option(help="Workflow parameters JSON.")] = "{}",
        ) -> None:
            """Poll a saved search; ingest each new product once; optionally run a workflow."""
            from pydantic import ValidationError

            from processing.triggers.store import SavedSearch, SubscriptionDoc

            geometry = None
            if aoi is not None:
                doc = _read_json_arg(f"@{aoi}", "--aoi")
                if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
                    doc = (doc.get("features") or [{}])[0]
                if isinstance(doc, dict) and doc.get("type") == "Feature":
                    doc = doc.get("geometry")
                geometry = doc
            try:
                sub = SubscriptionDoc(
                    source=source, collection=collection, workflow_id=workflow,
                    per=per,  # type: ignore[arg-type]
                    cron=cron, timezone=tz, parameters=_read_json_arg(parameters, "--parameters"),
                    search=SavedSearch(intersects=geometry, window=window, filter=filter))
            except ValidationError as exc:
                err = exc.errors()[0]
                raise _fail(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
            typer.echo(store().create_subscription(sub, None)["id"])

        @self.app.command("watch")
        @_friendly
        def subscribe_watch(
            collection: Annotated[str, typer.Argument(help="A collection of our catalog.")],
            workflow: Annotated[str, typer.Option(help="The workflow each new item starts.")],
            parameters: Annotated[str, typer.Option(help="Workflow parameters JSON.")] = "{}",
        ) -> None:
            """Start a workflow on each item registered in a collection (any path)."""
            from processing.triggers.store import WatchDoc
            from processing.workflows import WorkflowStore

            s = store()
            if WorkflowStore(s.db).get(workflow).collection == collection:
                raise _fail("collection: the workflow writes into it (it would trigger itself)")
            doc = WatchDoc(collection=collection, workflow_id=workflow,
                           parameters=_read_json_arg(parameters, "--parameters"))
            typer.echo(s.create_watch(doc, None)["id"])

        @self.app.command("products")
        @_friendly
        def subscribe_products(subscription_id: str) -> None:
            """The products a subscription has seen, with their ingest and job state."""
            for p in store().seen(subscription_id):
                typer.echo(f"{p['product_id']}\t{p['status']}\t{p['execution_id'] or '-'}")


def build_cli(ensure_database: EnsureDatabase) -> tuple[typer.Typer, typer.Typer]:
    """The `schedule` and `subscribe` command groups."""
    schedule_app = typer.Typer(help="Run workflows on a schedule.", no_args_is_help=True)
    subscribe_app = typer.Typer(help="Subscribe to new data: ingest it, run a workflow on it.",
                                no_args_is_help=True)
    ScheduleCommands(schedule_app, ensure_database)
    SubscribeCommands(subscribe_app, ensure_database)
    return schedule_app, subscribe_app
