"""The STACWORKS_* environment the CDK app gives the containers, in one place.

The catalog, store and auth names are the settings classes' own (``catalog/settings.py``,
``objectstore/settings.py``, ``catalog/access/settings.py``). The ``STACWORKS_PROCESSING_AWS_*``
names are the AWS processing back end's (``processing/aws/settings.py``); the test
``tests/deploy/test_aws_cdk.py`` checks that every STACWORKS_* name below is a settings field.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DB_SECRET_FIELDS", "PlatformEnvironment", "S3Layout", "database_url_command"]

#: Secrets Manager JSON fields of the RDS secret, injected by ECS as these variables at task
#: start (never in the task definition, never in a log line).
DB_SECRET_FIELDS = {
    "STACWORKS_RDS_USERNAME": "username",
    "STACWORKS_RDS_PASSWORD": "password",
    "STACWORKS_RDS_HOST": "host",
    "STACWORKS_RDS_PORT": "port",
    "STACWORKS_RDS_DBNAME": "dbname",
}


def database_url_command(*argv: str) -> list[str]:
    """A container command that composes STACWORKS_DATABASE_URL from the secret, then runs argv.

    The catalog takes one URL; ECS injects a secret's JSON fields one variable each. The
    generated password has no punctuation (see ``platform.py``), so it needs no URL-quoting.
    ``exec`` keeps the program as PID 1, so ECS's SIGTERM reaches it. (``$NAME`` without
    braces: CloudFormation tooling reads ``${NAME}`` as an unsubstituted parameter.)
    """
    script = (
        'export STACWORKS_DATABASE_URL="postgresql://$STACWORKS_RDS_USERNAME:'
        "$STACWORKS_RDS_PASSWORD@$STACWORKS_RDS_HOST:$STACWORKS_RDS_PORT/"
        '$STACWORKS_RDS_DBNAME"; '
        'unset STACWORKS_RDS_PASSWORD; exec "$@"'
    )
    return ["/bin/sh", "-c", script, "stacworks-entry", *argv]


@dataclass(frozen=True)
class S3Layout:
    """Key prefixes of the one bucket; IAM grants are scoped to these."""

    bucket: str
    #: The object store (``STACWORKS_STORE``): assets of every collection.
    store: str = "catalog"
    #: Inside the store: where Fargate tasks write outputs before the platform registers them
    #: (``STACWORKS_PROCESSING_AWS_WORK_PREFIX``, a key prefix relative to the store).
    work: str = "_processing"

    @property
    def store_url(self) -> str:
        return f"s3://{self.bucket}/{self.store}"

    @property
    def work_keys(self) -> str:
        """The work prefix as a bucket key prefix (for IAM)."""
        return f"{self.store}/{self.work}"


@dataclass(frozen=True)
class PlatformEnvironment:
    """Values known at deploy time (tokens are fine) that every platform container gets."""

    region: str
    layout: S3Layout
    cluster_arn: str
    subnets: str  # comma-separated subnet ids
    task_security_group: str
    task_role_arn: str
    execution_role_arn: str
    state_machine_role_arn: str
    algorithm_log_group: str
    family_prefix: str
    #: The account's ECR registry: image names without a host resolve there.
    image_registry: str
    #: ``stacworks ingest --backend aws``: the platform image and its narrow roles.
    ingest_task_role_arn: str
    ingest_execution_role_arn: str
    ingest_image: str

    def common(self) -> dict[str, str]:
        """For the platform service, the ingest worker and the migration task."""
        return {
            "STACWORKS_HOME": "/data",
            "STACWORKS_STORE": self.layout.store_url,
            "STACWORKS_S3_REGION": self.region,
            # RDS for PostgreSQL 15+ forces TLS; libpq and asyncpg both read PGSSLMODE.
            "PGSSLMODE": "require",
        }

    def platform(self) -> dict[str, str]:
        """The API's settings: auth behind the load balancer, and the AWS processing back end."""
        return {
            **self.common(),
            # Only the load balancer's security group reaches the container port, so every
            # peer is the load balancer: its X-Forwarded-For/-Proto are believed.
            "STACWORKS_AUTH_TRUSTED_PROXIES": "*",
            # Rate limits counted in the database: one budget per caller across tasks.
            "STACWORKS_AUTH_RATE_STORE": "postgres",
            **self.processing(),
        }

    def processing(self) -> dict[str, str]:
        """``STACWORKS_PROCESSING_*``: run workflows on Step Functions + ECS Fargate."""
        return {
            "STACWORKS_PROCESSING_BACKEND": "aws",
            "STACWORKS_PROCESSING_AWS_REGION": self.region,
            "STACWORKS_PROCESSING_AWS_CLUSTER": self.cluster_arn,
            "STACWORKS_PROCESSING_AWS_SUBNETS": self.subnets,
            "STACWORKS_PROCESSING_AWS_SECURITY_GROUPS": self.task_security_group,
            "STACWORKS_PROCESSING_AWS_ASSIGN_PUBLIC_IP": "false",
            "STACWORKS_PROCESSING_AWS_TASK_ROLE_ARN": self.task_role_arn,
            "STACWORKS_PROCESSING_AWS_EXECUTION_ROLE_ARN": self.execution_role_arn,
            "STACWORKS_PROCESSING_AWS_STATE_MACHINE_ROLE_ARN": self.state_machine_role_arn,
            "STACWORKS_PROCESSING_AWS_LOG_GROUP": self.algorithm_log_group,
            "STACWORKS_PROCESSING_AWS_WORK_PREFIX": self.layout.work,
            "STACWORKS_PROCESSING_AWS_NAME_PREFIX": self.family_prefix,
            "STACWORKS_PROCESSING_AWS_IMAGE_REGISTRY": self.image_registry,
            "STACWORKS_PROCESSING_AWS_INGEST_TASK_ROLE_ARN": self.ingest_task_role_arn,
            "STACWORKS_PROCESSING_AWS_INGEST_EXECUTION_ROLE_ARN": self.ingest_execution_role_arn,
            "STACWORKS_PROCESSING_AWS_INGEST_IMAGE": self.ingest_image,
        }
