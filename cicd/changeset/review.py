"""Refuse a change set that would replace or delete stateful resources.

The prod stage prepares a change set per stack and executes it after this review. A renamed
construct, a changed bucket name or a property that forces replacement would silently recreate
a bucket, key or MWAA environment; CloudFormation reports that in the change set as
`Replacement: True|Conditional` or `Action: Remove`, so it is caught before execution.

It also refuses in-place changes that cannot succeed: every evidence bucket's policy denies
s3:PutBucketObjectLockConfiguration to everyone, CloudFormation's execution role included (so nobody
can shorten the lock), so a change of `retention.evidence_years` or `retention.evidence_lock_mode`
would fail on execution and roll the whole stack back. Caught here, before prod's change sets run;
docs/runbook.md ("Changing the evidence retention") says how such a change is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Resources whose replacement loses data, history or a long rebuild (MWAA: 20-30 min).
STATEFUL_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::MWAA::Environment",
        "AWS::EMRServerless::Application",
        "AWS::DynamoDB::Table",
        "AWS::Logs::LogGroup",
        "AWS::SSM::Parameter",
        "AWS::CloudTrail::Trail",
        "AWS::SecretsManager::Secret",
    }
)


# In-place changes that an explicit deny makes impossible, with what the deny protects.
LOCKED_PROPERTIES = {
    ("AWS::S3::Bucket", "ObjectLockConfiguration"): (
        "the bucket policy denies s3:PutBucketObjectLockConfiguration to everyone, CloudFormation included, "
        "so executing this change set fails and rolls the stack back"
    ),
}


@dataclass(frozen=True)
class Violation:
    stack: str
    logical_id: str
    resource_type: str
    action: str
    replacement: str
    causes: tuple[str, ...]
    locked_by: str | None = None  # why an in-place change cannot be executed (LOCKED_PROPERTIES)

    @property
    def rule(self) -> str:
        return "changeset-review:locked-property" if self.locked_by else "changeset-review:stateful-replacement"

    def __str__(self) -> str:
        if self.locked_by:
            return (
                f"{self.stack}: {self.logical_id} ({self.resource_type}) would change {', '.join(self.causes)} in "
                f"place, but {self.locked_by}. Fix: keep retention.evidence_years and retention.evidence_lock_mode "
                "as deployed, or change them as docs/runbook.md (Changing the evidence retention) describes."
            )
        cause = f" because {', '.join(self.causes)} changed" if self.causes else ""
        what = "deleted" if self.action == "Remove" else f"replaced (Replacement={self.replacement})"
        return (
            f"{self.stack}: {self.logical_id} ({self.resource_type}) would be {what}{cause}. "
            "Fix: keep the construct id and the replacement-forcing properties, or migrate the data "
            "first and acknowledge with a reviewed change (see docs/runbook.md)."
        )


def changes(cfn: Any, stack: str, change_set: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs = {"StackName": stack, "ChangeSetName": change_set}
        if token:
            kwargs["NextToken"] = token
        page = cfn.describe_change_set(**kwargs)
        items += page.get("Changes", [])
        token = page.get("NextToken")
        if not token:
            return items


def review(cfn: Any, stack: str, change_set: str) -> list[Violation]:
    violations = []
    for change in changes(cfn, stack, change_set):
        detail = change.get("ResourceChange", {})
        resource_type = detail.get("ResourceType", "")
        locked = _locked_change(stack, detail)
        if locked:
            violations.append(locked)
            continue
        if resource_type not in STATEFUL_TYPES:
            continue
        action = detail.get("Action", "")
        replacement = detail.get("Replacement", "False")
        if action == "Remove" or (action == "Modify" and replacement in ("True", "Conditional")):
            causes = tuple(
                sorted(
                    {
                        d["Target"].get("Name") or d["Target"].get("Attribute", "")
                        for d in detail.get("Details", [])
                        if d.get("Target", {}).get("RequiresRecreation") in ("Always", "Conditionally")
                    }
                )
            )
            violations.append(
                Violation(stack, detail.get("LogicalResourceId", "?"), resource_type, action, replacement, causes)
            )
    return violations


def _locked_change(stack: str, detail: dict[str, Any]) -> Violation | None:
    resource_type = detail.get("ResourceType", "")
    if detail.get("Action") != "Modify":
        return None
    names = sorted({d.get("Target", {}).get("Name", "") for d in detail.get("Details", [])})
    reasons = [LOCKED_PROPERTIES[(resource_type, n)] for n in names if (resource_type, n) in LOCKED_PROPERTIES]
    if not reasons:
        return None
    locked = tuple(n for n in names if (resource_type, n) in LOCKED_PROPERTIES)
    return Violation(
        stack,
        detail.get("LogicalResourceId", "?"),
        resource_type,
        "Modify",
        detail.get("Replacement", "False"),
        locked,
        locked_by=reasons[0],
    )
