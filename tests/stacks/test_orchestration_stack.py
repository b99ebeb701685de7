"""Orchestration: MWAA as configured, files pinned by object version, a role that can do little."""

from __future__ import annotations

import json
import re

import pytest
from constructs.airflow_environment import LOG_TYPES

from stacks.orchestration_stack import MWAA_FILES

PLATFORM_KEYS = {
    "platform.environment",
    "platform.release_bucket",
    "platform.raw_bucket",
    "platform.checkpoint_bucket",
    "platform.emr_batch_application_id",
    "platform.emr_streaming_application_id",
    "platform.emr_job_role_arn",
    "platform.active_release_parameter",
    "platform.snowflake_conn_id",
    "platform.data_services_secret_name",
}
# Replacing an environment drops its run history: its logical id and name never change.
PINNED_NAMES = {
    "dev": "DevOrchestration-Airflow-78178425",
    "staging": "StagingOrchestration-Airflow-EBC1DB60",
    "prod": "ProdOrchestration-Airflow-48A291BE",
}


def environment(synth, env: str) -> dict:
    return synth.template(env, "Orchestration").to_json()["Resources"]["AirflowEnvironment"]["Properties"]


def test_resource_counts(synth):
    template = synth.template("dev", "Orchestration")
    template.resource_count_is("AWS::MWAA::Environment", 1)
    template.resource_count_is("Custom::AWS", 2)  # requirements.txt and the startup script
    template.resource_count_is("AWS::EC2::SecurityGroup", 1)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_environment_follows_config(synth, config, env):
    settings = config.environment(env)
    props = environment(synth, env)
    assert props["Name"] == PINNED_NAMES[env]
    assert props["AirflowVersion"] == settings.orchestration.airflow_version
    assert props["EnvironmentClass"] == settings.orchestration.environment_class
    assert (props["MinWorkers"], props["MaxWorkers"]) == (
        settings.orchestration.min_workers,
        settings.orchestration.max_workers,
    )
    assert props["MaxWebservers"] == settings.orchestration.max_webservers
    assert props["Schedulers"] == settings.orchestration.schedulers
    assert props["NetworkConfiguration"]["SubnetIds"] == list(settings.network.private_subnet_ids)
    assert props["WebserverAccessMode"] == "PRIVATE_ONLY"
    assert props["WorkerReplacementStrategy"] == "GRACEFUL"
    assert props["KmsKey"] == {"Fn::ImportValue": f"{env.capitalize()}-Storage:ExportsOutputFnGetAttDataKeyArn811A16D9"}


def test_every_airflow_log_type_is_enabled(synth):
    logging = environment(synth, "dev")["LoggingConfiguration"]
    expected = {"".join(part.capitalize() for part in log_type.split("_")) for log_type in LOG_TYPES}
    assert set(logging) == expected == {"DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs"}
    assert all(module["Enabled"] is True for module in logging.values())


def test_requirements_and_startup_script_are_pinned_by_object_version(synth, cfn):
    stage = synth.stage("dev")
    props = environment(synth, "dev")
    resources = synth.template("dev", "Orchestration").to_json()["Resources"]
    for path_key, version_key, file in (
        ("RequirementsS3Path", "RequirementsS3ObjectVersion", "requirements.txt"),
        ("StartupScriptS3Path", "StartupScriptS3ObjectVersion", "startup.sh"),
    ):
        custom_id, attribute = props[version_key]["Fn::GetAtt"]
        assert attribute == "VersionId"
        put = resources[custom_id]
        assert put["Type"] == "Custom::AWS"
        call = json.loads(
            "".join(p if isinstance(p, str) else "BUCKET" for p in put["Properties"]["Update"]["Fn::Join"][1])
        )
        assert call["action"] == "putObject"
        assert call["parameters"]["Key"] == props[path_key]
        # The uploaded bytes are the committed file: a change to it is a new object version.
        assert call["parameters"]["Body"] == (MWAA_FILES / file).read_text()
    assert props["SourceBucketArn"] == {"Fn::ImportValue": "Dev-Storage:ExportsOutputFnGetAttDagBucketArn3D92087D"}
    assert props["DagS3Path"] == "dags"
    assert stage.orchestration.environment_name == PINNED_NAMES["dev"]


