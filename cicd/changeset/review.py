"""Refuse a change set that would replace or delete stateful resources.

The prod stage prepares a change set per stack and executes it after this review. A renamed
construct, a changed bucket name or a property that forces replacement would silently recreate
a bucket, key or MWAA environment; CloudFormation reports that in the change set as
`Replacement: True|Conditional` or `Action: Remove`, so it is caught before execution.
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


@dataclass(frozen=True)
class Violation:
    stack: str
    logical_id: str
    resource_type: str
    action: str
    replacement: str
    causes: tuple[str, ...]

    def __str__(self) -> str:
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
