"""RFC 3339 timestamps as ASL restricts them: uppercase ``T`` and ``Z``, fractions allowed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["format_timestamp", "is_timestamp", "parse_timestamp"]

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})"
)


def parse_timestamp(text: object) -> datetime | None:
    """Parse an ASL timestamp into an aware datetime, or return None if it is not one."""
    if not isinstance(text, str):
        return None
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone == "Z":
        tz: timezone = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if zone[0] == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
        )
    except ValueError:
        return None


def is_timestamp(text: object) -> bool:
    """Whether ``text`` is a valid ASL timestamp (``IsTimestamp``)."""
    return parse_timestamp(text) is not None


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime the way Step Functions does: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
