#!/usr/bin/env python3
"""The stacworks CDK app: ``cdk synth`` / ``cdk deploy`` (or ``python app.py`` to synthesise).

Two stacks: ``<prefix>-repositories`` (ECR; deploy first, then push images) and ``<prefix>``
(everything else). Choices are CDK context (``-c key=value``, see stacworks_cdk/config.py);
deploy-time values are CloudFormation parameters (see README.md).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The app reads algorithm files with the CLI's own loader (processing.algorithms).
for path in (HERE, HERE.parents[1]):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import aws_cdk as cdk  # noqa: E402
from stacworks_cdk import DeployConfig, PlatformStack, RepositoriesStack  # noqa: E402


def file_context() -> dict[str, object]:
    """What the ``cdk`` CLI would pass: cdk.json's context, then cdk.context.json's lookups.

    ``python app.py`` (and the tests) read them here, so a synth without the CLI and without
    AWS access sees the same feature flags and the committed availability-zone lookups.
    """
    context: dict[str, object] = {}
    for name in ("cdk.json", "cdk.context.json"):
        path = HERE / name
        if path.is_file():
            doc = json.loads(path.read_text())
            context.update(doc.get("context", {}) if name == "cdk.json" else doc)
    return context


def build(app: cdk.App) -> tuple[RepositoriesStack, PlatformStack]:
    """Add both stacks to ``app`` (tests call this with their own App and context)."""
    config = DeployConfig.from_context(app.node.try_get_context)
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION")
    env = cdk.Environment(account=account, region=region) if account and region else None
    repos = RepositoriesStack(app, f"{config.prefix}-repositories", config=config, env=env)
    platform = PlatformStack(
        app,
        config.prefix,
        config=config,
        platform_repository=repos.platform,
        algorithms_repository=repos.algorithms,
        env=env,
        description="stacworks: STAC catalog, tiles, ingest and workflows on ECS Fargate",
    )
    for stack in (repos, platform):
        cdk.Tags.of(stack).add("project", config.prefix)
    return repos, platform


if __name__ == "__main__":
    # `cdk` sets CDK_OUTDIR; `python app.py` alone writes to ./cdk.out.
    if os.environ.get("CDK_OUTDIR"):
        app = cdk.App()  # run by the cdk CLI, which passes context and output folder
    else:
        app = cdk.App(outdir=str(HERE / "cdk.out"), context=file_context())
    build(app)
    app.synth()
