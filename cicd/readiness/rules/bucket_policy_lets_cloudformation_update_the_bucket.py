"""A bucket policy does not deny to everyone what CloudFormation must call to update the bucket.

An unconditional Deny with Principal "*" binds CloudFormation's role too. Once such a policy is in place,
changing the property the denied action writes (the Object Lock retention, the encryption, the policy
itself) fails the stack update and rolls it back. That may be the point (evidence that nobody can unlock),
but then the change process must be written down: suppress with the reason and where it is documented.
"""

from __future__ import annotations

from collections.abc import Iterable

from cicd.readiness.findings import Finding
from cicd.readiness.policy import denied_to_everyone
from cicd.readiness.relations import bucket_policy
from cicd.readiness.rule import Context, Rule

# Bucket property -> the API call CloudFormation makes to change it.
UPDATED_BY = {
    "ObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "BucketEncryption": "s3:PutEncryptionConfiguration",
    "VersioningConfiguration": "s3:PutBucketVersioning",
    "LifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "PublicAccessBlockConfiguration": "s3:PutBucketPublicAccessBlock",
    "LoggingConfiguration": "s3:PutBucketLogging",
    "NotificationConfiguration": "s3:PutBucketNotification",
    "OwnershipControls": "s3:PutBucketOwnershipControls",
    "CorsConfiguration": "s3:PutBucketCORS",
    "ReplicationConfiguration": "s3:PutReplicationConfiguration",
    "Tags": "s3:PutBucketTagging",
}
POLICY_ACTIONS = ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy")


class BucketPolicyLetsCloudFormationUpdateTheBucket(Rule):
    finds = (
        "a bucket policy that denies everyone (CloudFormation included) an action a stack update of the bucket needs"
    )
    fix = (
        "exempt the deploying role (aws:PrincipalArn condition), or suppress with the reason and the documented "
        "change process"
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        for bucket in ctx.assembly.resources("AWS::S3::Bucket"):
            found = bucket_policy(ctx.assembly, bucket)
            if not found:
                continue
            arn = ctx.assembly.arn(bucket) or ""
            blocked = [
                (prop, action)
                for prop, action in UPDATED_BY.items()
                if prop in bucket.props and denied_to_everyone(found, action, arn)
            ]
            blocked += [
                ("its bucket policy", action) for action in POLICY_ACTIONS if denied_to_everyone(found, action, arn)
            ]
            for prop, action in blocked:
                yield self.finding(
                    ctx,
                    bucket,
                    f"its bucket policy denies {action} to everyone, CloudFormation included: a change to {prop} "
                    "fails the stack update and rolls it back",
                    subject=action,
                )
