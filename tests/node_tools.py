"""The Node.js checkers in tests/node (asl-validator, copc.js), installed by setup.sh.

Setup installs them from tests/node/package-lock.json; a test that needs one fails (never skips)
when Node.js or the package is missing, so a broken setup cannot pass as a green run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NODE_TOOLS = Path(__file__).resolve().with_name("node")
NODE_MODULES = NODE_TOOLS / "node_modules"


def node_module(name: str) -> Path:
    """The installed package folder of ``name``; fails the test when it cannot run."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is not installed: run deploy/scripts/setup.sh")
    module = NODE_MODULES / name
    if not (module / "package.json").is_file():
        pytest.fail(
            f"npm package {name} is not installed in {NODE_TOOLS}: run deploy/scripts/setup.sh"
        )
    return module
