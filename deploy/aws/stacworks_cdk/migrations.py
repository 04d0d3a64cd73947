"""Schema migrations at deploy time: a one-off Fargate task, waited for by a custom resource.

CloudFormation creates the database, then this resource runs ``stacworks db migrate`` (pgstac +
our alembic revisions) as a Fargate task and polls it until it stops; a non-zero exit fails the
deployment (and rolls it back) before the services are updated. It runs again whenever the task
definition changes, i.e. on every new image tag.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

__all__ = ["HANDLER_SOURCE", "MigrationRun"]

# Inline (no asset, no bundling): boto3 is in the Lambda runtime.
HANDLER_SOURCE = """
import boto3

ecs = boto3.client("ecs")


def on_event(event, context):
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", "stacworks-migrations")}
    p = event["ResourceProperties"]
    res = ecs.run_task(
        cluster=p["Cluster"], taskDefinition=p["TaskDefinition"], launchType="FARGATE",
        count=1, startedBy="stacworks-deploy",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": p["Subnets"], "securityGroups": p["SecurityGroups"],
            "assignPublicIp": "DISABLED"}},
    )
    if res.get("failures") or not res.get("tasks"):
        raise RuntimeError(f"RunTask failed: {res.get('failures')}")
    arn = res["tasks"][0]["taskArn"]
    print(f"migration task {arn}")
    return {"PhysicalResourceId": "stacworks-migrations", "Data": {"TaskArn": arn}}


def is_complete(event, context):
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    p = event["ResourceProperties"]
    arn = event["Data"]["TaskArn"]
    task = ecs.describe_tasks(cluster=p["Cluster"], tasks=[arn])["tasks"][0]
    if task["lastStatus"] != "STOPPED":
        return {"IsComplete": False}
    codes = [c.get("exitCode") for c in task.get("containers", [])]
    if codes != [0]:
        raise RuntimeError(
            f"migrations failed: exit {codes}, {task.get('stoppedReason', '')} "
            f"(see the {p['LogGroup']} log group)"
        )
    return {"IsComplete": True, "Data": {"TaskArn": arn}}
"""


class MigrationRun(Construct):
    """Run ``task_definition`` once per change and wait for exit code 0."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        cluster: ecs.ICluster,
        task_definition: ecs.FargateTaskDefinition,
        subnets: list[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        log_group: logs.ILogGroup,
        retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, cid)
        stack = Stack.of(self)
        code = lambda_.Code.from_inline(HANDLER_SOURCE)
        fn_logs = logs.LogGroup(self, "HandlerLogs", retention=retention)
        common: dict[str, Any] = {
            "runtime": lambda_.Runtime.PYTHON_3_12,
            "code": code,
            "timeout": Duration.minutes(1),
            "log_group": fn_logs,
            "description": "stacworks: run `stacworks db migrate` as a Fargate task at deploy",
        }
        on_event = lambda_.Function(self, "OnEvent", handler="index.on_event", **common)
        is_complete = lambda_.Function(self, "IsComplete", handler="index.is_complete", **common)
        on_event.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[task_definition.task_definition_arn],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        roles = [task_definition.task_role.role_arn]
        if task_definition.execution_role is not None:
            roles.append(task_definition.execution_role.role_arn)
        on_event.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        is_complete.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks"],
                resources=[
                    stack.format_arn(
                        service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*"
                    )
                ],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=on_event,
            is_complete_handler=is_complete,
            query_interval=Duration.seconds(15),
            total_timeout=Duration.minutes(30),
            log_group=fn_logs,
        )
        self.resource = CustomResource(
            self,
            "Run",
            service_token=provider.service_token,
            resource_type="Custom::StacworksMigrations",
            properties={
                "Cluster": cluster.cluster_arn,
                "TaskDefinition": task_definition.task_definition_arn,
                "Subnets": [s.subnet_id for s in subnets],
                "SecurityGroups": [security_group.security_group_id],
                "LogGroup": log_group.log_group_name,
            },
        )
