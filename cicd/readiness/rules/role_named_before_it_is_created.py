"""Every IAM role a stack names by ARN exists by the time it is needed: created earlier, or by the bootstrap.

AWS checks some names when the template is deployed: a principal in any policy (trust, key, bucket, topic),
a service role, and every role of a CodePipeline definition (its actions and its condition rules). A role
named there must already exist, so the stack that creates it must be deployed first: a manifest dependency
for `cdk deploy`, an earlier stage or run order in the pipeline. A role named anywhere else (an environment
variable, an sts:AssumeRole resource) need only be created by some stack, or by whoever this app relies on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cicd.readiness.assembly import Resource, Stack, walk
from cicd.readiness.findings import Finding
from cicd.readiness.pipelines import Step
from cicd.readiness.rule import Context, Rule

ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::(\d{12}):role/([\w+=,.@/-]+)")
BOOTSTRAP_ROLE = re.compile(
    r"cdk-[a-z0-9]+-(deploy|cfn-exec|lookup|file-publishing|image-publishing)-role-\d{12}-[a-z0-9-]+"
)
# Properties whose role the service assumes or validates when the resource is created.
SERVICE_ROLE_KEYS = frozenset({"Role", "RoleArn", "ServiceRole", "ServiceRoleArn", "ExecutionRoleArn", "TaskRoleArn"})
CONDITIONS = ("BeforeEntry", "OnSuccess", "OnFailure")

Need = Stack | Step | None  # None: at run time, after every deployment


def when_needed(
    ctx: Context, resource: Resource, path: tuple[str | int, ...], props: dict[str, Any]
) -> tuple[Need, str]:
    """When AWS needs the named role to exist, and where it is named (for the message)."""
    keys = [p for p in path if isinstance(p, str)]
    if "Principal" in keys:
        return resource.stack, "as a policy principal"
    if resource.type == "AWS::CodePipeline::Pipeline" and path[:1] == ("Stages",) and len(path) > 2:
        stage = props["Stages"][path[1]]
        if path[2] in CONDITIONS:
            return resource.stack, f"as the role of the {path[2]} condition rule of stage {stage.get('Name')}"
        if path[2] == "Actions" and len(path) > 4:
            action = stage["Actions"][path[3]]
            if path[4] == "RoleArn":
                return resource.stack, f"as the role of action {stage.get('Name')}/{action.get('Name')}"
            run_order = int(action.get("RunOrder") or 1)
            step = Step(1, int(path[1]), run_order, f"stage {stage.get('Name')}, run order {run_order}")
            return step, f"in the configuration of action {stage.get('Name')}/{action.get('Name')}"
    if len(path) == 1 and path[0] in SERVICE_ROLE_KEYS:
        return resource.stack, f"as its {path[0]}"
    return None, f"in {'.'.join(str(p) for p in path)}"


class RoleNamedBeforeItIsCreated(Rule):
    finds = "a role ARN named before the stack that creates it is deployed, or created by no stack at all"
    fix = (
        "create the role in a stack deployed before the one that names it (a manifest dependency, or an earlier "
        "pipeline stage), or say in a suppression who creates it and why that comes first"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        seen: set[tuple[Resource, str]] = set()
        for resource in ctx.assembly.resources():
            props = ctx.assembly.deep(resource.stack, resource.props)
            for path, text in walk(props):
                for match in ROLE_ARN.finditer(text):
                    arn = match[0]
                    if (resource, arn) in seen or BOOTSTRAP_ROLE.fullmatch(match[2]) or "aws-service-role/" in arn:
                        continue
                    seen.add((resource, arn))
                    finding = self.judge(ctx, resource, arn, *when_needed(ctx, resource, path, props))
                    if finding is not None:
                        yield finding

    def judge(self, ctx: Context, resource: Resource, arn: str, need: Need, where: str) -> Finding | None:
        role = ctx.assembly.resource_for(arn)
        if role is None or role.type != "AWS::IAM::Role":
            return self.finding(
                ctx,
                resource,
                f"names role {arn} {where}, but no stack of the assembly creates it and it is no CDK bootstrap role",
                subject=arn,
            )
        if need is None or ctx.order.exists_before(role.stack, need):
            return None
        needed = (
            f"when {resource.stack.path} is deployed ({ctx.order.describe(resource.stack)})"
            if isinstance(need, Stack)
            else f"when the pipeline reaches {need.label}"
        )
        if isinstance(need, Stack) and need.top_level and role.stack.top_level:
            return self.finding(
                ctx,
                resource,
                f"names role {arn} {where}, needed {needed}, but {role.stack.path}, which creates it, is no "
                f"dependency of {need.path}: `cdk deploy` may deploy it later, or not at all",
                fix=f"make {need.path} depend on {role.stack.path} (stack.add_dependency)",
                subject=arn,
            )
        return self.finding(
            ctx,
            resource,
            f"names role {arn} {where}, needed {needed}, but {role.stack.path} creates it only at "
            f"{ctx.order.describe(role.stack)}",
            subject=arn,
        )
