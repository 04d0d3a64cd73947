"""Schedules: a fake clock, two servers ticking at once; one firing per slot, time zones and
the catch-up policy after downtime."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from processing.db import Database
from processing.errors import InvalidInput
from processing.triggers.cron import aws_cron, latest_due
from processing.triggers.settings import TriggerSettings
from processing.triggers.store import ScheduleDoc, TriggerStore
from tests.processing.triggers.helpers import RecordingLauncher, engine, tick_together

#: Far in the future, so the session server's own trigger loop (real clock) never finds these
#: schedules due while the fake clock drives them.
T0 = datetime(2031, 1, 6, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(dsn: str) -> Iterator[TriggerStore]:
    db = Database(dsn, max_size=2)
    yield TriggerStore(db, TriggerSettings())
    db.close()


def _schedule(store: TriggerStore, cron: str, *, tz: str = "UTC", catch_up: str = "skip",
              created: datetime = T0) -> str:
    row = store.create_schedule(ScheduleDoc(workflow_id="wf-sched", cron=cron, timezone=tz,
                                            catch_up=catch_up,  # type: ignore[arg-type]
                                            inputs={"collection": "c", "ids": ["a"]}), None)
    with store.db.connection() as conn:
        conn.execute("UPDATE stacworks.trigger_schedules SET created_at = %s WHERE id = %s",
                     (created, row["id"]))
    return str(row["id"])


def test_two_servers_fire_each_slot_once(dsn: str, store: TriggerStore) -> None:
    schedule = _schedule(store, "*/15 * * * *")
    launch = RecordingLauncher()
    servers = [engine(dsn, launch), engine(dsn, launch)]
    now = T0
    while now <= T0 + timedelta(hours=1, minutes=1):
        tick_together(servers, now)
        tick_together(servers, now)  # the same instant again: nothing new
        now += timedelta(minutes=5)
    firings = store.firings(schedule)
    slots = sorted(f["slot"] for f in firings)
    assert slots == [T0 + timedelta(minutes=m) for m in (15, 30, 45, 60)]
    assert {f["status"] for f in firings} == {"started"}
    mine = [c for c in launch.calls if c[1] == {"collection": "c", "ids": ["a"]}]
    assert len(mine) == 4
    assert all(len(f["execution_ids"]) == 1 for f in firings)


def test_time_zone_and_daylight_saving(dsn: str, store: TriggerStore) -> None:
    """09:00 in Paris is 08:00 UTC in winter and 07:00 UTC after the spring change."""
    created = datetime(2031, 3, 29, 12, 0, tzinfo=UTC)  # DST starts 2031-03-30 in Europe
    schedule = _schedule(store, "0 9 * * *", tz="Europe/Paris", created=created)
    launch = RecordingLauncher()
    server = engine(dsn, launch)
    server.tick(datetime(2031, 3, 30, 6, 59, tzinfo=UTC))
    assert store.firings(schedule) == []
    server.tick(datetime(2031, 3, 30, 7, 0, 30, tzinfo=UTC))
    (firing,) = store.firings(schedule)
    assert firing["slot"] == datetime(2031, 3, 30, 7, 0, tzinfo=UTC)
    # a trigger resumed after years: one step back from now, not a walk over every slot
    years_ago = datetime(2020, 1, 1, tzinfo=UTC)
    assert latest_due("* * * * *", "UTC", years_ago, years_ago,
                      datetime(2031, 1, 6, 10, 0, 30, tzinfo=UTC)) == T0
    assert latest_due("* * * * *", "UTC", T0, years_ago, T0 + timedelta(seconds=59)) is None
    assert latest_due("0 9 * * *", "Europe/Paris", None, datetime(2031, 1, 1, tzinfo=UTC),
                      datetime(2031, 1, 2, 8, 30, tzinfo=UTC)) == datetime(2031, 1, 2, 8, 0,
                                                                           tzinfo=UTC)


@pytest.mark.parametrize(("catch_up", "back_at", "expected"), [
    ("skip", timedelta(hours=3, minutes=2), "started"),   # back within the grace: on time
    ("skip", timedelta(hours=3, minutes=9), "skipped"),   # late: the missed slot is dropped
    ("run-once", timedelta(hours=3, minutes=9), "started"),  # late: run once for all missed
])
def test_catch_up_after_downtime(dsn: str, store: TriggerStore, catch_up: str,
                                 back_at: timedelta, expected: str) -> None:
    schedule = _schedule(store, "*/15 * * * *", catch_up=catch_up)
    launch = RecordingLauncher()
    server = engine(dsn, launch)
    server.tick(T0 + timedelta(minutes=16))  # fires 10:15, then the server is down
    server.tick(T0 + back_at)  # 11 missed slots: one firing at most, for the latest
    server.tick(T0 + back_at)
    firings = sorted(store.firings(schedule), key=lambda f: f["slot"])
    assert [f["status"] for f in firings] == ["started", expected]
    assert firings[1]["slot"] == T0 + timedelta(hours=3)
    assert len(launch.calls) == (2 if expected == "started" else 1)


def test_bad_definitions_are_refused(store: TriggerStore) -> None:
    with pytest.raises(InvalidInput, match="cron"):
        store.create_schedule(ScheduleDoc(workflow_id="w", cron="* * *", inputs={}), None)
    strict = TriggerStore(store.db, TriggerSettings(min_interval_seconds=300))
    with pytest.raises(InvalidInput, match="STACWORKS_TRIGGERS_MIN_INTERVAL_SECONDS"):
        strict.create_schedule(ScheduleDoc(workflow_id="w", cron="*/2 * * * *", inputs={}), None)
    with pytest.raises(InvalidInput, match="timezone"):
        store.create_schedule(ScheduleDoc(workflow_id="w", cron="0 * * * *", inputs={},
                                          timezone="Mars/Olympus"), None)
    assert aws_cron("30 6 * * 1-5") == "cron(30 6 ? * 2-6 *)"
    assert aws_cron("0 9 1 * *") == "cron(0 9 1 * ? *)"
