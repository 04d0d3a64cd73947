"""Choosing the back end: the jobs service on Step Functions + ECS Fargate when
``STACWORKS_PROCESSING_BACKEND=aws`` (the local executor otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from catalog.access import Access
from catalog.settings import CatalogSettings
from objectstore import ObjectStore, store_from_settings
from objectstore.settings import StoreSettings, load_settings
from processing.aws.manager import AwsExecutionManager, PlatformJobs
from processing.aws.settings import AwsProcessingSettings
from processing.db import Database
from processing.settings import ProcessingSettings

if TYPE_CHECKING:
    from processing.jobs_api import ProcessesFactory

__all__ = ["aws_factory", "aws_manager", "manager_from_environment"]


def aws_manager(catalog_settings: CatalogSettings, settings: ProcessingSettings, *,
                store_settings: StoreSettings | None = None,
                object_store: ObjectStore | None = None,
                aws_settings: AwsProcessingSettings | None = None,
                db: Database | None = None) -> AwsExecutionManager:
    """The AWS execution manager on the catalog database (raises without an S3 store)."""
    store_cfg = store_settings or load_settings(home=catalog_settings.home)
    manager = AwsExecutionManager(
        db=db or Database(catalog_settings.dsn), settings=settings, dsn=catalog_settings.dsn,
        home=catalog_settings.home, store_settings=store_cfg,
        object_store=object_store or store_from_settings(store_cfg), aws_settings=aws_settings,
    )
    # Ingest jobs (`stacworks ingest --backend aws`) are followed, recovered and dismissed here
    # too; the CLI that starts one installs its own, with the tiler's new-collection hook.
    manager.platform_factories[INGEST_PROCESS_ID] = _ingest_jobs(catalog_settings)
    return manager


#: ``ingest.aws.PROCESS_ID``, named here so that ingest is imported only for its jobs.
INGEST_PROCESS_ID = "platform:ingest"


def _ingest_jobs(catalog_settings: CatalogSettings) -> Callable[[AwsExecutionManager],
                                                                PlatformJobs]:
    def make(manager: AwsExecutionManager) -> PlatformJobs:
        from ingest.aws import AwsIngest
        from ingest.pipeline import Services
        from ingest.settings import IngestSettings

        return AwsIngest(manager, Services(catalog_settings, IngestSettings(),
                                           manager.object_store))
    return make


def aws_factory(catalog_settings: CatalogSettings, settings: ProcessingSettings, *,
                store_settings: StoreSettings | None = None,
                object_store: ObjectStore | None = None,
                access: Access | None = None) -> ProcessesFactory:
    """The jobs service with the AWS back end (same routes as local)."""
    from processing.jobs_api import ProcessesFactory

    db = Database(catalog_settings.dsn)
    manager = aws_manager(catalog_settings, settings, store_settings=store_settings,
                          object_store=object_store, db=db)
    return ProcessesFactory(manager=manager, access=access or Access(catalog_settings.dsn),
                            database=db)


def manager_from_environment(db: Database) -> AwsExecutionManager:
    """The AWS manager a CLI command uses (settings from ``STACWORKS_*``; never started)."""
    catalog = CatalogSettings()
    return aws_manager(catalog, ProcessingSettings(), db=db)
