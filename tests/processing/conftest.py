"""Fixtures for the ASL interpreter tests: an event recorder, a fake clock, ARNs."""

from __future__ import annotations

import pytest

from processing.asl import EventRecorder, FakeClock


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
