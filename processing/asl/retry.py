"""Retry and Catch: which retrier or catcher handles an error, and how long to back off."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from processing.asl.errors import error_matches

__all__ = [
    "DEFAULT_BACKOFF_RATE",
    "DEFAULT_INTERVAL_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
    "find_handler",
    "retry_delay",
]

DEFAULT_INTERVAL_SECONDS = 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


def find_handler(error: str, handlers: Sequence[dict[str, Any]]) -> int | None:
    """Index of the first Retrier/Catcher whose ErrorEquals matches ``error`` (spec order)."""
    for index, handler in enumerate(handlers):
        if error_matches(error, handler.get("ErrorEquals", ())):
            return index
    return None


def retry_delay(
    retrier: dict[str, Any], retries_so_far: int, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number ``retries_so_far + 1`` under ``retrier``.

    ``IntervalSeconds * BackoffRate ** retries_so_far``, capped by ``MaxDelaySeconds``; with
    ``JitterStrategy: FULL`` the delay is drawn uniformly between 0 and that value.
    """
    interval = float(retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS))
    backoff = float(retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE))
    delay = interval * backoff**retries_so_far
    cap = retrier.get("MaxDelaySeconds")
    if cap is not None:
        delay = min(delay, float(cap))
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay = (rng or random).uniform(0.0, delay)
    return delay
