"""Whoever sends to a KMS-encrypted SQS queue may also use the queue's key.

SendMessage to an encrypted queue makes SQS call kms:GenerateDataKey (and kms:Decrypt for reused data
keys) with the sender's credentials. A Lambda function's dead-letter queue or on-failure destination is
sent to with the function's role. A role with sqs:SendMessage but no key grant gets KMS.AccessDenied, and
the failed event it was meant to keep is lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.assembly import Resource
from cicd.readiness.findings import Finding
from cicd.readiness.policy import key_allows_role
from cicd.readiness.relations import key_of
from cicd.readiness.rule import Context, Rule

KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class QueueSenderHasKeyGrant(Rule):
    finds = "a role that sends to a KMS-encrypted queue (directly, or as a Lambda dead-letter target) without the key"
    fix = (
        "grant the sender kms:GenerateDataKey and kms:Decrypt on the queue's key (queue.grant_send_messages does both)"
    )

    def senders(self, ctx: Context, queue: Resource) -> dict[Resource, str]:
        """Roles that send to the queue, and why."""
        assembly = ctx.assembly
        arn = assembly.arn(queue) or ""
        found = dict.fromkeys(ctx.identities.roles_granted("sqs:SendMessage", arn), "sqs:SendMessage in its policy")
        for function in assembly.resources("AWS::Lambda::Function"):
            role = assembly.resource_for(assembly.text(function.stack, function.props.get("Role")))
            target = (function.props.get("DeadLetterConfig") or {}).get("TargetArn")
            if (
                role is not None
                and target is not None
                and assembly.resource_for(assembly.text(function.stack, target)) == queue
            ):
                found[role] = f"dead-letter queue of {function}"
        for config in assembly.resources("AWS::Lambda::EventInvokeConfig"):
            invoked = assembly.resource_for(assembly.text(config.stack, config.props.get("FunctionName")))
            destinations = config.props.get("DestinationConfig") or {}
            for when in ("OnFailure", "OnSuccess"):
                target = (destinations.get(when) or {}).get("Destination")
                if invoked is None or target is None:
                    continue
                if assembly.resource_for(assembly.text(config.stack, target)) == queue:
                    role = assembly.resource_for(assembly.text(invoked.stack, invoked.props.get("Role")))
                    if role is not None:
                        found[role] = f"{when} destination of {invoked}"
        return found

    def check(self, ctx: Context) -> Iterable[Finding]:
        for queue in ctx.assembly.resources("AWS::SQS::Queue"):
            key = key_of(ctx.assembly, queue, "KmsMasterKeyId")
            if key is None:
                continue
            for role, why in self.senders(ctx, queue).items():
                role_arn = ctx.assembly.arn(role) or ""
                missing = [
                    action
                    for action in KEY_ACTIONS
                    if not key_allows_role(ctx.assembly, ctx.identities, key, role_arn, role, action)
                ]
                if missing:
                    yield self.finding(
                        ctx,
                        role,
                        f"sends to queue {queue} ({why}), which {key} encrypts, but may not {', '.join(missing)} on "
                        f"that key",
                        fix=f"grant {role.logical_id} kms:GenerateDataKey and kms:Decrypt on {key.logical_id} "
                        "(key.grant_encrypt_decrypt(role), or queue.grant_send_messages(role))",
                        subject=ctx.assembly.arn(queue) or str(queue),
                    )
