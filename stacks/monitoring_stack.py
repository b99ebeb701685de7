"""Monitoring of one environment: canaries, the release-health alarm, SLO, dashboards, drift, failure events."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.monitoring_canaries import PipelineFreshness, ReleaseCanaries
from constructs.monitoring_dashboards import OperationsDashboard
from constructs.monitoring_events import DeploymentFailureRules
from constructs.monitoring_release_health import ExtraMember, ReleaseHealth
from constructs.monitoring_slo import OrchestrationSlo
from constructs.monitoring_topic import AlarmTopic

from platform_vocabulary.pipeline_spec import PipelineSpec


def release_health_alarm_name(environment: str) -> str:
    return f"data-platform-{environment}-release-health"


def release_bake_alarm_name(environment: str) -> str:
    return f"data-platform-{environment}-release-bake"


def schedule_gap(schedule: str, *, samples: int = 200) -> dt.timedelta:
    """The longest time between two runs of a cron schedule (or preset), over the next `samples` runs."""
    from croniter import croniter

    runs = croniter(schedule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    times = [runs.get_next(dt.datetime) for _ in range(samples)]
    return max(later - earlier for earlier, later in itertools.pairwise(times))


def freshness_from_spec(spec: PipelineSpec) -> PipelineFreshness:
    """A registry spec as the canaries measure it.

    A pipeline may be this old: its schedule's longest gap plus its freshness SLA (data for an
    interval is usable SLA after the interval ends). A streaming pipeline lands continuously, so its
    SLA alone. S3 and Kafka sources land in the raw bucket under landing/<id>/ (the DAG factory's
    landing_uri); pipelines without a landing are measured by their dbt results, or by the loaded
    table in Snowflake.
    """
    source_kind = spec.source.kind if spec.source is not None else None
    streaming = source_kind == "kafka"
    allowance = spec.freshness_sla + (dt.timedelta(0) if streaming else schedule_gap(spec.schedule))
    minutes = int(allowance.total_seconds() // 60)
    if source_kind in ("s3", "kafka"):
        return PipelineFreshness(
            spec.id, minutes, "s3", raw_prefix=f"landing/{spec.id}/", streaming=streaming, has_dbt=spec.dbt is not None
        )
    if spec.dbt is not None:
        return PipelineFreshness(spec.id, minutes, "dbt", has_dbt=True)
    assert spec.load is not None, "the spec model requires a load for a snowflake_stage source"
    return PipelineFreshness(spec.id, minutes, "snowflake", snowflake_table=spec.load.table)


def freshness_from_specs(specs: Iterable[PipelineSpec]) -> list[PipelineFreshness]:
    return [freshness_from_spec(spec) for spec in sorted(specs, key=lambda s: s.id)]


class MonitoringStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        alarm_emails: Sequence[str],
        mwaa_environment_name: str,
        emr_application_ids: Mapping[str, str],
        pipelines: Sequence[PipelineFreshness],
        release_bucket: s3.IBucket,
        raw_bucket: s3.IBucket,
        dag_bucket: s3.IBucket,
        dag_prefix: str,
        dag_state_key: str,
        active_release_parameter_name: str,
        watched_stack_names: Sequence[str],
        log_retention: logs.RetentionDays,
        streaming_application: str | None = "streaming",
        delivery_pipeline_name: str | None = None,
        bake_minutes: int | None = None,
        reserve_concurrency: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        topic = AlarmTopic(self, "Alarms", emails=alarm_emails)
        self.alarm_topic = topic.topic
        stacks = [*watched_stack_names, self.stack_name]
        self.canaries = ReleaseCanaries(
            self,
            "Canaries",
            environment=environment,
            mwaa_environment_name=mwaa_environment_name,
            release_bucket=release_bucket,
            raw_bucket=raw_bucket,
            dag_bucket=dag_bucket,
            dag_prefix=dag_prefix,
            dag_state_key=dag_state_key,
            active_release_parameter_name=active_release_parameter_name,
            pipelines=pipelines,
            stack_names=stacks,
            key=topic.key,
            log_retention=log_retention,
            reserve_concurrency=reserve_concurrency,
        )
        self.slo = OrchestrationSlo(self, "OrchestrationSlo", environment=environment, topic=self.alarm_topic)
        # The one physical name here: the delivery pipeline runs in another account and its bake
        # condition names this alarm in a CloudFormation property; a generated name would be a token
        # of this stack, which a stack in another account cannot reference.
        self.release_health_alarm_name = release_health_alarm_name(environment)
        health = ReleaseHealth(
            self,
            "ReleaseHealth",
            environment=environment,
            mwaa_environment_name=mwaa_environment_name,
            alarm_name=self.release_health_alarm_name,
            topic=self.alarm_topic,
            extra_members=[
                ExtraMember("OrchestrationSloFastBurn", self.slo.fast_burn, period=self.slo.fast_burn_long_window)
            ],
            # The alarm the pipeline's bake reads (stage OnSuccess condition), when the stage bakes.
            bake_alarm_name=release_bake_alarm_name(environment),
            bake_minutes=bake_minutes,
        )
        self.release_health_alarm = health.alarm
        self.release_bake_alarm_name = release_bake_alarm_name(environment) if health.bake_alarm else None
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            environment=environment,
            topic=self.alarm_topic,
            mwaa_environment_name=mwaa_environment_name,
            emr_application_ids=emr_application_ids,
            streaming_application=streaming_application,
            pipelines=pipelines,
            stack_names=stacks,
            functions=self.canaries.functions,
            release_health=health.alarm,
            release_health_members=list(health.members.values()),
            slo=self.slo,
        )
        self.failure_rules = DeploymentFailureRules(
            self,
            "DeploymentFailures",
            topic=self.alarm_topic,
            stack_names=stacks,
            pipeline_name=delivery_pipeline_name,
        )
        cdk.CfnOutput(self, "ReleaseHealthAlarmName", value=self.release_health_alarm_name)
        # The staging post-step runs each canary once (make canaries).
        self.canary_functions_output = cdk.CfnOutput(
            self,
            "CanaryFunctions",
            value=cdk.Fn.join(",", [fn.function_name for _, fn in sorted(self.canaries.functions.items())]),
        )
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
