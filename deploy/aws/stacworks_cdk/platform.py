"""The platform stack: network, database, bucket, ECS services, roles, logs and the budget."""

from __future__ import annotations

from typing import Any

from aws_cdk import (
    ArnFormat,
    Aws,
    CfnCondition,
    CfnOutput,
    CfnParameter,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacworks_cdk.algorithms import (
    AlgorithmTasks,
    check_repositories,
    deploy_settings,
    load_algorithms,
)
from stacworks_cdk.config import REPO_ROOT, DeployConfig
from stacworks_cdk.environment import (
    DB_SECRET_FIELDS,
    PlatformEnvironment,
    S3Layout,
    database_url_command,
)
from stacworks_cdk.migrations import MigrationRun

__all__ = ["POSTGRES_VERSION", "PlatformStack"]

#: Pinned minor version: upgrades are a deliberate change of this line (and a deploy), never
#: an RDS maintenance window's surprise.
POSTGRES_VERSION = rds.PostgresEngineVersion.VER_16_13
PORT = 8000
READY_PATH = "/readyz"
#: The log retentions a deployment may choose (days → CloudWatch Logs' setting).
RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
#: Everything but letters and digits: the password goes into a URL unquoted (environment.py).
PASSWORD_EXCLUDES = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()) + " "


