"""A KMS key's policy lets every AWS service that encrypts or decrypts with it do so.

A log group, a trail, or an alarm publishing to an encrypted topic makes a service (not a role) call KMS.
Services are not IAM principals of the account: only the key policy can let them in. Without it the log
group fails to create, the trail fails to create, and alarm notifications are dropped without an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cicd.readiness.findings import Finding
from cicd.readiness.policy import key_allows_service
from cicd.readiness.relations import Use, key_services
from cicd.readiness.rule import Context, Rule

# What each service calls (AWS docs for CloudWatch Logs, CloudTrail, and SNS/SQS encryption with services).
# CloudWatch Logs: the set CDK's key.grant_encrypt_decrypt gives, which log groups are created with; AWS's
# example policy adds kms:Describe*, which association does not need.
LOGS_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey")
NEEDED = {
    "cloudtrail.amazonaws.com": ("kms:GenerateDataKey", "kms:DescribeKey"),
    "cloudwatch.amazonaws.com": ("kms:GenerateDataKey", "kms:Decrypt"),
    "events.amazonaws.com": ("kms:GenerateDataKey", "kms:Decrypt"),
    "codestar-notifications.amazonaws.com": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sns.amazonaws.com": ("kms:GenerateDataKey", "kms:Decrypt"),
}


def needed(service: str) -> tuple[str, ...]:
    return LOGS_ACTIONS if service.startswith("logs.") else NEEDED.get(service, ("kms:GenerateDataKey", "kms:Decrypt"))


def principals(service: str) -> tuple[str, ...]:
    # CloudWatch Logs' principal is regional; a global one is accepted too rather than guessed wrong.
    return (service, "logs.amazonaws.com") if service.startswith("logs.") else (service,)


class KmsKeyAllowsEveryServiceThatEncryptsWithIt(Rule):
    finds = (
        "a KMS key whose policy does not let a service that encrypts with it (Logs, CloudTrail, SNS publishers) use it"
    )
    fix = (
        "add a key-policy statement for the service principal with the actions named, scoped by aws:SourceArn or "
        "aws:SourceAccount"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        by_key: dict[tuple[object, str], list[Use]] = defaultdict(list)
        for use in key_services(ctx.assembly):
            by_key[(use.target, use.service)].append(use)
        for (_, service), uses in by_key.items():
            key = uses[0].target
            missing = [
                action
                for action in needed(service)
                if not any(key_allows_service(ctx.assembly, key, p, action) for p in principals(service))
            ]
            if not missing:
                continue
            users = ", ".join(f"{u.user} ({u.how})" for u in uses[:3]) + (
                f" and {len(uses) - 3} more" if len(uses) > 3 else ""
            )
            yield self.finding(
                ctx,
                key,
                f"{service} may not {', '.join(missing)} with this key, yet {users} make it use the key",
                fix=f"allow {service} {', '.join(needed(service))} in the key policy (scoped by aws:SourceArn or "
                "aws:SourceAccount, or the logs encryption context)",
                subject=service,
            )
