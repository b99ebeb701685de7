"""Who may write the evidence that decides a release: one trusted step per prefix, create-only.

IAM on the writer's side is not enough: any role someone grants s3:PutObject on the bucket (a build
role, an administrator) could then write a record the guard believes. So the evidence bucket itself
denies writes under each `trusted/` prefix to every principal that does not carry that prefix's
writer tag (`evidence-writer`), and denies every `trusted/` write that is not create-only
(If-None-Match), as for the ledger. Only the trusted step's role carries the tag; tagging a role is
an IAM change, which reaches the delivery account only through a template, and a template change
to the delivery stacks is judged at ApproveTrustBoundary before it deploys.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from pipeline_assets.ledger import layout

WRITERS = {
    layout.CHANGE_EVIDENCE_PREFIX: layout.CHANGE_EVIDENCE_WRITER,
    layout.TRUST_BOUNDARY_PREFIX: layout.TRUST_BOUNDARY_WRITER,
}


def restrict_trusted_writers(bucket: s3.IBucket) -> None:
    for prefix, (tag, value) in WRITERS.items():
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"OnlyTheTaggedWriterWrites{prefix.strip('/').split('/')[-1].title().replace('-', '')}",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{prefix}*")],
                conditions={"StringNotEquals": {f"aws:PrincipalTag/{tag}": value}},
            )
        )
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="TrustedEvidenceIsCreateOnly",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=[bucket.arn_for_objects(f"{layout.TRUSTED_PREFIX}*")],
            conditions={"Null": {"s3:if-none-match": "true"}},
        )
    )
