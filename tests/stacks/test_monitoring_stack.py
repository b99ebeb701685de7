"""MonitoringStack in a test app (explicit env, a storage-like stack beside it), asserted on its template."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from constructs.monitoring_canaries import MAX_INPUT_CHARS, PipelineFreshness, chunk_entries

from stacks.monitoring_stack import MonitoringStack, freshness_from_specs, schedule_gap
from stacks.nag import apply_nag_checks
from stacks.pipeline_registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
ENV = cdk.Environment(account="444444444444", region="eu-west-1")
WATCHED = ["Test-Storage", "Test-Release"]


def registry_specs() -> list:
    """The real pipeline registry (dags/pipelines/*.yaml) through the shared spec model."""
    return load_registry()


def build(**overrides):
    # Builtin template validation costs ~6 s per synth here; cfn-lint and checkov check it (slow test below).
    app = cdk.App(builtin_cloud_formation_validation=False)
    storage = cdk.Stack(app, "Test-Storage", env=ENV)
    key = kms.Key(storage, "DataKey", enable_key_rotation=True)
    release_bucket = s3.Bucket(storage, "ReleaseBucket", encryption_key=key)
    raw_bucket = s3.Bucket(storage, "RawBucket", encryption_key=key)
    dag_bucket = s3.Bucket(storage, "DagBucket", encryption_key=key, versioned=True)
    settings = {
        "environment": "test",
        "alarm_emails": ["oncall@example.com"],
        "mwaa_environment_name": "test-airflow",
        "emr_application_ids": {"batch": "00fbatch0000001", "streaming": "00fstream000001"},
        "pipelines": freshness_from_specs(registry_specs()),
        "release_bucket": release_bucket,
        "raw_bucket": raw_bucket,
        "dag_bucket": dag_bucket,
        "dag_prefix": "dags/",
        "dag_state_key": "active-release.json",
        "active_release_parameter_name": "/data-platform/test/active-release",
        "watched_stack_names": WATCHED,
        "log_retention": logs.RetentionDays.ONE_YEAR,
        "delivery_pipeline_name": "data-platform-delivery",
        **overrides,
    }
    stack = MonitoringStack(app, "Test-Monitoring", env=ENV, **settings)
    apply_nag_checks(stack)
    return app, stack


@pytest.fixture(scope="module")
def synthesized():
    app, stack = build()
    return app, stack, Template.from_stack(stack)


def resources(template: Template, kind: str) -> dict:
    return template.find_resources(kind)


def test_freshness_allowance_comes_from_the_registry_schedule_and_sla():
    by_id = {p.pipeline_id: p for p in freshness_from_specs(registry_specs())}
    assert by_id["crm_accounts"] == PipelineFreshness(
        "crm_accounts", (24 + 6) * 60, "s3", raw_prefix="landing/crm_accounts/", has_dbt=True
    )
    assert by_id["product_catalog"].max_age_minutes == (4 + 3) * 60
    assert by_id["operations_events"] == PipelineFreshness(
        "operations_events", 120, "s3", raw_prefix="landing/operations_events/", streaming=True, has_dbt=True
    )
    assert by_id["customer_health"] == PipelineFreshness("customer_health", (24 + 3) * 60, "dbt", has_dbt=True)


def test_schedule_gap_of_presets_and_irregular_crons():
    assert schedule_gap("@hourly") == dt.timedelta(hours=1)
    assert schedule_gap("0 6 * * 1-5") == dt.timedelta(days=3)  # Friday to Monday


def test_180_pipelines_are_split_into_inputs_eventbridge_accepts():
    entries = [
        PipelineFreshness(f"pipeline_{i:03d}", 1440, "s3", raw_prefix=f"landing/pipeline_{i:03d}/").freshness_entry()
        for i in range(180)
    ]
    chunks = chunk_entries(entries)
    assert sum(len(c) for c in chunks) == 180 and len(chunks) > 1
    assert all(len(json.dumps({"time": "2026-01-01T00:00:00Z", "pipelines": c})) < 8192 for c in chunks)
    assert max(len(json.dumps({"pipelines": c})) for c in chunks) <= MAX_INPUT_CHARS


def test_release_health_composite_has_the_deterministic_name_and_every_member(synthesized):
    _, stack, template = synthesized
    assert stack.release_health_alarm_name == "data-platform-test-release-health"
    composites = resources(template, "AWS::CloudWatch::CompositeAlarm")
    health = [c for c in composites.values() if c["Properties"].get("AlarmName") == "data-platform-test-release-health"]
    assert len(health) == 1
    rule = json.dumps(health[0]["Properties"]["AlarmRule"])
    for member in (
        "DagHealth",
        "DagHealthCanaryFailed",
        "FreshnessCanaryMissing",
        "StalePipelines",
        "DataQualityRegressions",
        "MwaaImportErrors",
        "MwaaSchedulerHeartbeat",
        "MwaaTaskFailures",
        "OrchestrationSloFastBurn",
    ):
        assert member in rule, member
    assert health[0]["Properties"]["AlarmActions"] and health[0]["Properties"]["OKActions"]
    # The other composites keep the names CDK derives from their construct path.
    others = [c["Properties"].get("AlarmName", "") for c in composites.values() if c is not health[0]]
    assert len(others) == 2 and not any(name.startswith("data-platform-") for name in others)


def test_mwaa_metrics_use_the_environment_dimension(synthesized):
    _, _, template = synthesized
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AmazonMWAA",
            "MetricName": "SchedulerHeartbeat",
            "Dimensions": Match.array_with([{"Name": "Environment", "Value": "test-airflow"}]),
            "TreatMissingData": "breaching",
            "ComparisonOperator": "LessThanThreshold",
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AmazonMWAA",
            "MetricName": "ImportErrors",
            "Dimensions": Match.array_with([{"Name": "Function", "Value": "DAG Processing"}]),
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": [
                Match.object_like(
                    {
                        "Expression": Match.string_like_regexp(
                            'SELECT SUM\\(TaskInstanceFailures\\) FROM "AmazonMWAA" '
                            "WHERE Environment = 'test-airflow'"
                        )
                    }
                )
            ]
        },
    )


def test_canaries_are_python_312_from_the_canary_package_with_limits_and_a_dead_letter_queue(synthesized):
    _, _, template = synthesized
    functions = {k: v["Properties"] for k, v in resources(template, "AWS::Lambda::Function").items() if "Canaries" in k}
    assert {p["Handler"] for p in functions.values()} == {
        "canary.dag_health.handler",
        "canary.freshness.handler",
        "canary.data_quality.handler",
        "canary.deployments.handler",
        "canary.drift.handler",
    }
    for props in functions.values():
        assert props["Runtime"] == "python3.12"
        assert "ReservedConcurrentExecutions" not in props  # reserved only where config states the quota
        assert "TargetArn" in props["DeadLetterConfig"]
        assert "KmsKeyArn" in props
    template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 0})


def test_dag_health_reads_airflow_as_viewer_and_metrics_only_in_platform_namespaces(synthesized):
    _, _, template = synthesized
    policies = json.dumps(resources(template, "AWS::IAM::Policy"))
    assert "airflow:InvokeRestApi" in policies
    assert ":role/test-airflow/Viewer" in policies
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "cloudwatch:PutMetricData",
                                "Condition": {
                                    "StringEquals": {"cloudwatch:namespace": Match.array_with(["DataPlatform/Release"])}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_schedules_carry_the_event_time_and_the_registry(synthesized):
    _, _, template = synthesized
    rules = [
        r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert sorted(r["ScheduleExpression"] for r in rules) == sorted(
        ["rate(5 minutes)", "rate(15 minutes)", "rate(15 minutes)", "rate(15 minutes)", "rate(1 hour)"]
    )
    inputs = [t["InputTransformer"] for r in rules for t in r["Targets"]]
    assert all(i["InputPathsMap"] == {"time": "$.time"} for i in inputs)
    freshness = [i["InputTemplate"] for i in inputs if "landing/crm_accounts/" in i["InputTemplate"]]
    assert len(freshness) == 1 and "customer_health" in freshness[0]


def test_an_alarm_per_pipeline_per_stack_and_per_emr_application(synthesized):
    _, _, template = synthesized
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    named = {a.get("AlarmName", "") for a in alarms}
    for pipeline in ("crm_accounts", "product_catalog", "operations_events", "customer_health"):
        assert any(f"Stale-{pipeline}" in n for n in named), pipeline
    for stack in (*WATCHED, "Test-Monitoring"):
        assert any(f"Drift-{stack}" in n for n in named), stack
    failed_jobs = [
        a for a in alarms if a.get("MetricName") == "FailedJobs" and a.get("Namespace") == "AWS/EMRServerless"
    ]
    assert {a["Dimensions"][0]["Value"] for a in failed_jobs} == {"00fbatch0000001", "00fstream000001"}
    assert any(a.get("MetricName") == "RunningJobs" and a["ComparisonOperator"] == "LessThanThreshold" for a in alarms)


def test_failures_of_stacks_and_the_pipeline_reach_the_topic(synthesized):
    _, _, template = synthesized
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudformation"],
                "detail": {
                    "status-details": {"status": Match.array_with(["UPDATE_ROLLBACK_COMPLETE"])},
                    "stack-id": Match.any_value(),
                },
            },
            "Targets": [Match.object_like({"Arn": {"Ref": Match.string_like_regexp("AlarmsTopic")}})],
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.codepipeline"],
                "detail": {"pipeline": ["data-platform-delivery"], "state": ["FAILED"]},
            }
        },
    )
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.resource_count_is("AWS::SNS::Subscription", 1)


def test_the_monitoring_stack_creates_no_role_the_delivery_pipeline_names(synthesized):
    # The release-health reader moved to stacks/pipeline_access_stack.py, deployed before the pipeline.
    _, _, template = synthesized
    names = [r["Properties"].get("RoleName", "") for r in template.find_resources("AWS::IAM::Role").values()]
    assert not any("release-health-reader" in str(name) for name in names)


def test_one_dashboard_with_every_section(synthesized):
    _, _, template = synthesized
    dashboards = resources(template, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = json.dumps(dashboards)
    for section in (
        "Release health",
        "Deployments",
        "Orchestration SLO",
        "Error budget remaining",
        "Freshness per pipeline",
        "Data quality",
        "EMR Serverless jobs",
        "Streaming lag",
        "Drift",
    ):
        assert section in body, section


def test_cdk_nag_finds_no_unsuppressed_error(synthesized):
    _, stack, _ = synthesized
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp(".*"))
    assert [f"{e.id}: {str(e.entry.data)[:160]}" for e in errors] == []


def test_an_alarm_topic_without_subscribers_is_refused():
    with pytest.raises(ValueError, match="at least one e-mail"):
        build(alarm_emails=[])


@pytest.mark.slow
def test_cfn_lint_and_checkov_pass_on_the_synthesized_template(synthesized, tmp_path):
    app, stack, _ = synthesized
    assembly = app.synth()
    template = Path(assembly.directory) / f"{stack.artifact_id}.template.json"
    lint = subprocess.run(
        [str(ROOT / ".venv/bin/cfn-lint"), "--", str(template)], capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout
    checkov = subprocess.run(
        [
            str(ROOT / ".venv-checkov/bin/checkov"),
            "-f",
            str(template),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    assert checkov.returncode == 0, checkov.stdout[-4000:]
    assert "CKV_AWS_117" in template.read_text()  # the one skip, with its reason in the resource's metadata


@pytest.mark.slow
def test_180_pipelines_fit_cloudformation_limits():
    """The brief's scale: per-pipeline alarms for 180 pipelines stay under 500 resources and 1 MB."""
    pipelines = [
        PipelineFreshness(f"pipeline_{i:03d}", 1800, "s3", raw_prefix=f"landing/pipeline_{i:03d}/", has_dbt=True)
        for i in range(180)
    ]
    _, stack = build(pipelines=pipelines)
    template = Template.from_stack(stack).to_json()
    assert len(template["Resources"]) < 500
    assert len(json.dumps(template)) < 1_000_000
    assert sum(1 for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm") > 180


def test_every_alarm_can_reach_the_topic_through_its_policy_and_key(synthesized, cfn):
    # Fails on 9cf02fd: the topic policy allowed only EventBridge, so ~30 alarms were never delivered.
    _, _, template = synthesized
    assert cfn.alarm_delivery_problems(template.to_json()) == []


def test_eventbridge_may_use_the_topic_key_without_source_conditions_kms_does_not_support(synthesized, cfn):
    # The SNS guide: aws:SourceAccount/aws:SourceArn in a key policy break EventBridge-to-encrypted-topic delivery.
    _, _, template = synthesized
    [key] = [
        r for r in template.find_resources("AWS::KMS::Key").values() if "alarm topic" in r["Properties"]["Description"]
    ]
    events = [
        s
        for s in cfn.as_list(key["Properties"]["KeyPolicy"]["Statement"])
        if "events.amazonaws.com" in cfn.as_list(s.get("Principal", {}).get("Service", []))
    ]
    assert events and all("kms:GenerateDataKey*" in s["Action"] and "Condition" not in s for s in events)


def test_every_canary_may_send_its_failures_to_the_encrypted_dead_letter_queue(synthesized, cfn):
    # Fails on 9cf02fd: sqs:SendMessage without a grant on the queue's key is refused by SQS.
    _, _, template = synthesized
    resources = template.to_json()["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    with_dlq = {k: r for k, r in functions.items() if "DeadLetterConfig" in r["Properties"]}
    assert len(with_dlq) >= 5
    for function_id, function in with_dlq.items():
        queue_id = function["Properties"]["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
        key = resources[queue_id]["Properties"]["KmsMasterKeyId"]
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = cfn.statements_of(template, role_id)
        sends = [s for s in statements if "sqs:SendMessage" in cfn.as_list(s["Action"])]
        encrypts = [
            s
            for s in statements
            if set(cfn.as_list(s["Action"])) >= {"kms:GenerateDataKey", "kms:Decrypt"}
            and key in cfn.as_list(s["Resource"])
        ]
        assert sends and encrypts, f"{function_id} cannot send to {queue_id} encrypted with {key}"


def test_the_bake_alarm_holds_the_members_that_settle_within_the_bake_and_pages_nobody():
    _, stack = build(bake_minutes=20)
    template = Template.from_stack(stack).to_json()["Resources"]
    [bake] = [r for r in template.values() if r["Properties"].get("AlarmName") == "data-platform-test-release-bake"]
    rule = json.dumps(bake["Properties"]["AlarmRule"])
    for member in ("DagHealth", "DagHealthCanaryFailed", "DagHealthCanaryMissing", "MwaaImportErrors", "MwaaScheduler"):
        assert member in rule, member
    for member in ("FreshnessCanaryMissing", "StalePipelines", "MwaaTaskFailures", "OrchestrationSloFastBurn"):
        assert member not in rule, member
    assert "AlarmActions" not in bake["Properties"]  # the release-health alarm pages; this one only gates
    assert stack.release_bake_alarm_name == "data-platform-test-release-bake"


def test_no_bake_alarm_where_the_stage_does_not_bake():
    _, stack = build()
    assert stack.release_bake_alarm_name is None


def test_a_bake_too_short_for_any_member_is_refused_naming_the_config_field_and_the_minimum():
    with pytest.raises(ValueError, match=r"config/test\.yaml: approval\.bake_minutes is 5.*at least 10"):
        build(bake_minutes=5)


def test_canaries_reserve_concurrency_only_when_the_account_config_states_its_quota():
    _, stack = build(reserve_concurrency=True)
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    canaries = [f["Properties"] for k, f in functions.items() if "Canaries" in k]
    assert len(canaries) == 5 and all(p["ReservedConcurrentExecutions"] >= 1 for p in canaries)


def test_release_health_members_breaching_on_missing_data_are_heartbeats_that_say_so_to_deploy_readiness(synthesized):
    from cicd.readiness.findings import METADATA_KEY

    alarms = resources(synthesized[2], "AWS::CloudWatch::Alarm")
    members = {i: a for i, a in alarms.items() if i.startswith("ReleaseHealth")}
    breaching = {i: a for i, a in members.items() if a["Properties"].get("TreatMissingData") == "breaching"}
    assert breaching and all("Heartbeat" in i or "CanaryMissing" in i for i in breaching)

    for logical_id, alarm in breaching.items():
        suppressed = alarm.get("Metadata", {}).get(METADATA_KEY, {}).get("rules_to_suppress", [])
        assert [s["id"] for s in suppressed] == ["BakeAlarmJudgesOnlyDataTheReleaseProduced"], logical_id
