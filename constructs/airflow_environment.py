"""An Amazon MWAA environment with its security group and a least-privilege execution role."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_mwaa as mwaa
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.suppressions import S3_READ_ACTIONS, arn_token, nag_suppress, suppress_grants, suppress_inline_policy

LOG_TYPES = ("dag_processing_logs", "scheduler_logs", "task_logs", "webserver_logs", "worker_logs")
SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
CONNECTIONS_PREFIX = "airflow/connections"
VARIABLES_PREFIX = "airflow/variables"


class AirflowEnvironment(Construct):
    """MWAA, private webserver, all five log types, Secrets Manager for connections and variables.

    `requirements`, `startup_script` and `plugins` are (S3 key, object version) pairs in `source_bucket`:
    pinning the version means a platform rollback restores exactly the previous files. `plugins` is
    None only where the staged packages are absent (an offline synth, docs/packages.md).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        airflow_version: str,
        environment_class: str,
        min_workers: int,
        max_workers: int,
        max_webservers: int,
        schedulers: int,
        vpc: ec2.IVpc,
        subnet_ids: Sequence[str],
        source_bucket: s3.IBucket,
        dag_prefix: str,
        requirements: tuple[str, str],
        startup_script: tuple[str, str],
        kms_key: kms.IKey,
        configuration: Mapping[str, str],
        plugins: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        # MWAA requires a name; derive it from the construct path so it is stable and unique per stage.
        self.name = cdk.Names.unique_resource_name(self, max_length=64, separator="-")
        self.arn = f"arn:{stack.partition}:airflow:{stack.region}:{stack.account}:environment/{self.name}"

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="MWAA scheduler, workers and webserver", allow_all_outbound=True
        )
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.all_traffic(), "MWAA components reach each other (required by MWAA)"
        )

        self.role = iam.Role(
            self,
            "ExecutionRole",
            description="MWAA execution role: its bucket, logs, queues and key, plus what DAGs are granted",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("airflow.amazonaws.com"), iam.ServicePrincipal("airflow-env.amazonaws.com")
            ),
        )
        self._grant_mwaa_baseline(stack, source_bucket, kms_key)

        options = {
            "secrets.backend": SECRETS_BACKEND,
            "secrets.backend_kwargs": json.dumps(
                {"connections_prefix": CONNECTIONS_PREFIX, "variables_prefix": VARIABLES_PREFIX}, sort_keys=True
            ),
            "core.load_examples": "False",
            # New DAG files (a release adding a pipeline) are listed within a minute, not the default five.
            "scheduler.dag_dir_list_interval": "60",
            **configuration,
        }
        self.environment = mwaa.CfnEnvironment(
            self,
            "Environment",
            name=self.name,
            airflow_version=airflow_version,
            environment_class=environment_class,
            min_workers=min_workers,
            max_workers=max_workers,
            max_webservers=max_webservers,
            schedulers=schedulers,
            execution_role_arn=self.role.role_arn,
            kms_key=kms_key.key_arn,
            source_bucket_arn=source_bucket.bucket_arn,
            dag_s3_path=dag_prefix.rstrip("/"),
            requirements_s3_path=requirements[0],
            requirements_s3_object_version=requirements[1],
            startup_script_s3_path=startup_script[0],
            startup_script_s3_object_version=startup_script[1],
            plugins_s3_path=plugins[0] if plugins else None,
            plugins_s3_object_version=plugins[1] if plugins else None,
            webserver_access_mode="PRIVATE_ONLY",
            # Running tasks finish on the old workers during an environment update instead of being killed.
            worker_replacement_strategy="GRACEFUL",
            weekly_maintenance_window_start="SUN:03:00",
            airflow_configuration_options=dict(sorted(options.items())),
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                security_group_ids=[self.security_group.security_group_id], subnet_ids=list(subnet_ids)
            ),
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(
                **{
                    log_type: mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(enabled=True, log_level="INFO")
                    for log_type in LOG_TYPES
                }
            ),
        )
        # The role's policy must exist before MWAA validates the environment with it.
        self.environment.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        self._suppress(stack, source_bucket)

    def _grant_mwaa_baseline(self, stack: cdk.Stack, source_bucket: s3.IBucket, kms_key: kms.IKey) -> None:
        """The execution-role policy from the MWAA user guide (customer-managed key), scoped to this environment."""
        region, account, partition = stack.region, stack.account, stack.partition
        add = self.role.add_to_principal_policy
        add(iam.PolicyStatement(actions=["airflow:PublishMetrics"], resources=[self.arn]))
        source_bucket.grant_read(self.role)
        add(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=["s3:ListAllMyBuckets"],
                resources=[source_bucket.bucket_arn, source_bucket.arn_for_objects("*")],
            )
        )
        add(iam.PolicyStatement(actions=["s3:GetAccountPublicAccessBlock"], resources=["*"]))
        add(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogStream",
                    "logs:CreateLogGroup",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:GetLogRecord",
                    "logs:GetLogGroupFields",
                    "logs:GetQueryResults",
                ],
                resources=[f"arn:{partition}:logs:{region}:{account}:log-group:airflow-{self.name}-*"],
            )
        )
        add(iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=["*"]))
        add(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
            )
        )
        add(
            iam.PolicyStatement(
                actions=[
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                # MWAA's Celery queue lives in a service-owned account, hence the account wildcard.
                resources=[f"arn:{partition}:sqs:{region}:*:airflow-celery-*"],
            )
        )
        add(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                resources=[kms_key.key_arn],
                conditions={
                    "StringLike": {"kms:ViaService": [f"sqs.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]}
                },
            )
        )
        add(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[
                    f"arn:{partition}:secretsmanager:{region}:{account}:secret:{CONNECTIONS_PREFIX}/*",
                    f"arn:{partition}:secretsmanager:{region}:{account}:secret:{VARIABLES_PREFIX}/*",
                ],
            )
        )

    def _suppress(self, stack: cdk.Stack, source_bucket: s3.IBucket) -> None:
        region, account = stack.region, stack.account
        suppress_grants(
            self.role,
            what="MWAA's documented execution-role policy: read of its own source bucket, its own log groups, "
            "its Celery queues (in a service account), connections and variables under their prefixes, and "
            "account-level calls that have no resource (GetAccountPublicAccessBlock, DescribeLogGroups, "
            "PutMetricData limited to the AmazonMWAA namespace)",
            actions=(*S3_READ_ACTIONS, "Action::kms:GenerateDataKey*"),
            resources=(
                f"Resource::{arn_token(source_bucket)}/*",
                "Resource::*",
                f"Resource::arn:<AWS::Partition>:logs:{region}:{account}:log-group:airflow-{self.name}-*",
                f"Resource::arn:<AWS::Partition>:sqs:{region}:*:airflow-celery-*",
                f"Resource::arn:<AWS::Partition>:secretsmanager:{region}:{account}:secret:{CONNECTIONS_PREFIX}/*",
                f"Resource::arn:<AWS::Partition>:secretsmanager:{region}:{account}:secret:{VARIABLES_PREFIX}/*",
            ),
        )
        suppress_inline_policy(self.role, "The execution role's own policy, written by grants for this environment.")
        for child in self.security_group.node.children:
            if isinstance(child, ec2.CfnSecurityGroupIngress):
                nag_suppress(
                    child,
                    "NIST.800.53.R5-EC2RestrictedCommonPorts",
                    "MWAA requires all traffic between its own components: the source is this security group "
                    "itself, never a CIDR range.",
                )