def test_airflow_configuration_carries_the_run_time_contract_and_secrets_backend(synth, config):
    options = environment(synth, "dev")["AirflowConfigurationOptions"]
    assert set(options) >= PLATFORM_KEYS
    assert options["secrets.backend"] == "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    assert json.loads(options["secrets.backend_kwargs"]) == {
        "connections_prefix": "airflow/connections",
        "variables_prefix": "airflow/variables",
    }
    assert options["platform.environment"] == "dev"
    # Names of deployed resources come from the other stacks' outputs, never from literals.
    for key in ("release_bucket", "raw_bucket", "checkpoint_bucket", "emr_batch_application_id", "emr_job_role_arn"):
        assert "Fn::ImportValue" in options[f"platform.{key}"], key
    assert options["platform.active_release_parameter"] == "/data-platform/dev/active-release"


def test_the_security_group_only_admits_itself(synth, cfn):
    template = synth.template("dev", "Orchestration")
    (ingress,) = template.find_resources("AWS::EC2::SecurityGroupIngress").values()
    group_id = cfn.logical_id(synth.stage("dev").orchestration.airflow.security_group)
    assert ingress["Properties"]["SourceSecurityGroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    assert ingress["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}


def test_the_execution_role_writes_only_run_records_and_has_no_unconditioned_wildcards(synth, config, cfn):
    env = config.environment("dev")
    stage = synth.stage("dev")
    template = synth.template("dev", "Orchestration")
    statements = cfn.statements_of(template, cfn.logical_id(stage.orchestration.airflow.role))
    # Account-level calls with no resource ARN, as in the MWAA user guide's execution-role policy.
    star_allowed = {"s3:GetAccountPublicAccessBlock", "logs:DescribeLogGroups", "cloudwatch:PutMetricData"}
    for statement in statements:
        actions = cfn.as_list(statement["Action"])
        assert "*" not in actions
        if statement["Effect"] == "Allow" and "*" in cfn.as_list(statement["Resource"]):
            assert set(actions) <= star_allowed, actions
        if "cloudwatch:PutMetricData" in actions:
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}}
        writes = [a for a in actions if a.startswith(("s3:Put", "s3:Delete", "s3:Abort"))]
        if writes and statement["Effect"] == "Allow":
            # Run records of the release bucket (dbt results, publish markers), the streaming checkpoint,
            # and removal of sink batches by a streaming rollback; never a release or the DAG folder.
            resources = cfn.rendered(statement["Resource"])
            prefixes = set(re.findall(r'"(/[a-z-]+/\*)"', resources))
            assert "releases/" not in resources and "DagBucket" not in resources, statement
            if "ReleaseBucket" in resources:
                assert prefixes <= {"/dbt-results/*", "/dataservices-state/*"}, statement
            elif "RawBucket" in resources:
                assert set(actions) <= {"s3:DeleteObject*"}, statement
                assert prefixes <= {"/landing/*", "/quarantine/*"}, statement
            else:
                assert "CheckpointBucket" in resources, statement
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    (pass_role,) = [s for s in allowed if "iam:PassRole" in cfn.as_list(s["Action"])]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}}
    assert "SparkJobRole" in cfn.rendered(pass_role["Resource"])
    secrets = [r for s in allowed if "secretsmanager:GetSecretValue" in cfn.as_list(s["Action"])
               for r in cfn.as_list(s["Resource"])]  # fmt: skip
    secret_text = cfn.rendered(secrets)
    for name in ("airflow/connections/*", "airflow/variables/*", env.snowflake.private_key_secret_name,
                 env.streaming.bootstrap_servers_secret_name):  # fmt: skip
        assert name in secret_text
    emr = [s for s in allowed if "emr-serverless:StartJobRun" in cfn.as_list(s["Action"])]
    assert {"BatchApplication", "StreamingApplication"} <= {
        token for s in emr for token in ("BatchApplication", "StreamingApplication") if token in cfn.rendered(s)
    }
    ssm = [s for s in allowed if any(a.startswith("ssm:") for a in cfn.as_list(s["Action"]))]
    assert [cfn.as_list(s["Action"]) for s in ssm] == [["ssm:GetParameter"]]
    assert "parameter/data-platform/dev/active-release" in cfn.rendered(ssm[0]["Resource"])
