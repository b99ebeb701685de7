"""Release health: one composite alarm per environment over the canaries and MWAA's own metrics.

This is the alarm the delivery pipeline's bake condition watches: in ALARM during the bake, the
stage rolls back. Members are chosen so that each says "this release hurts production" and none
says "the canary could not look" without also failing safe:

- DAG health failures (import errors, missing or not re-parsed DAGs of the active release);
- a canary run that failed as a whole, or did not run (heartbeat), for DAG health, freshness and
  data quality: health that was not observed is not health;
- pipelines past their freshness allowance; data-quality regressions against the previous release;
- MWAA's ImportErrors, SchedulerHeartbeat (absent = scheduler down) and TaskInstanceFailures;
- the orchestration SLO's fast burn (see monitoring_slo.py).

Per-pipeline problems that do not implicate the release (a pipeline never measured, results not
yet written) alarm separately to the topic and stay out of the composite.

The pipeline's bake reads a second composite, the *bake* alarm: only the members that can judge
data the new release had time to produce. CodePipeline reads the alarm once the bake's WaitTime has
passed; a member looks back period × evaluation periods, on clock-aligned periods evaluated up to a
period late, so it judges only post-activation data when period × (evaluation periods + 1) fits in
the bake. Slower members (the 15-minute freshness and quality canaries, task failures, the SLO's
one-hour burn) would judge the previous release, or missing data treated as breaching right after
activation; they stay in the release-health alarm, which pages, and the runbook rolls back by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from cdk_nag import NagSuppressions
from constructs import Construct
from constructs.suppressions import readiness_suppress

RELEASE = "DataPlatform/Release"
FRESHNESS = "DataPlatform/Freshness"
QUALITY = "DataPlatform/DataQuality"
MWAA = "AmazonMWAA"
MWAA_NAME = re.compile(r"^[a-zA-Z][0-9a-zA-Z_-]{0,79}$")
# Canaries whose failure to observe counts against the release (deployments/drift only inform).
GATING_CANARIES = ("dag-health", "freshness", "data-quality")
CANARY_PERIODS = {
    "dag-health": cdk.Duration.minutes(5),
    "freshness": cdk.Duration.minutes(15),
    "data-quality": cdk.Duration.minutes(15),
}


def metric(
    namespace: str, name: str, environment: str, *, statistic: str = "Maximum", period: cdk.Duration, **dims: str
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"Environment": environment, **dims},
        statistic=statistic,
        period=period,
    )


def task_failures(environment_name: str, period: cdk.Duration) -> cloudwatch.MathExpression:
    """TaskInstanceFailures of one MWAA environment, whatever other dimensions MWAA puts on it.

    A counter with no failures publishes nothing, so a wrong dimension set would read as "no
    failures" forever: Metrics Insights matches the metric by Environment alone.
    """
    if not MWAA_NAME.match(environment_name):
        raise ValueError(f"{environment_name!r} is not an MWAA environment name ([a-zA-Z][0-9a-zA-Z-_]*)")
    # A CloudWatch Metrics Insights query over a validated name, not SQL sent to a database.
    query = f"SELECT SUM(TaskInstanceFailures) FROM \"{MWAA}\" WHERE Environment = '{environment_name}'"  # noqa: S608
    return cloudwatch.MathExpression(expression=query, period=period, label="TaskInstanceFailures")


def mwaa_metric(name: str, environment_name: str, function: str, *, statistic: str) -> cloudwatch.Metric:
    # MWAA publishes Airflow's StatsD metrics under AmazonMWAA with Environment and Function dimensions
    # (https://docs.aws.amazon.com/mwaa/latest/userguide/access-metrics-cw-202.html).
    return cloudwatch.Metric(
        namespace=MWAA,
        metric_name=name,
        dimensions_map={"Environment": environment_name, "Function": function},
        statistic=statistic,
        period=cdk.Duration.minutes(5),
    )


@dataclass(frozen=True)
class ExtraMember:
    """A member built elsewhere (the SLO's fast burn), with the longest period its rule looks at."""

    name: str
    alarm: cloudwatch.IAlarm
    period: cdk.Duration
    evaluation_periods: int = 1


def settle_minutes(period: cdk.Duration, evaluation_periods: int) -> int:
    """Minutes after activation until a member's whole look-back lies after it (one period of slack)."""
    return int(period.to_minutes()) * (evaluation_periods + 1)


class ReleaseHealth(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        mwaa_environment_name: str,
        alarm_name: str,
        topic: sns.ITopic,
        extra_members: Sequence[ExtraMember] = (),
        task_failure_threshold: int = 5,
        bake_alarm_name: str | None = None,
        bake_minutes: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        five = cdk.Duration.minutes(5)
        fifteen = cdk.Duration.minutes(15)
        self.members: dict[str, cloudwatch.Alarm] = {}
        # Minutes after activation until each member judges only data of the new release.
        self.settle: dict[str, int] = {}

        def member(
            construct_id: str,
            what: str,
            source: cloudwatch.Metric | cloudwatch.MathExpression,
            *,
            threshold: float,
            comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
            periods: int = 1,
        ) -> None:
            alarm = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_description=f"[{environment} release health] {what}",
                metric=source,
                threshold=threshold,
                comparison_operator=comparison,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                treat_missing_data=missing,
            )
            NagSuppressions.add_resource_suppressions(
                alarm,
                [
                    {
                        "id": "NIST.800.53.R5-CloudWatchAlarmAction",
                        "reason": "A member of the release-health composite alarm, which notifies the alarm topic "
                        "and gates the pipeline's bake; members notifying too would page twice for one event.",
                    }
                ],
            )
            if missing == cloudwatch.TreatMissingData.BREACHING:
                # Only heartbeats treat missing data as breaching, and their source runs whatever the release.
                cfn_alarm = alarm.node.default_child
                assert isinstance(cfn_alarm, cdk.CfnResource)
                readiness_suppress(
                    cfn_alarm,
                    "BakeAlarmJudgesOnlyDataTheReleaseProduced",
                    "A heartbeat (the MWAA scheduler, a scheduled canary): its data comes from a source that runs "
                    "whatever release is active, so missing data means that source stopped, which the bake must "
                    "catch; it joins the bake only when period x (evaluation periods + 1) fits in the bake "
                    "(settle_minutes), so its look-back lies after activation.",
                )
            self.members[construct_id] = alarm
            self.settle[construct_id] = settle_minutes(source.period, periods)

        member(
            "DagHealth",
            "DAGs of the active release are broken (import errors, missing, not re-parsed)",
            metric(RELEASE, "DagHealthFailures", environment, period=five),
            threshold=0,
        )
        for canary in GATING_CANARIES:
            name = "".join(part.title() for part in canary.split("-"))
            period = CANARY_PERIODS[canary]
            member(
                f"{name}CanaryFailed",
                f"the {canary} canary could not observe (API error, timeout, missing data)",
                metric(RELEASE, "CanaryFailed", environment, period=period, Canary=canary),
                threshold=0,
            )
            # Two missed runs in a row: one late schedule is not an outage, two are.
            member(
                f"{name}CanaryMissing",
                f"the {canary} canary did not run",
                metric(RELEASE, "CanaryRun", environment, statistic="SampleCount", period=period, Canary=canary),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing=cloudwatch.TreatMissingData.BREACHING,
                periods=2,
            )
        member(
            "StalePipelines",
            "pipelines are past their freshness allowance (schedule gap + SLA)",
            metric(FRESHNESS, "StalePipelines", environment, statistic="Sum", period=fifteen),
            threshold=0,
        )
        member(
            "DataQualityRegressions",
            "dbt tests fail or key row counts dropped compared with the previous release",
            metric(QUALITY, "DataQualityRegressions", environment, statistic="Sum", period=fifteen),
            threshold=0,
        )
        member(
            "MwaaImportErrors",
            "MWAA reports DAG import errors",
            mwaa_metric("ImportErrors", mwaa_environment_name, "DAG Processing", statistic="Maximum"),
            threshold=0,
        )
        member(
            "MwaaSchedulerHeartbeat",
            "the MWAA scheduler stopped heart-beating",
            mwaa_metric("SchedulerHeartbeat", mwaa_environment_name, "Scheduler", statistic="Sum"),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
            periods=2,
        )
        member(
            "MwaaTaskFailures",
            f"{task_failure_threshold}+ task instances failed within 15 minutes",
            task_failures(mwaa_environment_name, fifteen),
            threshold=task_failure_threshold - 0.5,
        )

        every: dict[str, cloudwatch.IAlarm] = dict(self.members)
        for extra in extra_members:
            every[extra.name] = extra.alarm
            self.settle[extra.name] = settle_minutes(extra.period, extra.evaluation_periods)
        rule = cloudwatch.AlarmRule.any_of(*every.values())
        self.alarm_name = alarm_name
        self.alarm = cloudwatch.CompositeAlarm(
            self,
            "Composite",
            # The one physical name of the monitoring stack (see stacks/monitoring_stack.py for why).
            composite_alarm_name=alarm_name,
            alarm_description=(
                f"Release health of {environment}: in ALARM, the release hurts production. The delivery pipeline's "
                "bake watches this alarm and rolls the stage back; by hand: python -m cicd rollback --env "
                f"{environment} (docs/runbook.md)."
            ),
            alarm_rule=rule,
        )
        self.alarm.add_alarm_action(actions.SnsAction(topic))
        self.alarm.add_ok_action(actions.SnsAction(topic))
        self.bake_alarm: cloudwatch.CompositeAlarm | None = None
        self.bake_members: list[str] = []
        if bake_minutes is not None:
            self._bake_alarm(environment, every, bake_alarm_name or f"{alarm_name}-bake", bake_minutes)

    def _bake_alarm(self, environment: str, every: dict[str, cloudwatch.IAlarm], name: str, bake_minutes: int) -> None:
        self.bake_members = sorted(m for m in every if self.settle[m] <= bake_minutes)
        if not self.bake_members:
            fastest = min(self.settle, key=lambda m: self.settle[m])
            raise ValueError(
                f"config/{environment}.yaml: approval.bake_minutes is {bake_minutes}, too short for any release-health "
                f"member to judge only data the new release produced (rule: period x (evaluation periods + 1) must fit "
                f"in the bake; the fastest, {fastest}, needs {self.settle[fastest]}); raise approval.bake_minutes to "
                f"at least {self.settle[fastest]}"
            )
        self.bake_alarm = cloudwatch.CompositeAlarm(
            self,
            "Bake",
            # A fixed name like the release-health alarm's: the pipeline in the delivery account names it.
            composite_alarm_name=name,
            alarm_description=(
                f"Bake of {environment} ({bake_minutes} min): the release-health members that judge only data the "
                f"new release had time to produce: {', '.join(self.bake_members)}. The delivery pipeline rolls the "
                "stage back when this is in ALARM at the end of the bake; the release-health alarm pages for all."
            ),
            alarm_rule=cloudwatch.AlarmRule.any_of(*(every[m] for m in self.bake_members)),
        )
