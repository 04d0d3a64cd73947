"""Helpers more than one benchmark uses: a private catalog, a busy core.

Benchmarks run as scripts (``.venv/bin/python bench/x/run.py``); each puts the repository root
on ``sys.path`` and imports this module as ``bench.helpers``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.harness import free_port, remove_tree, stacworks, world_traversable_tmpdir

__all__ = ["Catalog", "one_core_busy", "private_catalog"]


class Catalog:
    """A data folder with its own PostgreSQL cluster, and the environment pointing at it."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env

    @property
    def settings(self):  # noqa: ANN201  # CatalogSettings, imported late
        from catalog.settings import CatalogSettings

        return CatalogSettings(home=self.env["STACWORKS_HOME"],
                               db_port=int(self.env["STACWORKS_DB_PORT"]))

    def load(self, docs: list[dict], name: str = "load.json") -> None:
        path = self.home / name
        path.write_text(json.dumps(docs))
        stacworks("load", str(path), env=self.env, timeout=3600)


@contextlib.contextmanager
def private_catalog(prefix: str) -> Iterator[Catalog]:
    """A fresh cluster under a temporary folder (``STACWORKS_HOME`` is ``<folder>/home``),
    migrated, stopped and removed afterwards; no store or database URL from the caller's env."""
    home = world_traversable_tmpdir(prefix)
    env = {**os.environ, "STACWORKS_HOME": str(home / "home"),
           "STACWORKS_DB_PORT": str(free_port())}
    env.pop("STACWORKS_DATABASE_URL", None)
    env.pop("STACWORKS_STORE", None)
    try:
        stacworks("db", "start", env=env)
        stacworks("db", "migrate", env=env)
        yield Catalog(home, env)
    finally:
        stacworks("db", "stop", env=env, check=False)
        remove_tree(home)


@contextlib.contextmanager
def one_core_busy() -> Iterator[None]:
    """A background process spinning one core for the duration of the block."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it get scheduled before timing starts
        yield
    finally:
        spinner.kill()
        spinner.wait()
