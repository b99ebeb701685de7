"""A manual approval's role may publish to its notification topic and use the topic's key.

CodePipeline publishes the approval request with the approval action's own role (the pipeline role only
when the action has none). Without sns:Publish on the topic, or kms:GenerateDataKey and kms:Decrypt on an
encrypted topic's key, the action fails as soon as it starts: nobody is asked, and the promotion stops.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.findings import Finding
from cicd.readiness.policy import key_allows_role
from cicd.readiness.relations import key_of
from cicd.readiness.rule import Context, Rule

KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class ApprovalNotificationsCanBePublished(Rule):
    finds = "a manual approval whose role may not publish to its notification topic or use the topic's key"
    fix = "grant the approval action's role sns:Publish on the topic and kms:GenerateDataKey/kms:Decrypt on its key"

    def check(self, ctx: Context) -> Iterable[Finding]:
        assembly = ctx.assembly
        for pipeline in ctx.order.pipelines:
            for action in pipeline.actions:
                topic_arn = str(action.configuration.get("NotificationArn", ""))
                if action.category != "Approval" or not topic_arn:
                    continue
                role_arn = action.role_arn or pipeline.role_arn
                role = assembly.resource_for(role_arn)
                if role is None:
                    continue
                missing = [] if ctx.identities.allows(role, "sns:Publish", topic_arn) else ["sns:Publish on the topic"]
                topic = assembly.resource_for(topic_arn)
                key = key_of(assembly, topic, "KmsMasterKeyId") if topic is not None else None
                if key is not None:
                    missing += [
                        f"{a} on {key.logical_id}"
                        for a in KEY_ACTIONS
                        if not key_allows_role(assembly, ctx.identities, key, role_arn, role, a)
                    ]
                if missing:
                    yield self.finding(
                        ctx,
                        pipeline.resource,
                        f"approval {action.where} notifies {topic_arn} as {role.logical_id}, which lacks "
                        f"{', '.join(missing)}",
                        fix=f"grant {role.logical_id} {', '.join(missing)} (topic.grant_publish(action role))",
                        subject=topic_arn,
                    )
