"""EMR Serverless constructs: streaming needs EMR 7.1+, Kafka grants name topics and groups only."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template
from constructs.emr_serverless import SparkApplication, SparkJobRole, release_version

CLUSTER = "arn:aws:kafka:eu-west-1:123456789012:cluster/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-1"


def make_stack() -> cdk.Stack:
    app = cdk.App(builtin_cloud_formation_validation=False)
    return cdk.Stack(app, "Test", env=cdk.Environment(account="123456789012", region="eu-west-1"))


def application(stack: cdk.Stack, release_label: str, *, streaming: bool) -> SparkApplication:
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0123456789abcdef0", availability_zones=["eu-west-1a"])
    return SparkApplication(
        stack,
        "App",
        release_label=release_label,
        max_vcpu=8,
        max_memory_gb=32,
        max_disk_gb=100,
        idle_timeout_minutes=15,
        subnet_ids=["subnet-0123456789abcdef0"],
        security_group=ec2.SecurityGroup(stack, "Sg", vpc=vpc),
        log_group=logs.LogGroup(stack, "Logs"),
        log_key=kms.Key(stack, "Key", enable_key_rotation=True),
        streaming=streaming,
    )


def test_a_streaming_application_below_emr_7_1_is_refused_with_the_setting_to_change():
    with pytest.raises(ValueError, match=r"emr-7\.0\.0 cannot run streaming jobs") as raised:
        application(make_stack(), "emr-7.0.0", streaming=True)
    assert "Test/App" in str(raised.value)
    assert "compute.release_label in config/<env>.yaml" in str(raised.value)


def test_a_batch_application_may_use_any_emr_7_release():
    stack = make_stack()
    application(stack, "emr-7.0.0", streaming=False)
    Template.from_stack(stack).has_resource_properties(
        "AWS::EMRServerless::Application", {"ReleaseLabel": "emr-7.0.0", "Type": "SPARK"}
    )


@pytest.mark.parametrize("label", ["7.1.0", "emr-7.1", "emr-seven"])
def test_release_labels_are_parsed_strictly(label):
    with pytest.raises(ValueError, match="is not an EMR release label"):
        release_version(label)


def test_grant_run_jobs_names_the_application_and_its_job_runs():
    stack = make_stack()
    app = application(stack, "emr-7.9.0", streaming=True)
    role = SparkJobRole(stack, "Jobs", application_arns=[app.arn]).role
    app.grant_run_jobs(role)
    statement = Template.from_stack(stack).to_json()["Resources"]
    policy = next(r for r in statement.values() if r["Type"] == "AWS::IAM::Policy")
    (grant,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert "emr-serverless:StartJobRun" in grant["Action"]
    app_id = stack.resolve(app.application.logical_id)
    assert grant["Resource"][0] == {"Fn::GetAtt": [app_id, "Arn"]}
    assert grant["Resource"][1] == {"Fn::Join": ["", [{"Fn::GetAtt": [app_id, "Arn"]}, "/jobruns/*"]]}


def test_kafka_reads_are_limited_to_the_named_topics_and_spark_groups():
    stack = make_stack()
    role = SparkJobRole(
        stack, "Jobs", application_arns=["arn:aws:emr-serverless:eu-west-1:123456789012:/applications/x"]
    )
    role.grant_kafka_read(cluster_arn=CLUSTER, topics=["operations.events.v1"], consumer_group_prefix="spark-")
    resources = Template.from_stack(stack).to_json()["Resources"]
    policy = next(r for r in resources.values() if r["Type"] == "AWS::IAM::Policy")
    by_action = {s["Action"][0]: s["Resource"] for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert by_action["kafka-cluster:Connect"] == CLUSTER
    assert by_action["kafka-cluster:DescribeTopic"] == CLUSTER.replace(":cluster/", ":topic/") + "/operations.events.v1"
    assert by_action["kafka-cluster:AlterGroup"] == CLUSTER.replace(":cluster/", ":group/") + "/spark-*"


def test_kafka_grant_rejects_a_non_cluster_arn():
    stack = make_stack()
    role = SparkJobRole(stack, "Jobs", application_arns=[])
    with pytest.raises(ValueError, match="is not an MSK cluster ARN"):
        role.grant_kafka_read(cluster_arn="arn:aws:kafka:eu-west-1:1:topic/x", topics=["t"], consumer_group_prefix="g")
