"""Cron slots in a time zone: which slots fell due since the last firing, and AWS's dialect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from processing.errors import InvalidInput

__all__ = ["CatchUp", "aws_cron", "check_cron", "latest_due", "should_fire", "zone"]

CatchUp = Literal["skip", "run-once"]


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"unknown time zone {name!r} (an IANA name such as "
                                  "Europe/Paris)") from None


def check_cron(expr: str, tz: str, min_interval_seconds: int, field: str = "cron") -> None:
    """A five-field cron expression whose slots are at least ``min_interval_seconds`` apart."""
    if len(expr.split()) != 5:
        raise InvalidInput(field, "expected five fields: minute hour day-of-month month "
                                  "day-of-week")
    try:
        it = croniter(expr, datetime(2026, 1, 1, tzinfo=zone(tz)))
        previous = it.get_next(datetime)
        for _ in range(50):  # the shortest gap over the next slots
            nxt = it.get_next(datetime)
            if (nxt - previous).total_seconds() < min_interval_seconds:
                raise InvalidInput(field, f"slots closer than {min_interval_seconds} s "
                                          "(STACWORKS_TRIGGERS_MIN_INTERVAL_SECONDS)")
            previous = nxt
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise InvalidInput(field, f"not a valid cron expression ({exc})") from None


def latest_due(expr: str, tz: str, last: datetime | None, created: datetime,
               now: datetime) -> datetime | None:
    """The latest slot after ``last`` (or ``created``) and not after ``now``, if any (UTC).

    Found backwards from ``now``, so a trigger resumed after months costs one step, not one per
    missed slot.
    """
    it = croniter(expr, (now + timedelta(seconds=1)).astimezone(zone(tz)))
    slot = it.get_prev(datetime)
    while slot > now:  # now is within the second before a slot
        slot = it.get_prev(datetime)
    return slot.astimezone(UTC) if slot > (last or created) else None


def should_fire(slot: datetime, now: datetime, catch_up: CatchUp, grace_seconds: float) -> bool:
    """Whether a due slot runs: always with ``run-once`` (missed slots collapse into this one
    run), with ``skip`` only when it is not late (the loop was not down when it fell due)."""
    return catch_up == "run-once" or (now - slot).total_seconds() <= grace_seconds


_DOW_NAMES = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}


def _aws_dow(field: str) -> str:
    """Cron's day of week (0-7, Sunday 0 or 7) as AWS's (1-7, Sunday 1)."""
    out = []
    for part in field.split(","):
        if part.upper()[:3] in _DOW_NAMES or part == "*":
            out.append(part)
            continue
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        ends = [str(int(v) % 7 + 1) for v in part.split("-")]
        out.append("-".join(ends) + step)
    return ",".join(out)


def aws_cron(expr: str) -> str:
    """A five-field expression as EventBridge's ``cron(min hour dom month dow year)``."""
    minute, hour, dom, month, dow = expr.split()
    if dom != "*" and dow != "*":
        raise InvalidInput("cron", "AWS cannot combine a day of month with a day of week")
    if dow == "*":
        dow = "?"
    else:
        dom = "?"
        dow = _aws_dow(dow)
    return f"cron({minute} {hour} {dom} {month} {dow} *)"
