"""The role of a pipeline stage's condition rule can be assumed by the pipeline and can read what the rule checks.

A condition rule (e.g. the bake's CloudWatchAlarm rule on OnSuccess) runs with its own RoleArn, often in the
environment's account. The pipeline role must be allowed sts:AssumeRole on it, the role must trust the
pipeline's account, and it must be allowed to read the alarm. If any link is missing the rule cannot be
evaluated: the stage fails (or rolls back) on every run, and the next stage is never reached.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.assembly import Resource
from cicd.readiness.findings import Finding
from cicd.readiness.pipelines import Pipeline, account_of
from cicd.readiness.policy import allowed, statements
from cicd.readiness.rule import Context, Rule

CONDITIONS = ("BeforeEntry", "OnSuccess", "OnFailure")


def condition_rules(pipeline: Pipeline) -> Iterable[tuple[str, str, dict[str, object]]]:
    """(stage name, condition, rule) for every rule of every stage condition."""
    for stage in pipeline.stages:
        for condition in CONDITIONS:
            for entry in (stage.get(condition) or {}).get("Conditions") or ():
                for rule in entry.get("Rules") or ():
                    yield str(stage.get("Name")), condition, rule


class ConditionRuleRoleIsAssumable(Rule):
    finds = (
        "a stage condition rule whose role the pipeline may not assume, that does not trust it, or cannot read its "
        "alarm"
    )
    fix = (
        "grant the pipeline role sts:AssumeRole on the rule's role, trust the pipeline's account in it, and let "
        "it read the alarm"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        assembly = ctx.assembly
        for pipeline in ctx.order.pipelines:
            pipeline_role = assembly.resource_for(pipeline.role_arn)
            for stage, condition, rule in condition_rules(pipeline):
                role_arn = str(rule.get("RoleArn") or "")
                if not role_arn:
                    continue
                where = f"the {condition} rule {rule.get('Name')} of stage {stage}"
                problems = []
                if pipeline_role is not None and not ctx.identities.allows(pipeline_role, "sts:AssumeRole", role_arn):
                    problems.append(f"the pipeline role {pipeline_role.logical_id} may not sts:AssumeRole on it")
                role = assembly.resource_for(role_arn)
                if role is not None and role.type == "AWS::IAM::Role":
                    problems += self.role_problems(ctx, pipeline, role, rule)
                for problem in problems:
                    yield self.finding(
                        ctx, pipeline.resource, f"{where} runs as {role_arn}, but {problem}", subject=role_arn
                    )

    def role_problems(self, ctx: Context, pipeline: Pipeline, role: Resource, rule: dict[str, object]) -> list[str]:
        assembly = ctx.assembly
        problems = []
        trust = statements(assembly.deep(role.stack, role.props.get("AssumeRolePolicyDocument")))
        pipeline_account = pipeline.resource.stack.account
        if not allowed(
            (s for s in trust if s.admits_arn(pipeline.role_arn) or s.admits_account(pipeline_account)),
            "sts:AssumeRole",
        ):
            problems.append(
                f"its trust policy ({role}) admits neither the pipeline role nor account {pipeline_account}"
            )
        type_id = rule.get("RuleTypeId") or {}
        configuration = rule.get("Configuration") or {}
        if (
            isinstance(type_id, dict)
            and type_id.get("Provider") == "CloudWatchAlarm"
            and isinstance(configuration, dict)
        ):
            name = str(configuration.get("AlarmName", ""))
            account = account_of(str(rule.get("RoleArn"))) or pipeline_account
            alarm_arn = f"arn:aws:cloudwatch:{pipeline.resource.stack.region}:{account}:alarm:{name}"
            if not ctx.identities.allows(role, "cloudwatch:DescribeAlarms", alarm_arn):
                problems.append(f"{role} may not cloudwatch:DescribeAlarms on alarm {name}")
        return problems
