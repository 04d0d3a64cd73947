"""stacworks on AWS as a CDK app: ECR, VPC, RDS, S3, ECS Fargate, the Step Functions role."""

from stacworks_cdk.config import DeployConfig
from stacworks_cdk.platform import PlatformStack
from stacworks_cdk.repositories import RepositoriesStack

__all__ = ["DeployConfig", "PlatformStack", "RepositoriesStack"]
