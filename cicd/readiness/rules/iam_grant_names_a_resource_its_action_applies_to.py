"""An IAM grant names resources of a type its action can act on; otherwise it grants nothing.

A narrowed policy can keep an action but point it at the wrong kind of ARN: codepipeline:GetPipelineState
on an approval action's ARN (it needs the pipeline's), cloudwatch:PutMetricData on a named resource (it
takes only "*"). IAM accepts the policy, and the call fails at run time with AccessDenied, for example the
auto-approval that never finds its token. Which types an action applies to is AWS's service authorization
reference (see cicd/readiness/iam_reference.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.assembly import TOKEN
from cicd.readiness.findings import Finding
from cicd.readiness.iam_reference import Reference, load
from cicd.readiness.policy import Statement
from cicd.readiness.rule import Context, Rule


def judgeable(resource: str) -> bool:
    """Only ARNs whose shape is known: no wildcard, no unresolved value outside a resource name."""
    bare = TOKEN.sub("name", resource)
    return resource.startswith("arn:") and "*" not in bare and "?" not in bare


def dead_actions(reference: Reference, statement: Statement) -> Iterable[tuple[str, list[str], set[str]]]:
    """(action, resources, what they are) for each action no named resource of its service applies to."""
    if not statement.allows or not statement.actions or "*" in statement.resources or not statement.resources:
        return
    for pattern in statement.actions:
        service = reference.service(pattern)
        if service is None:
            continue
        actions = service.actions(pattern)
        mine = [r for r in statement.resources if r.split(":")[2:3] == [service.prefix]]
        if not actions or not mine or not all(judgeable(r) for r in mine):
            continue
        wanted = set().union(*(service.privileges[a] for a in actions))
        kinds = set().union(*(service.types_of(TOKEN.sub("name", r)) for r in mine))
        if not kinds or wanted & kinds:
            continue
        yield pattern, mine, kinds


class IamGrantNamesAResourceItsActionAppliesTo(Rule):
    finds = "an IAM grant whose action cannot act on any resource type the statement names: the grant gives nothing"
    fix = (
        "name the resource type the action applies to (AWS service authorization reference), or '*' where it takes "
        "no resource"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        if ctx.facts.iam_reference is None:
            return
        reference = load(ctx.facts.iam_reference)
        for role in ctx.assembly.resources("AWS::IAM::Role"):
            for statement in ctx.identities.of(role):
                for action, resources, kinds in dead_actions(reference, statement):
                    service = reference.service(action)
                    assert service is not None
                    wanted = sorted(set().union(*(service.privileges[a] for a in service.actions(action))))
                    needs = ", ".join("'*' (no resource)" if w == "" else w for w in wanted)
                    yield self.finding(
                        ctx,
                        role,
                        f"is granted {action} only on {', '.join(resources[:2])} "
                        f"(of type {', '.join(sorted(kinds))}), but "
                        f"{action} acts on {needs}: the grant gives nothing",
                        fix=f"grant {action} on a resource of type {needs}",
                        subject=action,
                    )
