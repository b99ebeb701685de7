"""An SNS topic's access policy lets every AWS service that publishes to it do so.

CloudWatch alarms, EventBridge rules and CodeStar notification rules publish as their service principal.
A topic policy replaces the topic's default policy: once a stack attaches one (CDK does for any grant or
TLS rule), a service it does not name is refused, and the alarm's notification is dropped silently.
Without a topic policy, the default one admits the account's own alarms but not EventBridge or CodeStar
notifications, which need an explicit statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cicd.readiness.assembly import Resource
from cicd.readiness.findings import Finding
from cicd.readiness.policy import allowed, statements
from cicd.readiness.relations import Use, topic_publishers
from cicd.readiness.rule import Context, Rule

# The default topic policy admits principals of the owning account; CloudWatch alarms publish as such.
ADMITTED_BY_DEFAULT = frozenset({"cloudwatch.amazonaws.com"})


class TopicAllowsItsPublishers(Rule):
    finds = "an SNS topic whose policy refuses a service that publishes to it (CloudWatch alarms, EventBridge)"
    fix = "allow sns:Publish to the service principal in the topic policy, scoped by aws:SourceAccount or aws:SourceArn"

    def check(self, ctx: Context) -> Iterable[Finding]:
        policies: dict[Resource, list[Resource]] = defaultdict(list)
        for policy in ctx.assembly.resources("AWS::SNS::TopicPolicy"):
            for topic in policy.props.get("Topics") or ():
                found = ctx.assembly.resource_for(ctx.assembly.text(policy.stack, topic))
                if found is not None:
                    policies[found].append(policy)
        by_topic: dict[tuple[Resource, str], list[Use]] = defaultdict(list)
        for use in topic_publishers(ctx.assembly):
            by_topic[(use.target, use.service)].append(use)
        for (topic, service), uses in by_topic.items():
            attached = policies.get(topic, [])
            arn = ctx.assembly.arn(topic) or ""
            if attached:
                granted = [
                    s for p in attached for s in statements(ctx.assembly.deep(p.stack, p.props.get("PolicyDocument")))
                ]
                if allowed((s for s in granted if s.admits_service(service)), "sns:Publish", arn):
                    continue
                at, why = attached[0], "its topic policy does not allow"
            elif service in ADMITTED_BY_DEFAULT:
                continue
            else:
                at, why = topic, "it has no topic policy, and the default one does not allow"
            users = ", ".join(str(u.user) for u in uses[:3]) + (f" and {len(uses) - 3} more" if len(uses) > 3 else "")
            yield self.finding(
                ctx,
                at,
                f"{users} publish to topic {topic} through {service}, but {why} {service} to sns:Publish",
                fix=f"add a topic-policy statement allowing {service} sns:Publish on the topic, with aws:SourceAccount "
                f"{topic.stack.account}",
                subject=service,
            )
