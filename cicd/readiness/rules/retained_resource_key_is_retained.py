"""A resource kept when its stack is deleted keeps its KMS key too.

A bucket, log group, queue or topic with DeletionPolicy Retain outlives its stack, but a key with the
default Delete policy is scheduled for deletion with the stack. Seven to thirty days later the retained
data can no longer be decrypted: the resource was kept, what it holds is lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.findings import Finding
from cicd.readiness.relations import ENCRYPTION_KEY_PROPERTY, encryption_key
from cicd.readiness.rule import Context, Rule

KEPT = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})


class RetainedResourceKeyIsRetained(Rule):
    finds = "a retained resource encrypted with a KMS key that is deleted with its stack"
    fix = "retain the key as well (RemovalPolicy.RETAIN on the key), or let the resource be deleted with it"

    def check(self, ctx: Context) -> Iterable[Finding]:
        for resource in ctx.assembly.resources("AWS::S3::Bucket", *ENCRYPTION_KEY_PROPERTY):
            if resource.body.get("DeletionPolicy") not in KEPT:
                continue
            key = encryption_key(ctx.assembly, resource)
            if key is None or key.body.get("DeletionPolicy") in KEPT:
                continue
            yield self.finding(
                ctx,
                key,
                f"is deleted with {key.stack.path} (DeletionPolicy {key.body.get('DeletionPolicy', 'Delete')}), but "
                f"{resource} ({resource.type}, DeletionPolicy {resource.body.get('DeletionPolicy')}) is kept and "
                "encrypted with it: its data becomes unreadable once the key is gone",
                fix=f"retain {key.logical_id} (RemovalPolicy.RETAIN) as long as {resource.logical_id} is retained",
                subject=str(resource),
            )
