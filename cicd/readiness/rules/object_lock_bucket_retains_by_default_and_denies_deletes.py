"""A bucket with Object Lock has a default retention, and its policy denies deleting object versions.

Object Lock alone protects nothing: without a default retention every object is written unlocked, and any
principal with s3:DeleteObjectVersion can erase the evidence the bucket exists to keep. A GOVERNANCE-mode
lock is also lifted by s3:BypassGovernanceRetention, so that is denied too.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.assembly import Resource
from cicd.readiness.findings import Finding
from cicd.readiness.policy import denied_to_everyone
from cicd.readiness.relations import bucket_policy
from cicd.readiness.rule import Context, Rule


def locked(bucket: Resource) -> bool:
    config = bucket.props.get("ObjectLockConfiguration") or {}
    return (
        bucket.props.get("ObjectLockEnabled") in (True, "true", "Enabled")
        or config.get("ObjectLockEnabled") == "Enabled"
    )


class ObjectLockBucketRetainsByDefaultAndDeniesDeletes(Rule):
    finds = "an Object Lock bucket without a default retention, or whose policy lets anyone delete object versions"
    fix = (
        "set ObjectLockConfiguration.Rule.DefaultRetention and deny s3:DeleteObjectVersion (and "
        "BypassGovernanceRetention) to everyone"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        for bucket in ctx.assembly.resources("AWS::S3::Bucket"):
            if not locked(bucket):
                continue
            rule = (bucket.props.get("ObjectLockConfiguration") or {}).get("Rule") or {}
            retention = rule.get("DefaultRetention") or {}
            if not (retention.get("Days") or retention.get("Years")):
                yield self.finding(
                    ctx,
                    bucket,
                    "has Object Lock but no default retention: objects are written unlocked",
                    fix="set ObjectLockConfiguration.Rule.DefaultRetention (mode and days) from the evidence retention",
                )
            objects = f"{ctx.assembly.arn(bucket)}/*"
            found = bucket_policy(ctx.assembly, bucket)
            needed = ["s3:DeleteObjectVersion"]
            if retention.get("Mode", "GOVERNANCE") == "GOVERNANCE":
                needed.append("s3:BypassGovernanceRetention")
            missing = [action for action in needed if not denied_to_everyone(found, action, objects)]
            if missing:
                yield self.finding(
                    ctx,
                    bucket,
                    f"has Object Lock, but its bucket policy does not deny {', '.join(missing)} to everyone",
                    fix=f"add a bucket-policy statement denying {', '.join(missing)} on {bucket.logical_id}/* "
                    "to Principal *",
                )
