"""The triggers' parts assembled on a jobs back end: store, webhooks, budgets, the loop.

The jobs service builds one (:meth:`Triggers.for_manager`) and runs its loop with the app; the
budgets become the manager's admission check, so a run over budget is refused whether the API,
a schedule, a subscription or a watch starts it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from processing.db import Database
from processing.errors import ProcessingError
from processing.triggers.budgets import Budgets
from processing.triggers.engine import IngestQueue, TriggerEngine
from processing.triggers.settings import TriggerSettings
from processing.triggers.store import TriggerStore
from processing.triggers.webhooks import Webhooks

__all__ = ["Triggers"]

log = logging.getLogger(__name__)


@dataclass
class Triggers:
    """Everything the /triggers routes and the loop share."""

    manager: Any  # processing.jobs_api.ExecutionBackend (with a ``db``)
    db: Database
    settings: TriggerSettings
    store: TriggerStore
    webhooks: Webhooks
    budgets: Budgets
    engine: TriggerEngine
    aws: Any = None  # processing.triggers.aws.AwsSchedules when the back end is AWS

    @classmethod
    def for_manager(cls, manager: Any, settings: TriggerSettings | None = None,
                    ingest: IngestQueue | None = None) -> Triggers:
        settings = settings or TriggerSettings()
        db: Database = manager.db
        webhooks = Webhooks(db, settings)
        budgets = Budgets(db, manager.settings, announce=webhooks.emit)

        def launch(workflow_id: str, inputs: dict[str, Any],
                   owner: str | None) -> Mapping[str, Any]:
            return manager.submit(workflow_id, inputs, stac_url=None,  # type: ignore[no-any-return]
                                  principal=owner)

        engine = TriggerEngine(db, settings, launch, webhooks,
                               ingest=ingest if ingest is not None else _ingest_bridge(manager))
        aws = None
        if getattr(manager, "aws", None) is not None:
            from processing.triggers.aws import AwsSchedules

            aws = AwsSchedules(manager, settings.aws_scheduler_role_arn,
                               settings.aws_schedule_group)
            engine.aws = aws
        triggers = cls(manager, db, settings, TriggerStore(db, settings), webhooks, budgets,
                       engine, aws)
        manager.admission = triggers.admit
        return triggers

    @contextmanager
    def admit(self, process: Any, item_count: int) -> Iterator[tuple[Any, dict[str, Any]]]:
        """The budget check of a run about to be recorded (its estimate from the registry),
        held until the manager has recorded it inside (see :meth:`Budgets.admission`)."""
        if self.budgets.get(process.workflow.id) is None:
            yield None, {}
            return
        try:
            estimate = float(self.manager.estimate(process.id, item_count)["cost_usd"])
        except ProcessingError:
            estimate = 0.0  # an algorithm gone from the registry: the run fails on its own
        with self.budgets.admission(process.workflow.id, estimate) as admitted:
            yield admitted

    def start(self) -> None:
        if self.settings.enabled:
            self.engine.start()

    def stop(self) -> None:
        self.engine.stop()
        self.webhooks.client.close()


def _ingest_bridge(manager: Any) -> IngestQueue | None:
    """Ingest on the manager's database and store (None where ingest cannot be set up)."""
    try:
        from catalog.settings import CatalogSettings
        from ingest.pipeline import Services
        from ingest.settings import IngestSettings
        from processing.triggers.ingest_bridge import IngestBridge

        catalog = CatalogSettings()
        if catalog.dsn != manager.dsn:
            from pydantic import SecretStr

            catalog = catalog.model_copy(update={"database_url": SecretStr(manager.dsn)})
        return IngestBridge(Services(catalog, IngestSettings(), manager.object_store))
    except Exception:  # noqa: BLE001 - subscriptions to our catalog still work
        log.warning("subscriptions to other sources are off: ingest is not set up",
                    exc_info=True)
        return None
