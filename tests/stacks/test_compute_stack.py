"""Compute: two EMR Serverless applications sized from config, and a job role that reaches little."""

from __future__ import annotations

import pytest

from stacks.data_platform_stage import STREAMING_TOPICS


def test_resource_counts(synth):
    template = synth.template("dev", "Compute")
    template.resource_count_is("AWS::EMRServerless::Application", 2)
    template.resource_count_is("AWS::IAM::Role", 1)
    template.resource_count_is("AWS::EC2::SecurityGroup", 1)
    template.resource_count_is("AWS::Logs::LogGroup", 1)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_applications_are_sized_and_stopped_per_environment(synth, config, env, cfn):
    compute = config.environment(env).compute
    apps = synth.template(env, "Compute").find_resources("AWS::EMRServerless::Application")
    by_id = {cfn.logical_id(synth.stage(env).compute.batch.application): compute.batch,
             cfn.logical_id(synth.stage(env).compute.streaming.application): compute.streaming}  # fmt: skip
    assert set(apps) == set(by_id)
    for app_id, capacity in by_id.items():
        props = apps[app_id]["Properties"]
        assert props["ReleaseLabel"] == compute.release_label
        assert props["Type"] == "SPARK"
        assert props["MaximumCapacity"] == {
            "Cpu": f"{capacity.max_vcpu} vCPU",
            "Memory": f"{capacity.max_memory_gb} GB",
            "Disk": f"{capacity.max_disk_gb} GB",
        }
        assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": capacity.idle_timeout_minutes}
        assert props["NetworkConfiguration"]["SubnetIds"] == list(config.environment(env).network.private_subnet_ids)
        logging = props["MonitoringConfiguration"]["CloudWatchLoggingConfiguration"]
        assert logging["Enabled"] is True and "EncryptionKeyArn" in logging


def test_the_job_role_trusts_only_our_applications(synth, config, cfn):
    env = config.environment("dev")
    stage = synth.stage("dev")
    role = synth.template("dev", "Compute").find_resources("AWS::IAM::Role")[cfn.logical_id(stage.compute.job_role)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": env.account}
    source_arns = cfn.rendered(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert cfn.logical_id(stage.compute.batch.application) in source_arns
    assert cfn.logical_id(stage.compute.streaming.application) in source_arns


def test_the_job_role_reads_release_artifacts_and_raw_and_checkpoint_buckets_and_nothing_else(synth, config, cfn):
    env = config.environment("dev")
    stage = synth.stage("dev")
    template = synth.template("dev", "Compute")
    statements = cfn.statements_of(template, cfn.logical_id(stage.compute.job_role))
    s3_resources, kafka_resources = [], []
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = cfn.as_list(statement["Action"])
        assert all(a.split(":")[0] in {"s3", "kms", "logs", "kafka-cluster", "secretsmanager"} for a in actions), (
            actions
        )
        if any(a.startswith("secretsmanager:") for a in actions):
            # Only the MSK bootstrap secret, read-only.
            assert set(actions) <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, actions
            assert env.streaming.bootstrap_servers_secret_name in cfn.rendered(statement["Resource"])
        assert "*" not in cfn.as_list(statement["Resource"]), statement
        if any(a.startswith("s3:") for a in actions):
            s3_resources += cfn.as_list(statement["Resource"])
        if any(a.startswith("kafka-cluster:") for a in actions):
            kafka_resources += cfn.as_list(statement["Resource"])
    buckets = cfn.rendered(s3_resources)
    for exported in ("ReleaseBucket", "RawBucket", "CheckpointBucket"):
        assert exported in buckets
    for other in ("DagBucket", "EvidenceBucket", "AccessLogBucket"):
        assert other not in buckets
    # The release bucket: only its releases/ prefix, and writes never.
    release_arns = [r for r in s3_resources if "ReleaseBucket" in cfn.rendered(r)]
    write_statements = [
        s for s in statements if any(a.startswith(("s3:Put", "s3:Delete")) for a in cfn.as_list(s["Action"]))
    ]
    assert not any("ReleaseBucket" in cfn.rendered(s["Resource"]) for s in write_statements)
    assert any(cfn.rendered(r).endswith('"/releases/*"]]}') for r in release_arns)
    # The staged Spark jars (spark.jars, EMR Serverless has no internet): that prefix too, and no other.
    assert any(cfn.rendered(r).endswith('"/packages/jars/*"]]}') for r in release_arns)
    object_arns = [cfn.rendered(r) for r in release_arns if '"/' in cfn.rendered(r)]
    assert all(arn.endswith(('"/releases/*"]]}', '"/packages/jars/*"]]}')) for arn in object_arns), object_arns
    cluster = env.streaming.msk_cluster_arn
    assert cluster in kafka_resources
    for topic in STREAMING_TOPICS:
        assert cluster.replace(":cluster/", ":topic/") + f"/{topic}" in kafka_resources


def test_outputs_export_the_application_ids(synth, cfn):
    outputs = synth.template("dev", "Compute").to_json()["Outputs"]
    stage = synth.stage("dev")
    assert outputs["BatchApplicationId"]["Value"] == {
        "Fn::GetAtt": [cfn.logical_id(stage.compute.batch.application), "ApplicationId"]
    }
    assert "StreamingApplicationId" in outputs and "SparkJobRoleArn" in outputs


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_application_logical_ids_are_pinned(synth, env):
    resources = synth.template(env, "Compute").to_json()["Resources"]
    assert resources["BatchApplication"]["Type"] == "AWS::EMRServerless::Application"
    assert resources["StreamingApplication"]["Type"] == "AWS::EMRServerless::Application"
