"""`stacworks serve` under a memory cap, for tests that send what an attacker would.

A regression (a body read whole, a parser recursing) then fails the test with an error from
the server instead of taking the machine down; ``peak_rss`` tells how much one case cost.
"""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness import serve_process

GiB = 1024**3
#: Address space the server may map: its idle map (~1.3 GiB: GDAL, numpy, threads) plus room.
DEFAULT_CAP = 4 * GiB


@dataclass
class Capped:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def rss(self) -> int:
        return self._status("VmRSS")

    def peak_rss(self) -> int:
        """Highest resident size so far (VmHWM)."""
        return self._status("VmHWM")

    def alive(self) -> bool:
        """The process runs and answers."""
        if self.proc.poll() is not None:
            return False
        return httpx.get(f"{self.base}/healthz", timeout=10).status_code == 200

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def capped_serve(env: dict[str, str], log: Path, *args: str,
                 cap: int = DEFAULT_CAP) -> Iterator[Capped]:
    """`stacworks serve [args]` on a free port with RLIMIT_AS = ``cap`` (and few malloc arenas,
    which otherwise reserve address space per thread)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**env, "MALLOC_ARENA_MAX": "2"}
    # The timeout allows for a slow start on a busy machine.
    with serve_process(env, *args, log=log, timeout=180, preexec_fn=limit) as (base, proc):
        yield Capped(base=base, proc=proc, log=log)
