"""Orchestration SLO: 99.9 % of scheduled DAG runs succeed in a month, its error budget and burn-rate alarms.

The DAG-health canary counts scheduled runs that ended, succeeded or failed, every 5 minutes
(ScheduledRunsSucceeded / ScheduledRunsFailed). Burn rate = error rate / error budget (0.1 %).
Multi-window, multi-burn-rate alerting as in Google's SRE Workbook, "Alerting on SLOs": a fast burn
(14.4x over 1 h, confirmed over 5 min) spends 2 % of the month's budget in an hour and joins the
release-health alarm; a slow burn (6x over 6 h, confirmed over 30 min) spends 5 % in six hours and
notifies. The long window makes the alarm significant, the short one makes it reset quickly.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from cdk_nag import NagSuppressions
from constructs import Construct

NAMESPACE = "DataPlatform/Release"
# (long window, short window, burn-rate factor)
BURNS = {
    "Fast": (cdk.Duration.hours(1), cdk.Duration.minutes(5), 14.4),
    "Slow": (cdk.Duration.hours(6), cdk.Duration.minutes(30), 6.0),
}
MONTH = cdk.Duration.days(30)


class OrchestrationSlo(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, environment: str, topic: sns.ITopic, objective: float = 0.999
    ) -> None:
        super().__init__(scope, construct_id)
        if not 0 < objective < 1:
            raise ValueError(f"the SLO objective must be a fraction between 0 and 1 (got {objective})")
        self.environment = environment
        self.objective = objective
        self.budget = 1 - objective
        self.burn_alarms: dict[str, cloudwatch.CompositeAlarm] = {}
        for speed, (long, short, factor) in BURNS.items():
            windows = []
            for label, window in (("Long", long), ("Short", short)):
                alarm = cloudwatch.Alarm(
                    self,
                    f"{speed}Burn{label}",
                    alarm_description=(
                        f"[{environment}] scheduled-run error budget burning {factor}x over {window.to_human_string()}"
                    ),
                    metric=self.burn_rate(window),
                    threshold=factor,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                NagSuppressions.add_resource_suppressions(
                    alarm,
                    [
                        {
                            "id": "NIST.800.53.R5-CloudWatchAlarmAction",
                            "reason": "One window of a multi-window burn-rate alarm; the composite of both windows "
                            "notifies, a single window alone is not a signal.",
                        }
                    ],
                )
                windows.append(alarm)
            composite = cloudwatch.CompositeAlarm(
                self,
                f"{speed}Burn",
                alarm_description=(
                    f"[{environment}] {speed.lower()} burn of the {objective:.1%} scheduled-run SLO: error rate above "
                    f"{factor}x the budget over {long.to_human_string()} and {short.to_human_string()}"
                ),
                alarm_rule=cloudwatch.AlarmRule.all_of(*windows),
            )
            composite.add_alarm_action(actions.SnsAction(topic))
            self.burn_alarms[speed] = composite
        self.fast_burn = self.burn_alarms["Fast"]
        self.fast_burn_long_window = BURNS["Fast"][0]

    def _runs(self, window: cdk.Duration) -> tuple[str, str, dict[str, cloudwatch.IMetric]]:
        # Ids carry the window: one graph may show the same metrics over two windows.
        seconds = int(window.to_seconds())
        ok, failed = f"ok{seconds}", f"failed{seconds}"
        return (
            ok,
            failed,
            {
                (ok if outcome == "Succeeded" else failed): cloudwatch.Metric(
                    namespace=NAMESPACE,
                    metric_name=f"ScheduledRuns{outcome}",
                    dimensions_map={"Environment": self.environment},
                    statistic="Sum",
                    period=window,
                )
                for outcome in ("Succeeded", "Failed")
            },
        )

    def burn_rate(self, window: cdk.Duration) -> cloudwatch.MathExpression:
        s, f, metrics = self._runs(window)
        return cloudwatch.MathExpression(
            expression=f"IF(({s} + {f}) > 0, ({f} / ({s} + {f})) / {self.budget:.6f}, 0)",
            using_metrics=metrics,
            period=window,
            label=f"burn rate over {window.to_human_string()}",
        )

    def success_rate(self, window: cdk.Duration) -> cloudwatch.MathExpression:
        s, f, metrics = self._runs(window)
        return cloudwatch.MathExpression(
            expression=f"IF(({s} + {f}) > 0, 100 * {s} / ({s} + {f}), 100)",
            using_metrics=metrics,
            period=window,
            label=f"scheduled runs succeeded (%) per {window.to_human_string()}",
        )

    def budget_remaining(self) -> cloudwatch.MathExpression:
        """Share of the month's error budget not spent yet (100 % = no failed run, below 0 = SLO missed)."""
        s, f, metrics = self._runs(MONTH)
        return cloudwatch.MathExpression(
            expression=f"IF(({s} + {f}) > 0, 100 * (1 - {f} / (({s} + {f}) * {self.budget:.6f})), 100)",
            using_metrics=metrics,
            period=MONTH,
            label="error budget remaining this month (%)",
        )
