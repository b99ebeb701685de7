"""The alarm a pipeline stage bakes on exists, and none of its members treats missing data as breaching.

A CloudWatchAlarm condition rule watches an alarm by name in the environment's account. Right after a
release is activated its canaries and metrics have not reported yet: a member that treats missing data as
breaching puts the whole composite in ALARM, and the bake rolls back (or fails) a release that did nothing
wrong. An alarm that no stack creates cannot be watched at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.assembly import Resource
from cicd.readiness.findings import Finding
from cicd.readiness.pipelines import account_of
from cicd.readiness.rule import Context, Rule
from cicd.readiness.rules.condition_rule_role_is_assumable import condition_rules

ALARM_TYPES = ("AWS::CloudWatch::CompositeAlarm", "AWS::CloudWatch::Alarm")


def members(ctx: Context, alarm: Resource, seen: frozenset[Resource] = frozenset()) -> list[tuple[Resource, list[str]]]:
    """The metric alarms under an alarm, each with the composites that lead to it."""
    if alarm.type == "AWS::CloudWatch::Alarm":
        return [(alarm, [])]
    if alarm in seen:
        return []
    rule = ctx.assembly.text(alarm.stack, alarm.props.get("AlarmRule", ""))
    found = []
    for member in ctx.assembly.resources_in(rule):
        if member.type in ALARM_TYPES and member != alarm:
            found += [(leaf, [alarm.logical_id, *via]) for leaf, via in members(ctx, member, seen | {alarm})]
    return found


class BakeAlarmJudgesOnlyDataTheReleaseProduced(Rule):
    finds = "a bake (stage condition) alarm that no stack creates, or with members treating missing data as breaching"
    fix = (
        "treat missing data as notBreaching (or ignore) in the alarms the bake watches; alert on absent data "
        "outside the bake"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        for pipeline in ctx.order.pipelines:
            region = pipeline.resource.stack.region
            for stage, condition, rule in condition_rules(pipeline):
                type_id, configuration = rule.get("RuleTypeId") or {}, rule.get("Configuration") or {}
                if not (isinstance(type_id, dict) and type_id.get("Provider") == "CloudWatchAlarm"):
                    continue
                name = str(configuration.get("AlarmName", "")) if isinstance(configuration, dict) else ""
                account = account_of(str(rule.get("RoleArn") or "")) or pipeline.resource.stack.account
                alarm = next(
                    (a for t in ALARM_TYPES if (a := ctx.assembly.named(t, name, account, region)) is not None), None
                )
                if alarm is None:
                    yield self.finding(
                        ctx,
                        pipeline.resource,
                        f"the {condition} rule of stage {stage} watches alarm {name!r} in account {account}, which no "
                        "stack of the assembly creates",
                        fix="name an alarm a stack of that account creates (its AlarmName), or create it",
                        subject=name,
                    )
                    continue
                for member, via in members(ctx, alarm):
                    if member.props.get("TreatMissingData") == "breaching":
                        path = " -> ".join([*via, member.logical_id])
                        yield self.finding(
                            ctx,
                            member,
                            f"treats missing data as breaching and is watched by the {condition} bake of stage {stage} "
                            f"({path}): before the new release has produced data, it is in ALARM",
                            subject=f"{stage}:{name}",
                        )
