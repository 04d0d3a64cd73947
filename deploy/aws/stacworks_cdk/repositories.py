"""ECR repositories in a stack of their own: images must be pushed before the platform starts."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from stacworks_cdk.config import DeployConfig

__all__ = ["RepositoriesStack"]


class RepositoriesStack(Stack):
    """``platform`` (the one stacworks image) and ``algorithms`` (algorithm images).

    Tags are immutable, so a tag names one build forever and a task's provenance (image and
    digest) keeps meaning what it said; images are scanned on push.
    """

    def __init__(self, scope: Construct, cid: str, *, config: DeployConfig, **kw: Any) -> None:
        super().__init__(scope, cid, **kw)
        removal = RemovalPolicy.RETAIN if config.protect else RemovalPolicy.DESTROY
        self.repositories: dict[str, ecr.Repository] = {}
        for name in ("platform", "algorithms"):
            repo = ecr.Repository(
                self,
                f"{name.title()}Repository",
                repository_name=f"{config.prefix}/{name}",
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                image_scan_on_push=True,
                encryption=ecr.RepositoryEncryption.AES_256,
                removal_policy=removal,
                empty_on_delete=not config.protect,
                lifecycle_rules=[
                    ecr.LifecycleRule(
                        description="Untagged layers of replaced builds",
                        tag_status=ecr.TagStatus.UNTAGGED,
                        max_image_age=Duration.days(14),
                    )
                ],
            )
            self.repositories[name] = repo
            CfnOutput(self, f"{name.title()}RepositoryUri", value=repo.repository_uri)

    @property
    def platform(self) -> ecr.Repository:
        return self.repositories["platform"]

    @property
    def algorithms(self) -> ecr.Repository:
        return self.repositories["algorithms"]
