"""The operations dashboard of one environment and its notify-only alarms, built with cdk-monitoring-constructs.

Sections: release health, deployments (deployments, rollbacks, failures, lead time, change failure
rate), orchestration SLO (success rate, month's error budget, burn rates, MWAA's own metrics),
freshness per pipeline, data quality, EMR Serverless jobs, streaming lag, drift per stack, and the
canaries themselves. Alarms created here notify the topic; the ones that gate a release live in
monitoring_release_health.py. cdk-monitoring-constructs names its alarms from a prefix (it needs
names to de-duplicate and to render alarm widgets), so these alarms have readable physical names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
import cdk_monitoring_constructs as monitoring
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct
from constructs.monitoring_canaries import PipelineFreshness
from constructs.monitoring_release_health import FRESHNESS, QUALITY, RELEASE, mwaa_metric, task_failures
from constructs.monitoring_slo import OrchestrationSlo

DRIFT = "DataPlatform/Drift"
# Up to 7.9 EMR Serverless publishes job counts per ApplicationId; 7.10+ adds ApplicationName/JobName
# dimensions and stops the old series (config pins emr-7.9.0).
EMR = "AWS/EMRServerless"
PIPELINES_PER_GRAPH = 20
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD


def _metric(
    namespace: str, name: str, environment: str, statistic: str, period: cdk.Duration, **dims: str
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"Environment": environment, **dims},
        statistic=statistic,
        period=period,
        label=dims.get("Pipeline") or dims.get("Stack") or name,
    )


def _threshold(
    threshold: float,
    comparison: cloudwatch.ComparisonOperator = GT,
    *,
    periods: int = 1,
    missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
) -> monitoring.CustomThreshold:
    return monitoring.CustomThreshold(
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=periods,
        datapoints_to_alarm=periods,
        treat_missing_data_override=missing,
    )


class OperationsDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        topic: sns.ITopic,
        mwaa_environment_name: str,
        emr_application_ids: Mapping[str, str],
        streaming_application: str | None,
        pipelines: Sequence[PipelineFreshness],
        stack_names: Sequence[str],
        functions: Mapping[str, lambda_.IFunction],
        release_health: cloudwatch.IAlarm,
        release_health_members: Sequence[cloudwatch.IAlarm],
        slo: OrchestrationSlo,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard_name_prefix = f"data-platform-{environment}"
        self.facade = monitoring.MonitoringFacade(
            self,
            "Facade",
            alarm_factory_defaults=monitoring.AlarmFactoryDefaults(
                actions_enabled=True,
                alarm_name_prefix=self.dashboard_name_prefix,
                action=monitoring.SnsAlarmActionStrategy(on_alarm_topic=topic),
                runbook_link="docs/runbook.md",
            ),
            dashboard_factory=monitoring.DefaultDashboardFactory(
                self,
                "Dashboards",
                dashboard_name_prefix=self.dashboard_name_prefix,
                create_dashboard=True,
                create_summary_dashboard=False,
                create_alarm_dashboard=False,
                detail_dashboard_range=cdk.Duration.days(7),
            ),
        )
        facade = self.facade

        self._release_health(
            facade,
            environment=environment,
            release_health=release_health,
            release_health_members=release_health_members,
        )
        self._deployments(facade, environment=environment)
        self._orchestration_slo(facade, mwaa_environment_name=mwaa_environment_name, slo=slo)
        self._freshness(facade, environment=environment, pipelines=pipelines)
        self._data_quality(facade, environment=environment, pipelines=pipelines)
        self._emr_jobs(facade, emr_application_ids=emr_application_ids, streaming_application=streaming_application)
        self._streaming_lag(facade, environment=environment, pipelines=pipelines)
        self._drift(facade, environment=environment, stack_names=stack_names)
        self._canaries(facade, functions=functions, topic=topic)

    def _release_health(
        self,
        facade: monitoring.MonitoringFacade,
        *,
        environment: str,
        release_health: cloudwatch.IAlarm,
        release_health_members: Sequence[cloudwatch.IAlarm],
    ) -> None:
        facade.add_large_header(f"Release health ({environment})")
        facade.add_widget(
            cloudwatch.AlarmStatusWidget(
                title="Release health: the composite the pipeline's bake watches, and its members",
                alarms=[release_health, *release_health_members],
                width=24,
                height=4,
            )
        )

    def _deployments(self, facade: monitoring.MonitoringFacade, *, environment: str) -> None:
        hour = cdk.Duration.hours(1)
        facade.add_large_header("Deployments")
        week = lambda name, unit="Count": _metric(RELEASE, name, environment, "Maximum", hour)  # noqa: E731
        facade.monitor_custom(
            alarm_friendly_name="Deployments",
            human_readable_name="Deployments of the last 7 days (from the active-release history and stack events)",
            metric_groups=[
                monitoring.CustomMetricGroup(
                    title="Deployments, rollbacks, failed deployments (7 days)",
                    metrics=[week("Deployments7d"), week("Rollbacks7d"), week("FailedDeployments7d")],
                ),
                monitoring.CustomMetricGroup(
                    title="Change failure rate (%, 7 days)", metrics=[week("ChangeFailureRate7d")]
                ),
                monitoring.CustomMetricGroup(
                    title="Lead time, commit to activation (median minutes, 7 days)",
                    metrics=[week("LeadTimeMinutes7d")],
                ),
            ],
        )

    def _orchestration_slo(
        self, facade: monitoring.MonitoringFacade, *, mwaa_environment_name: str, slo: OrchestrationSlo
    ) -> None:
        hour, five = cdk.Duration.hours(1), cdk.Duration.minutes(5)
        facade.add_large_header("Orchestration SLO: 99.9 % of scheduled runs succeed")
        facade.add_widget(
            cloudwatch.SingleValueWidget(
                title="Error budget remaining, last 30 days (%)",
                metrics=[slo.budget_remaining()],
                set_period_to_time_range=False,
                width=6,
                height=6,
            )
        )
        facade.add_widget(
            cloudwatch.GraphWidget(
                title="Scheduled runs succeeded (%), hourly",
                left=[slo.success_rate(hour)],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=slo.objective * 100, label="objective")],
                width=9,
            )
        )
        facade.add_widget(
            cloudwatch.GraphWidget(
                title="Error budget burn rate",
                left=[slo.burn_rate(hour), slo.burn_rate(cdk.Duration.hours(6))],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=14.4, label="fast burn"),
                    cloudwatch.HorizontalAnnotation(value=6, label="slow burn"),
                ],
                width=9,
            )
        )
        facade.add_widget(
            cloudwatch.GraphWidget(
                title=f"MWAA {mwaa_environment_name}: import errors, scheduler heartbeat, task failures",
                left=[
                    mwaa_metric("ImportErrors", mwaa_environment_name, "DAG Processing", statistic="Maximum"),
                    task_failures(mwaa_environment_name, five),
                ],
                right=[mwaa_metric("SchedulerHeartbeat", mwaa_environment_name, "Scheduler", statistic="Sum")],
                width=24,
            )
        )

    def _freshness(
        self, facade: monitoring.MonitoringFacade, *, environment: str, pipelines: Sequence[PipelineFreshness]
    ) -> None:
        quarter = cdk.Duration.minutes(15)
        facade.add_large_header("Freshness per pipeline")
        facade.add_widget(
            cloudwatch.GraphWidget(
                title="Freshness budget used per pipeline (above 1 = stale)",
                left=[
                    cloudwatch.MathExpression(
                        expression=(
                            f'SEARCH(\'{{{FRESHNESS},Environment,Pipeline}} MetricName="FreshnessBudgetUsed" '
                            f"Environment=\"{environment}\"', 'Maximum', 900)"
                        ),
                        period=quarter,
                        label="",
                    )
                ],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=1, label="allowed age")],
                width=24,
            )
        )
        for start in range(0, len(pipelines), PIPELINES_PER_GRAPH):
            chunk = pipelines[start : start + PIPELINES_PER_GRAPH]
            facade.monitor_custom(
                alarm_friendly_name=f"Freshness{start // PIPELINES_PER_GRAPH + 1}",
                human_readable_name=f"Freshness, pipelines {start + 1}-{start + len(chunk)}",
                add_to_detail_dashboard=True,
                metric_groups=[
                    monitoring.CustomMetricGroup(
                        title="Minutes since the last successful load",
                        metrics=[
                            monitoring.CustomMetricWithAlarm(
                                metric=_metric(
                                    FRESHNESS,
                                    "FreshnessBudgetUsed",
                                    environment,
                                    "Maximum",
                                    quarter,
                                    Pipeline=p.pipeline_id,
                                ),
                                alarm_friendly_name=f"Stale-{p.pipeline_id}",
                                add_alarm={"Warning": _threshold(1, periods=2)},
                            )
                            for p in chunk
                        ],
                    )
                ],
            )
        facade.monitor_custom(
            alarm_friendly_name="FreshnessCoverage",
            human_readable_name="Pipelines whose freshness could not be measured",
            metric_groups=[
                monitoring.CustomMetricGroup(
                    title="Unmeasured pipelines (no landed data, API error, timeout)",
                    metrics=[
                        monitoring.CustomMetricWithAlarm(
                            metric=_metric(FRESHNESS, "UnmeasuredPipelines", environment, "Maximum", quarter),
                            alarm_friendly_name="Unmeasured",
                            add_alarm={"Warning": _threshold(0, periods=2)},
                        )
                    ],
                )
            ],
        )

    def _data_quality(
        self, facade: monitoring.MonitoringFacade, *, environment: str, pipelines: Sequence[PipelineFreshness]
    ) -> None:
        quarter = cdk.Duration.minutes(15)
        facade.add_large_header("Data quality")
        facade.monitor_custom(
            alarm_friendly_name="DataQuality",
            human_readable_name="dbt tests of the active release against the previous release",
            metric_groups=[
                monitoring.CustomMetricGroup(
                    title="Failing dbt tests and regressions (all pipelines)",
                    metrics=[
                        _metric(QUALITY, "DataQualityFailures", environment, "Maximum", quarter),
                        _metric(QUALITY, "DataQualityRegressions", environment, "Maximum", quarter),
                    ],
                ),
                monitoring.CustomMetricGroup(
                    title="Pipelines without results for the active release past their allowed age",
                    metrics=[
                        monitoring.CustomMetricWithAlarm(
                            metric=_metric(QUALITY, "DataQualityResultsMissing", environment, "Maximum", quarter),
                            alarm_friendly_name="ResultsMissing",
                            add_alarm={"Warning": _threshold(0)},
                        )
                    ],
                ),
            ],
        )

    def _emr_jobs(
        self,
        facade: monitoring.MonitoringFacade,
        *,
        emr_application_ids: Mapping[str, str],
        streaming_application: str | None,
    ) -> None:
        five = cdk.Duration.minutes(5)
        facade.add_large_header("EMR Serverless jobs")
        for role, application_id in emr_application_ids.items():
            groups = [
                monitoring.CustomMetricGroup(
                    title=f"{role}: failed jobs",
                    metrics=[
                        monitoring.CustomMetricWithAlarm(
                            metric=cloudwatch.Metric(
                                namespace=EMR,
                                metric_name="FailedJobs",
                                dimensions_map={"ApplicationId": application_id},
                                statistic="Sum",
                                period=five,
                            ),
                            alarm_friendly_name=f"{role}-FailedJobs",
                            add_alarm={"Warning": _threshold(0)},
                        )
                    ],
                ),
                monitoring.CustomMetricGroup(
                    title=f"{role}: succeeded and running jobs",
                    metrics=[
                        cloudwatch.Metric(
                            namespace=EMR,
                            metric_name=name,
                            dimensions_map={"ApplicationId": application_id},
                            statistic=stat,
                            period=five,
                        )
                        for name, stat in (("SuccessJobs", "Sum"), ("RunningJobs", "Maximum"))
                    ],
                ),
            ]
            if role == streaming_application:
                groups.append(
                    monitoring.CustomMetricGroup(
                        title="streaming job running (the supervisor DAG restarts it; 15 min without one is an outage)",
                        metrics=[
                            monitoring.CustomMetricWithAlarm(
                                metric=cloudwatch.Metric(
                                    namespace=EMR,
                                    metric_name="RunningJobs",
                                    dimensions_map={"ApplicationId": application_id},
                                    statistic="Maximum",
                                    period=five,
                                ),
                                alarm_friendly_name="StreamingJobNotRunning",
                                add_alarm={
                                    "Critical": _threshold(
                                        1, LT, periods=3, missing=cloudwatch.TreatMissingData.BREACHING
                                    )
                                },
                            )
                        ],
                    )
                )
            facade.monitor_custom(
                alarm_friendly_name=f"Emr-{role}",
                human_readable_name=f"EMR Serverless application {role} ({application_id})",
                metric_groups=groups,
            )

    def _streaming_lag(
        self, facade: monitoring.MonitoringFacade, *, environment: str, pipelines: Sequence[PipelineFreshness]
    ) -> None:
        quarter = cdk.Duration.minutes(15)
        streaming = [p for p in pipelines if p.streaming]
        if streaming:
            facade.add_large_header("Streaming lag")
            facade.monitor_custom(
                alarm_friendly_name="StreamingLag",
                human_readable_name="Seconds since the streaming job's last micro-batch landed in the raw layer",
                metric_groups=[
                    monitoring.CustomMetricGroup(
                        title="Streaming lag (s)",
                        metrics=[
                            _metric(
                                FRESHNESS,
                                "StreamingLagSeconds",
                                environment,
                                "Maximum",
                                quarter,
                                Pipeline=p.pipeline_id,
                            )
                            for p in streaming
                        ],
                    )
                ],
            )

    def _drift(self, facade: monitoring.MonitoringFacade, *, environment: str, stack_names: Sequence[str]) -> None:
        hour, day = cdk.Duration.hours(1), cdk.Duration.days(1)
        facade.add_large_header("Drift")
        facade.monitor_custom(
            alarm_friendly_name="Drift",
            human_readable_name="CloudFormation drift per stack (hourly detection)",
            metric_groups=[
                monitoring.CustomMetricGroup(
                    title="Drifted stacks (1 = changed outside CloudFormation)",
                    metrics=[
                        monitoring.CustomMetricWithAlarm(
                            metric=_metric(DRIFT, "StackDrifted", environment, "Maximum", hour, Stack=name),
                            alarm_friendly_name=f"Drift-{name}",
                            add_alarm={"Warning": _threshold(0)},
                        )
                        for name in stack_names
                    ],
                ),
                monitoring.CustomMetricGroup(
                    title="Drift detection that could not finish",
                    metrics=[
                        monitoring.CustomMetricWithAlarm(
                            metric=_metric(DRIFT, "DriftDetectionFailed", environment, "Maximum", day, Stack=name),
                            alarm_friendly_name=f"DriftUnknown-{name}",
                            add_alarm={"Warning": _threshold(0)},
                        )
                        for name in stack_names
                    ],
                ),
            ],
        )

    def _canaries(
        self, facade: monitoring.MonitoringFacade, *, functions: Mapping[str, lambda_.IFunction], topic: sns.ITopic
    ) -> None:
        facade.add_large_header("Canaries and notifications")
        for name, function in functions.items():
            facade.monitor_lambda_function(
                lambda_function=function,
                alarm_friendly_name=f"Canary-{name}",
                human_readable_name=f"Canary {name}",
                add_fault_count_alarm={"Warning": monitoring.ErrorCountThreshold(max_error_count=0)},
            )
        facade.monitor_sns_topic(
            topic=topic,
            add_message_notifications_failed_alarm={
                "Warning": monitoring.NotificationsFailedThreshold(max_notifications_failed_count=0)
            },
        )
