"""Trigger definitions: checked documents (shared by the API and the CLI) and their rows.

Three kinds, one id space (``sch_``, ``sub_``, ``wat_`` prefixes) so a firing names its
trigger unambiguously: schedules (a workflow on a cron), subscriptions (a saved search polled
on a cron; new products ingested once, then optionally a workflow), watches (a workflow per
item registered in a collection of ours).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from processing.db import Database
from processing.errors import InvalidInput, NotFound, ProcessingError
from processing.triggers.cron import CatchUp, check_cron, zone
from processing.triggers.settings import TriggerSettings

__all__ = [
    "KINDS",
    "SavedSearch",
    "ScheduleDoc",
    "SubscriptionDoc",
    "TriggerStore",
    "WatchDoc",
    "parse_window",
    "returned",
]

#: kind -> (table, id prefix)
KINDS: dict[str, tuple[str, str]] = {
    "schedule": ("trigger_schedules", "sch_"),
    "subscription": ("trigger_subscriptions", "sub_"),
    "watch": ("trigger_watches", "wat_"),
}
_WINDOW = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?)?$")


def parse_window(text: str) -> timedelta:
    """An ISO 8601 duration of days, hours and minutes (``P10D``, ``PT6H``, ``P1DT12H``)."""
    m = _WINDOW.match(text)
    if not m or not any(m.groups()):
        raise InvalidInput("search.window", "expected an ISO 8601 duration such as P10D or PT6H")
    days, hours, minutes = (float(g or 0) for g in m.groups())
    window = timedelta(days=days, hours=hours, minutes=minutes)
    if window <= timedelta(0):
        raise InvalidInput("search.window", "must be longer than zero")
    return window


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SavedSearch(_Doc):
    """What a subscription looks for: an area, a time window ending now, a CQL2 filter."""

    intersects: dict[str, Any] | None = Field(default=None,
                                              description="AOI as a GeoJSON geometry.")
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4)
    window: str = Field(default="P3D", description="Datetime window ending now (ISO 8601).")
    filter: str | None = Field(default=None, max_length=4000,
                               description="CQL2 text, e.g. eo:cloud_cover < 20.")
    limit: int | None = Field(default=None, ge=1)

    @field_validator("filter")
    @classmethod
    def _cql2(cls, value: str | None) -> str | None:
        if value is not None:
            import cql2

            from catalog.errors import InvalidInput as FilterTooDeep
            from catalog.limits import LimitSettings, check_filter_text

            try:  # measured first: cql2 overflows its stack (a segfault) on deep nesting
                check_filter_text(value, LimitSettings())
            except FilterTooDeep as exc:
                raise ValueError(str(exc).removeprefix("filter: ")) from None
            try:
                cql2.parse_text(value)
            except Exception as exc:  # noqa: BLE001 - cql2's parse errors vary
                raise ValueError(f"not CQL2 text ({str(exc).splitlines()[0][:200]})") from None
        return value

    @field_validator("intersects")
    @classmethod
    def _geometry(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from shapely.geometry import shape

            try:
                geom = shape(value)
            except Exception:  # noqa: BLE001 - shapely raises several kinds
                raise ValueError("not a GeoJSON geometry") from None
            if geom.is_empty or not geom.is_valid:
                raise ValueError("an empty or invalid geometry")
            import shapely

            limit = TriggerSettings().max_aoi_vertices
            if shapely.get_num_coordinates(geom) > limit:
                raise ValueError(f"more than {limit} vertices "
                                 "(STACWORKS_TRIGGERS_MAX_AOI_VERTICES)")
        return value

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: list[float] | None) -> list[float] | None:
        """West, south, east, north in degrees (west > east crosses the antimeridian)."""
        if value is not None:
            west, south, east, north = value
            if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
                raise ValueError("expected west, south, east, north in degrees with "
                                 "south <= north")
        return value


class _Timed(_Doc):
    cron: str = Field(max_length=200, description="Five-field cron expression.")
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone.")


class ScheduleDoc(_Timed):
    workflow_id: str = Field(max_length=200)
    inputs: dict[str, Any] = Field(description="Fixed job inputs (items/ids/search/parameters).")
    catch_up: CatchUp = "skip"


class SubscriptionDoc(_Timed):
    source: str = Field(default="catalog", max_length=500,
                        description="catalog, stac:<url> or an eodag provider.")
    collection: str = Field(max_length=200)
    search: SavedSearch = Field(default_factory=SavedSearch)
    workflow_id: str | None = Field(default=None, max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict)
    per: Literal["batch", "item"] = "batch"


class WatchDoc(_Doc):
    collection: str = Field(max_length=200)
    workflow_id: str = Field(max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict)


def returned(row: Any) -> dict[str, Any]:
    """The row an ``INSERT ... RETURNING`` gave (always one)."""
    if row is None:
        raise ProcessingError("the database returned no row")
    return dict(row)


def _row_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


class TriggerStore:
    """Rows of the three kinds, their firings and seen products."""

    def __init__(self, db: Database, settings: TriggerSettings) -> None:
        self.db = db
        self.settings = settings

    @staticmethod
    def kind_of(trigger_id: str) -> str:
        for kind, (_, prefix) in KINDS.items():
            if trigger_id.startswith(prefix):
                return kind
        raise NotFound(f"trigger {trigger_id!r} does not exist")

    def _check_timed(self, doc: _Timed) -> None:
        zone(doc.timezone)
        check_cron(doc.cron, doc.timezone, self.settings.min_interval_seconds)

    def _count_guard(self, kind: str, owner: str | None) -> None:
        table = KINDS[kind][0]
        with self.db.connection() as conn:
            row = conn.execute(f"SELECT count(*) AS n FROM stacworks.{table} "  # noqa: S608
                               "WHERE owner IS NOT DISTINCT FROM %s", (owner,)).fetchone()
        if row and row["n"] >= self.settings.max_per_owner:
            raise InvalidInput(kind, f"at most {self.settings.max_per_owner} per owner "
                                     "(STACWORKS_TRIGGERS_MAX_PER_OWNER)")

    def create_schedule(self, doc: ScheduleDoc, owner: str | None) -> dict[str, Any]:
        self._check_timed(doc)
        self._count_guard("schedule", owner)
        with self.db.connection() as conn:
            return returned(conn.execute(
                "INSERT INTO stacworks.trigger_schedules (id, owner, workflow_id, inputs, cron, "
                "timezone, catch_up) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (f"sch_{uuid.uuid4().hex[:16]}", owner, doc.workflow_id, json.dumps(doc.inputs),
                 doc.cron, doc.timezone, doc.catch_up),
            ).fetchone())

    def create_subscription(self, doc: SubscriptionDoc, owner: str | None) -> dict[str, Any]:
        self._check_timed(doc)
        window = parse_window(doc.search.window)
        if window > timedelta(days=self.settings.max_window_days):
            raise InvalidInput("search.window", f"longer than {self.settings.max_window_days} "
                                                "days (STACWORKS_TRIGGERS_MAX_WINDOW_DAYS)")
        self._count_guard("subscription", owner)
        with self.db.connection() as conn:
            return returned(conn.execute(
                "INSERT INTO stacworks.trigger_subscriptions (id, owner, source, collection, "
                "search, workflow_id, parameters, per, cron, timezone) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (f"sub_{uuid.uuid4().hex[:16]}", owner, doc.source, doc.collection,
                 doc.search.model_dump_json(exclude_none=True), doc.workflow_id,
                 json.dumps(doc.parameters), doc.per, doc.cron, doc.timezone),
            ).fetchone())

    def create_watch(self, doc: WatchDoc, owner: str | None) -> dict[str, Any]:
        """A watch sees changes from now on: its cursor starts at the latest change."""
        self._count_guard("watch", owner)
        with self.db.connection() as conn:
            return returned(conn.execute(
                "INSERT INTO stacworks.trigger_watches (id, owner, collection, workflow_id, "
                "parameters, cursor) VALUES (%s, %s, %s, %s, %s, (SELECT coalesce(max(id), 0) "
                "FROM stacworks.catalog_changes)) RETURNING *",
                (f"wat_{uuid.uuid4().hex[:16]}", owner, doc.collection, doc.workflow_id,
                 json.dumps(doc.parameters)),
            ).fetchone())

    def get(self, trigger_id: str) -> dict[str, Any]:
        table = KINDS[self.kind_of(trigger_id)][0]
        with self.db.connection() as conn:
            row = conn.execute(f"SELECT * FROM stacworks.{table} WHERE id = %s",  # noqa: S608
                               (trigger_id,)).fetchone()
        if row is None:
            raise NotFound(f"trigger {trigger_id!r} does not exist")
        return {"kind": self.kind_of(trigger_id), **row}

    def owner_of(self, trigger_id: str) -> str | None:
        return self.get(trigger_id)["owner"]  # type: ignore[no-any-return]

    def find(self, owner: str | None | bool, kind: str | None = None) -> list[dict[str, Any]]:
        """Triggers of ``owner`` (True: everyone's), newest first."""
        out: list[dict[str, Any]] = []
        for name, (table, _) in KINDS.items():
            if kind is not None and name != kind:
                continue
            with self.db.connection() as conn:
                rows = conn.execute(
                    f"SELECT * FROM stacworks.{table} WHERE %s "  # noqa: S608
                    "OR owner IS NOT DISTINCT FROM %s ORDER BY created_at DESC, id",
                    (owner is True, None if owner is True else owner),
                ).fetchall()
            out += [{"kind": name, **r} for r in rows]
        return out

    def set_paused(self, trigger_id: str, paused: bool) -> dict[str, Any]:
        table = KINDS[self.kind_of(trigger_id)][0]
        with self.db.connection() as conn:
            conn.execute(f"UPDATE stacworks.{table} SET paused = %s, updated_at = now() "  # noqa: S608
                         "WHERE id = %s", (paused, trigger_id))
        return self.get(trigger_id)

    def set_aws_schedule(self, trigger_id: str, name: str | None) -> None:
        with self.db.connection() as conn:
            conn.execute("UPDATE stacworks.trigger_schedules SET aws_schedule = %s WHERE id = %s",
                         (name, trigger_id))

    def delete(self, trigger_id: str) -> None:
        table = KINDS[self.kind_of(trigger_id)][0]
        with self.db.connection() as conn:
            conn.execute(f"DELETE FROM stacworks.{table} WHERE id = %s",  # noqa: S608
                         (trigger_id,))

    def firings(self, trigger_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return list(conn.execute(
                "SELECT * FROM stacworks.trigger_firings WHERE trigger_id = %s "
                "ORDER BY id DESC LIMIT %s", (trigger_id, limit)).fetchall())

    def seen(self, subscription_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return list(conn.execute(
                "SELECT * FROM stacworks.trigger_seen_products WHERE subscription_id = %s "
                "ORDER BY seen_at, product_id LIMIT %s", (subscription_id, limit)).fetchall())

    @staticmethod
    def public(row: dict[str, Any]) -> dict[str, Any]:
        return _row_out(row)


def utcnow() -> datetime:
    return datetime.now(UTC)
