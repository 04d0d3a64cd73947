"""Fargate sizes and what a task of a given size and duration is estimated to cost."""

from __future__ import annotations

from dataclasses import dataclass

from processing.settings import ProcessingSettings

__all__ = ["FARGATE_SIZES", "TaskCost", "fargate_memory_choices", "task_cost"]

#: CPU units -> the memory sizes (MiB) Fargate accepts with it (Linux tasks).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


def fargate_memory_choices(cpu: int) -> tuple[int, ...]:
    """The memory sizes valid with ``cpu`` units (empty when ``cpu`` is no Fargate size)."""
    return FARGATE_SIZES.get(cpu, ())


@dataclass(frozen=True, slots=True)
class TaskCost:
    """The estimate for one task run: its size, billed seconds and dollars."""

    cpu: int
    memory: int
    seconds: float
    billed_seconds: float
    usd: float


def task_cost(cpu: int, memory: int, seconds: float, settings: ProcessingSettings) -> TaskCost:
    """Estimate what the run would cost on Fargate: (vCPU x rate + GB x rate) x billed hours.

    Fargate bills per second with a one-minute minimum, so short local runs are billed as
    ``settings.fargate_minimum_seconds``.
    """
    billed = max(seconds, settings.fargate_minimum_seconds)
    hourly = (cpu / 1024) * settings.fargate_vcpu_hour_usd + (
        memory / 1024
    ) * settings.fargate_gb_hour_usd
    return TaskCost(cpu, memory, seconds, billed, round(hourly * billed / 3600, 8))