class PlatformStack(Stack):
    """stacworks on ECS Fargate behind an ALB, with RDS PostgreSQL and one S3 bucket."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: DeployConfig,
        platform_repository: ecr.IRepository,
        algorithms_repository: ecr.IRepository,
        **kw: Any,
    ) -> None:
        super().__init__(scope, cid, **kw)
        self.config = config
        p = config.prefix
        protect = config.protect
        retain = RemovalPolicy.RETAIN if protect else RemovalPolicy.DESTROY
        retention = RETENTION[config.log_retention_days]

        # -- parameters (typed at deploy time) --------------------------------------------
        certificate_arn = CfnParameter(
            self,
            "CertificateArn",
            description="ACM certificate (same region) for the HTTPS listener.",
            allowed_pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$",
        )
        alarm_email = CfnParameter(
            self,
            "AlarmEmail",
            description="Who gets the budget and billing alarms (confirm the SNS e-mail).",
            allowed_pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        )
        budget_usd = CfnParameter(
            self,
            "MonthlyBudgetUsd",
            type="Number",
            default=300,
            min_value=1,
            description="Monthly cost budget in USD: e-mails at 80% actual and 100% forecast.",
        )
        image_tag = CfnParameter(
            self,
            "ImageTag",
            description="Tag of the platform image in the platform ECR repository (immutable).",
            allowed_pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        )

        # -- network ----------------------------------------------------------------------
        # Two AZs; one NAT gateway (not one per AZ: $33/month each) for what must reach the
        # internet (ingest providers, images outside ECR). AWS services the platform cannot
        # run without go through endpoints instead, so they keep working in both AZs even when
        # the NAT's AZ is down, and bulk S3 traffic (free gateway endpoint) and image pulls
        # never pay NAT data processing ($0.045/GB).
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=1,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
                ec2.SubnetConfiguration(
                    name="db", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=retention, removal_policy=retain)
        self.vpc.add_flow_log(
            "RejectedFlows",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        app_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        if config.interface_endpoints:
            for name, service in (
                ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
                ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
                ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
                ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ):
                self.vpc.add_interface_endpoint(name, service=service, subnets=app_subnets)

        alb_sg = self._sg("LoadBalancer", "stacworks load balancer: HTTPS (and HTTP redirect)")
        platform_sg = self._sg("Platform", "stacworks API tasks: only the load balancer")
        worker_sg = self._sg("Worker", "stacworks ingest worker and migration tasks: no ingress")
        algorithm_sg = self._sg("Algorithms", "stacworks algorithm tasks: no ingress")
        db_sg = self._sg("Database", "stacworks PostgreSQL: platform and worker tasks only")
        platform_sg.add_ingress_rule(alb_sg, ec2.Port.tcp(PORT), "from the load balancer")
        for peer in (platform_sg, worker_sg):
            db_sg.add_ingress_rule(peer, ec2.Port.tcp(5432), "PostgreSQL")

        # -- storage ----------------------------------------------------------------------
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=retain,
            auto_delete_objects=not protect,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="old-versions-and-uploads",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        layout = S3Layout(bucket=self.bucket.bucket_name)

        # RDS writes its PostgreSQL log to this group; created here (with retention) rather
        # than through `cloudwatch_logs_retention`, which adds a log-retention Lambda.
        db_identifier = f"{p}-db"
        db_logs = logs.LogGroup(
            self,
            "DatabaseLogs",
            log_group_name=f"/aws/rds/instance/{db_identifier}/postgresql",
            retention=retention,
            removal_policy=retain,
        )
        self.database = rds.DatabaseInstance(
            self,
            "Database",
            instance_identifier=db_identifier,
            engine=rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION),
            instance_type=ec2.InstanceType(config.db_instance_class),
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[db_sg],
            database_name="stacworks",
            credentials=rds.Credentials.from_generated_secret(
                "stacworks",
                secret_name=f"{p}/database",
                exclude_characters=PASSWORD_EXCLUDES,
            ),
            storage_encrypted=True,
            storage_type=rds.StorageType.GP3,
            allocated_storage=config.db_allocated_gb,
            max_allocated_storage=config.db_allocated_gb * 10,
            multi_az=config.db_multi_az,
            auto_minor_version_upgrade=False,
            backup_retention=Duration.days(config.db_backup_days),
            copy_tags_to_snapshot=True,
            deletion_protection=protect,
            removal_policy=RemovalPolicy.SNAPSHOT if protect else RemovalPolicy.DESTROY,
            cloudwatch_logs_exports=["postgresql"],
            parameter_group=rds.ParameterGroup(
                self,
                "DatabaseParameters",
                engine=rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION),
                parameters={
                    "rds.force_ssl": "1",
                    "log_min_duration_statement": "2000",
                    "log_connections": "1",
                },
            ),
        )
        self.database.node.add_dependency(db_logs)
        assert self.database.secret is not None
        db_secret = self.database.secret

        # -- logs -------------------------------------------------------------------------
        def log_group(name: str) -> logs.LogGroup:
            return logs.LogGroup(
                self,
                f"{name.title()}Logs",
                log_group_name=f"/{p}/{name}",
                retention=retention,
                removal_policy=retain,
            )

        platform_logs = log_group("platform")
        worker_logs = log_group("worker")
        migration_logs = log_group("migrations")
        algorithm_logs = log_group("algorithms")

        # -- cluster and roles ------------------------------------------------------------
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=p,
            vpc=self.vpc,
            # ECS Exec sessions (how the first admin key is made: README) are not recorded:
            # `stacworks key create` prints a token once, which must not land in a log group.
            execute_command_configuration=ecs.ExecuteCommandConfiguration(
                logging=ecs.ExecuteCommandLogging.NONE
            ),
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
                if config.container_insights
                else ecs.ContainerInsights.DISABLED
            ),
        )
        family_prefix = f"{p}-"

        platform_execution = self._task_role(
            "PlatformExecutionRole",
            "Pull the platform image, write its logs, read the database secret.")
        platform_repository.grant_pull(platform_execution)
        db_secret.grant_read(platform_execution)
        algorithm_execution = self._task_role(
            "AlgorithmExecutionRole", "Pull algorithm images and write their logs; no secrets.")
        algorithms_repository.grant_pull(algorithm_execution)
        algorithm_logs.grant_write(algorithm_execution)

        algorithm_role = self._task_role(
            "AlgorithmTaskRole",
            "Algorithm tasks: read the store, write under its work prefix only.")
        self._grant_s3(algorithm_role, read=[layout.store], write=[layout.work_keys])
        # `stacworks ingest --backend aws`: one Fargate task per product (ingest/fargate.py),
        # the platform image without the database: its product snapshot in, files out, all
        # under the work prefix; the platform copies and registers what it built.
        ingest_execution = self._task_role(
            "IngestExecutionRole",
            "Pull the platform image for ingest tasks, write their logs; no secrets.")
        platform_repository.grant_pull(ingest_execution)
        algorithm_logs.grant_write(ingest_execution)
        ingest_role = self._task_role(
            "IngestTaskRole",
            "Ingest tasks: read and write under the work prefix only; no database.")
        self._grant_s3(ingest_role, read=[layout.work_keys], write=[layout.work_keys])
        platform_role = self._task_role(
            "PlatformTaskRole", "The API: the object store, Step Functions, ECS task definitions.")
        self._grant_s3(platform_role, read=[layout.store], write=[layout.store], owner=True)
        worker_role = self._task_role("WorkerTaskRole", "The ingest worker: the object store only.")
        self._grant_s3(worker_role, read=[layout.store], write=[layout.store], owner=True)
        migration_role = self._task_role(
            "MigrationTaskRole", "The migration task: needs no AWS API (database only).")

        task_definition_arns = self.format_arn(
            service="ecs", resource="task-definition", resource_name=f"{family_prefix}*:*"
        )
        task_arns = self.format_arn(service="ecs", resource="task", resource_name=f"{p}/*")
        state_machine_role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Step Functions executions of stacworks workflows (ecs:runTask.sync).",
        )
        state_machine_role.add_to_policy(
            iam.PolicyStatement(
                sid="RunOurTasksOnOurCluster",
                actions=["ecs:RunTask"],
                resources=[task_definition_arns],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
            )
        )
        state_machine_role.add_to_policy(
            iam.PolicyStatement(
                sid="FollowAndStopOurTasks",
                actions=["ecs:StopTask", "ecs:DescribeTasks"],
                resources=[task_arns],
            )
        )
        state_machine_role.add_to_policy(
            iam.PolicyStatement(
                sid="SyncIntegrationRule",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    self.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForECSTaskRule",
                    )
                ],
            )
        )
        state_machine_role.add_to_policy(
            _pass_role(
                [algorithm_role, algorithm_execution, ingest_role, ingest_execution],
                "ecs-tasks.amazonaws.com",
            )
        )

        state_machines = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=f"{p}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        executions = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{p}-*:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        platform_role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageWorkflowStateMachines",
                actions=[
                    "states:CreateStateMachine",
                    "states:UpdateStateMachine",
                    "states:DeleteStateMachine",
                    "states:DescribeStateMachine",
                    "states:StartExecution",
                    "states:ListExecutions",
                    "states:TagResource",
                ],
                resources=[state_machines],
            )
        )
        platform_role.add_to_policy(
            iam.PolicyStatement(
                sid="FollowExecutions",
                actions=[
                    "states:DescribeExecution",
                    "states:GetExecutionHistory",
                    "states:StopExecution",
                ],
                resources=[executions],
            )
        )
        platform_role.add_to_policy(
            iam.PolicyStatement(
                # These accept no resource-level scoping (IAM service authorization reference);
                # what a registered task definition may run as is limited by PassRole below.
                sid="AlgorithmTaskDefinitions",
                actions=[
                    "ecs:RegisterTaskDefinition",
                    "ecs:DeregisterTaskDefinition",
                    "ecs:DescribeTaskDefinition",
                    "ecs:ListTaskDefinitions",
                ],
                resources=["*"],
            )
        )
        platform_role.add_to_policy(
            iam.PolicyStatement(
                # A workflow's machine is found by name before create/update; listing has no
                # resource scoping either.
                sid="FindStateMachines",
                actions=["states:ListStateMachines"],
                resources=["*"],
            )
        )
        platform_role.add_to_policy(
            iam.PolicyStatement(
                # Registered revisions carry stacworks:algorithm/version tags.
                sid="TagOurTaskDefinitionsOnRegister",
                actions=["ecs:TagResource"],
                resources=[task_definition_arns],
                conditions={"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
            )
        )
        platform_role.add_to_policy(
            iam.PolicyStatement(
                sid="FollowTasks",
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[task_arns],
            )
        )
        platform_role.add_to_policy(
            iam.PolicyStatement(
                sid="TaskLogs",
                actions=["logs:GetLogEvents", "logs:FilterLogEvents"],
                resources=[algorithm_logs.log_group_arn, f"{algorithm_logs.log_group_arn}:*"],
            )
        )
        platform_role.add_to_policy(
            _pass_role(
                [algorithm_role, algorithm_execution, ingest_role, ingest_execution],
                "ecs-tasks.amazonaws.com",
            )
        )
        platform_role.add_to_policy(_pass_role([state_machine_role], "states.amazonaws.com"))

        # Image names without a registry host (algorithms/*.yaml: stacworks/algorithms:1.0.0)
        # resolve to this account's ECR, at synth and when the platform registers algorithms.
        ecr_registry = f"{Aws.ACCOUNT_ID}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}"
        env = PlatformEnvironment(
            region=Aws.REGION,
            layout=layout,
            cluster_arn=self.cluster.cluster_arn,
            subnets=Fn.join(",", [s.subnet_id for s in self.vpc.private_subnets]),
            task_security_group=algorithm_sg.security_group_id,
            task_role_arn=algorithm_role.role_arn,
            execution_role_arn=algorithm_execution.role_arn,
            state_machine_role_arn=state_machine_role.role_arn,
            algorithm_log_group=algorithm_logs.log_group_name,
            family_prefix=family_prefix,
            image_registry=ecr_registry,
            ingest_task_role_arn=ingest_role.role_arn,
            ingest_execution_role_arn=ingest_execution.role_arn,
            ingest_image=platform_repository.repository_uri_for_tag(image_tag.value_as_string),
        )
        image = ecs.ContainerImage.from_ecr_repository(
            platform_repository, tag=image_tag.value_as_string
        )
        secrets = {
            name: ecs.Secret.from_secrets_manager(db_secret, field)
            for name, field in DB_SECRET_FIELDS.items()
        }

        # -- migrations (once per deploy that changes the image) ---------------------------
        migrate_td = self._task_definition(
            "Migration", 512, 1024, migration_role, platform_execution
        )
        migrate_td.add_container(
            "migrate",
            image=image,
            command=database_url_command("stacworks", "db", "migrate"),
            environment=env.common(),
            secrets=secrets,
            logging=ecs.LogDriver.aws_logs(stream_prefix="migrate", log_group=migration_logs),
        )
        migrations = MigrationRun(
            self,
            "Migrations",
            cluster=self.cluster,
            task_definition=migrate_td,
            subnets=self.vpc.private_subnets,
            security_group=worker_sg,
            log_group=migration_logs,
            retention=retention,
        )
        migrations.node.add_dependency(self.database)

        # -- the platform service behind the load balancer ---------------------------------
        platform_td = self._task_definition(
            "Platform",
            config.platform_cpu,
            config.platform_memory,
            platform_role,
            platform_execution,
        )
        platform_td.add_container(
            "platform",
            image=image,
            command=database_url_command(
                "stacworks", "serve", "--host", "0.0.0.0", "--port", str(PORT)
            ),
            environment=env.platform(),
            secrets=secrets,
            port_mappings=[ecs.PortMapping(container_port=PORT)],
            logging=ecs.LogDriver.aws_logs(stream_prefix="platform", log_group=platform_logs),
            health_check=ecs.HealthCheck(
                command=[
                    "CMD",
                    "python",
                    "-c",
                    f"import urllib.request; urllib.request.urlopen("
                    f"'http://127.0.0.1:{PORT}/healthz', timeout=4)",
                ],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(60),
            ),
        )
        self.platform_service = ecs.FargateService(
            self,
            "PlatformService",
            service_name=f"{p}-platform",
            cluster=self.cluster,
            task_definition=platform_td,
            desired_count=config.platform_min_tasks,
            security_groups=[platform_sg],
            vpc_subnets=app_subnets,
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(120),
            enable_execute_command=config.ecs_exec,
        )
        self.platform_service.node.add_dependency(migrations)

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=self.vpc,
            internet_facing=True,
            security_group=alb_sg,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
            deletion_protection=protect,
            idle_timeout=Duration.seconds(120),
        )
        https = self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn.value_as_string)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
        )
        target_group = https.add_targets(
            "Platform",
            port=PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.platform_service],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                # Readiness (database and store answer): a new revision that cannot reach them
                # never turns healthy, so the circuit breaker rolls the deployment back.
                # Five misses 30 s apart ride out a database reboot without replacing tasks;
                # the container's own health check (liveness) is /healthz.
                path=READY_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                healthy_threshold_count=2,
                unhealthy_threshold_count=5,
            ),
        )
        self.load_balancer.add_listener(
            "Http",
            port=80,
            protocol=elbv2.ApplicationProtocol.HTTP,
            default_action=elbv2.ListenerAction.redirect(
                protocol="HTTPS", port="443", permanent=True
            ),
        )
        scaling = self.platform_service.auto_scale_task_count(
            min_capacity=config.platform_min_tasks, max_capacity=config.platform_max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=60,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        scaling.scale_on_request_count(
            "Requests",
            requests_per_target=config.platform_requests_per_target,
            target_group=target_group,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )

        # -- the ingest worker ----------------------------------------------------------
        worker_td = self._task_definition(
            "Worker", config.worker_cpu, config.worker_memory, worker_role, platform_execution
        )
        worker_td.add_container(
            "worker",
            image=image,
            command=database_url_command(
                "stacworks", "worker", "--concurrency", str(config.worker_concurrency)
            ),
            environment=env.common(),
            secrets=secrets,
            logging=ecs.LogDriver.aws_logs(stream_prefix="worker", log_group=worker_logs),
        )
        self.worker_service = ecs.FargateService(
            self,
            "WorkerService",
            service_name=f"{p}-worker",
            cluster=self.cluster,
            task_definition=worker_td,
            desired_count=config.worker_tasks,
            security_groups=[worker_sg],
            vpc_subnets=app_subnets,
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=0 if config.worker_tasks <= 1 else 50,
            max_healthy_percent=200,
        )
        self.worker_service.node.add_dependency(migrations)

        # -- algorithms: a task definition per algorithm file ---------------------------------
        algorithm_specs = load_algorithms(REPO_ROOT / config.algorithms_dir)
        check_repositories(algorithm_specs, [f"{config.prefix}/algorithms"])
        self.algorithms = AlgorithmTasks(
            self,
            "Algorithms",
            specs=algorithm_specs,
            settings=deploy_settings(
                region=Aws.REGION,
                log_group=algorithm_logs.log_group_name,
                name_prefix=family_prefix,
                task_role_arn=algorithm_role.role_arn,
                execution_role_arn=algorithm_execution.role_arn,
                image_registry=ecr_registry,
            ),
        )

        # -- cost guard rails -----------------------------------------------------------------
        budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"{p}-monthly-cost",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(
                    amount=budget_usd.value_as_number, unit="USD"
                ),
            ),
            notifications_with_subscribers=[
                _budget_alert("ACTUAL", 80, alarm_email.value_as_string),
                _budget_alert("FORECASTED", 100, alarm_email.value_as_string),
            ],
        )
        # The EstimatedCharges metric exists only in us-east-1 (and only once "Receive Billing
        # Alerts" is on in the account's billing preferences): elsewhere the budget alone warns.
        in_us_east_1 = CfnCondition(
            self, "InUsEast1", expression=Fn.condition_equals(Aws.REGION, "us-east-1")
        )
        topic = sns.Topic(self, "BillingAlarmTopic", display_name=f"{p} billing alarm")
        sns.Subscription(
            self,
            "BillingAlarmEmail",
            topic=topic,
            protocol=sns.SubscriptionProtocol.EMAIL,
            endpoint=alarm_email.value_as_string,
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOnly",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        cloudwatch.CfnAlarm(
            self,
            "BillingAlarm",
            alarm_description=f"{p}: estimated charges this month passed the budget",
            namespace="AWS/Billing",
            metric_name="EstimatedCharges",
            dimensions=[cloudwatch.CfnAlarm.DimensionProperty(name="Currency", value="USD")],
            statistic="Maximum",
            period=21600,
            evaluation_periods=1,
            threshold=budget_usd.value_as_number,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[topic.topic_arn],
        )
        # The topic, its policy and subscription exist only where the alarm does.
        for construct in self.node.find_all():
            if isinstance(
                construct,
                cloudwatch.CfnAlarm | sns.CfnTopic | sns.CfnTopicPolicy | sns.CfnSubscription,
            ):
                construct.cfn_options.condition = in_us_east_1

        # -- outputs --------------------------------------------------------------------------
        outputs = {
            "Url": Fn.join("", ["https://", self.load_balancer.load_balancer_dns_name, "/"]),
            "LoadBalancerDns": self.load_balancer.load_balancer_dns_name,
            "BucketName": self.bucket.bucket_name,
            "Store": layout.store_url,
            "ClusterArn": self.cluster.cluster_arn,
            "DatabaseSecretArn": db_secret.secret_arn,
            "StateMachineRoleArn": state_machine_role.role_arn,
            "AlgorithmTaskRoleArn": algorithm_role.role_arn,
            "AlgorithmExecutionRoleArn": algorithm_execution.role_arn,
            "PlatformLogGroup": platform_logs.log_group_name,
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)

    # -- helpers ------------------------------------------------------------------------------
    def _sg(self, name: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self,
            f"{name}SecurityGroup",
            vpc=self.vpc,
            description=description,
            allow_all_outbound=True,
        )

    def _task_definition(
        self, name: str, cpu: int, memory: int, role: iam.IRole, execution: iam.IRole
    ) -> ecs.FargateTaskDefinition:
        return ecs.FargateTaskDefinition(
            self,
            f"{name}TaskDefinition",
            # "_" keeps these out of the algorithms' "stacworks-<name>" family namespace (and so
            # out of what the Step Functions role may run): algorithm names cannot contain it
            # first.
            family=f"{self.config.prefix}_{name.lower()}",
            cpu=cpu,
            memory_limit_mib=memory,
            task_role=role,
            execution_role=execution,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )

    def _task_role(self, name: str, description: str) -> iam.Role:
        """A role ECS tasks assume (an execution role or a task role); grants are added after."""
        return iam.Role(self, name, assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                        description=description)

    def _grant_s3(
        self, role: iam.Role, *, read: list[str], write: list[str], owner: bool = False
    ) -> None:
        """Object access under ``prefix/`` only; listing only with those prefixes.

        ``owner`` roles (the API, the worker) may list the whole bucket: S3 answers 404 for a
        missing key only to a caller allowed ``s3:ListBucket`` (403 otherwise, whose request
        carries no prefix to match), and the store reads a 403 as a broken store (``/readyz``
        fails, ``exists()`` raises). Object reads and writes stay under the prefixes.
        """
        arn = self.bucket.bucket_arn
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"{arn}/{prefix}/*" for prefix in read],
            )
        )
        if write:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    resources=[f"{arn}/{prefix}/*" for prefix in write],
                )
            )
        prefixes = sorted({f"{p}/*" for p in read + write} | set(read + write))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[arn],
                conditions=None if owner else {"StringLike": {"s3:prefix": prefixes}},
            )
        )


def _pass_role(roles: list[iam.IRole], service: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=["iam:PassRole"],
        resources=[r.role_arn for r in roles],
        conditions={"StringEquals": {"iam:PassedToService": service}},
    )


def _budget_alert(
    kind: str, percent: float, email: str
) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
    return budgets.CfnBudget.NotificationWithSubscribersProperty(
        notification=budgets.CfnBudget.NotificationProperty(
            notification_type=kind,
            comparison_operator="GREATER_THAN",
            threshold=percent,
            threshold_type="PERCENTAGE",
        ),
        subscribers=[
            budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=email)
        ],
    )
