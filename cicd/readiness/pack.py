"""The deploy-readiness pack: its rules, listed explicitly, and how suppressions apply to their findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cicd.readiness.assembly import Assembly
from cicd.readiness.facts import Facts
from cicd.readiness.findings import (
    SUPPRESSIONS_FILE,
    Finding,
    Suppression,
    load_reviewed,
    metadata_suppressions,
)
from cicd.readiness.rule import Context, Rule
from cicd.readiness.rules.approval_notifications_can_be_published import ApprovalNotificationsCanBePublished
from cicd.readiness.rules.approval_stage_never_rolls_back import ApprovalStageNeverRollsBack
from cicd.readiness.rules.bake_alarm_judges_only_data_the_release_produced import (
    BakeAlarmJudgesOnlyDataTheReleaseProduced,
)
from cicd.readiness.rules.bootstrap_roles_use_the_configured_qualifier import BootstrapRolesUseTheConfiguredQualifier
from cicd.readiness.rules.bucket_policy_lets_cloudformation_update_the_bucket import (
    BucketPolicyLetsCloudFormationUpdateTheBucket,
)
from cicd.readiness.rules.condition_rule_role_is_assumable import ConditionRuleRoleIsAssumable
from cicd.readiness.rules.connection_users_may_use_the_connection import ConnectionUsersMayUseTheConnection
from cicd.readiness.rules.custom_resource_timeout_within_provider import CustomResourceTimeoutWithinProvider
from cicd.readiness.rules.iam_grant_names_a_resource_its_action_applies_to import (
    IamGrantNamesAResourceItsActionAppliesTo,
)
from cicd.readiness.rules.kms_key_allows_every_service_that_encrypts_with_it import (
    KmsKeyAllowsEveryServiceThatEncryptsWithIt,
)
from cicd.readiness.rules.mwaa_installs_nothing_from_the_internet import MwaaInstallsNothingFromTheInternet
from cicd.readiness.rules.object_lock_bucket_retains_by_default_and_denies_deletes import (
    ObjectLockBucketRetainsByDefaultAndDeniesDeletes,
)
from cicd.readiness.rules.queue_sender_has_key_grant import QueueSenderHasKeyGrant
from cicd.readiness.rules.reserved_concurrency_fits_the_account_quota import ReservedConcurrencyFitsTheAccountQuota
from cicd.readiness.rules.retained_resource_key_is_retained import RetainedResourceKeyIsRetained
from cicd.readiness.rules.role_named_before_it_is_created import RoleNamedBeforeItIsCreated
from cicd.readiness.rules.topic_allows_its_publishers import TopicAllowsItsPublishers
from cicd.readiness.rules.vpc_build_installs_nothing_from_the_internet import VpcBuildInstallsNothingFromTheInternet

RULES: tuple[Rule, ...] = (
    # Keys, topics, queues: a service or role that uses a resource may use its key.
    KmsKeyAllowsEveryServiceThatEncryptsWithIt(),
    TopicAllowsItsPublishers(),
    QueueSenderHasKeyGrant(),
    RetainedResourceKeyIsRetained(),
    # Names and order: what a stack names exists when it is needed.
    RoleNamedBeforeItIsCreated(),
    BootstrapRolesUseTheConfiguredQualifier(),
    # The delivery pipeline's own wiring.
    ConditionRuleRoleIsAssumable(),
    BakeAlarmJudgesOnlyDataTheReleaseProduced(),
    ApprovalStageNeverRollsBack(),
    ApprovalNotificationsCanBePublished(),
    ConnectionUsersMayUseTheConnection(),
    IamGrantNamesAResourceItsActionAppliesTo(),
    # Private networks: nothing downloads at run time.
    VpcBuildInstallsNothingFromTheInternet(),
    MwaaInstallsNothingFromTheInternet(),
    # Limits and lifecycles CloudFormation enforces only at deploy time.
    CustomResourceTimeoutWithinProvider(),
    ReservedConcurrencyFitsTheAccountQuota(),
    BucketPolicyLetsCloudFormationUpdateTheBucket(),
    ObjectLockBucketRetainsByDefaultAndDeniesDeletes(),
)
SUPPRESSION_RULE = "SuppressionHasAReason"
UNUSED_RULE = "SuppressionIsUsed"


@dataclass
class Report:
    findings: list[Finding]  # what fails the check (and unused suppressions, as warnings)
    suppressed: list[tuple[Finding, Suppression]] = field(default_factory=list)
    stacks: int = 0
    rules: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def all_suppressions(ctx: Context, reviewed: list[Suppression]) -> list[Suppression]:
    found = list(reviewed)
    for stack in ctx.assembly.stacks:
        for logical_id, body in stack.resources.items():
            if isinstance(body, dict):
                found += metadata_suppressions(stack.path, logical_id, body, ctx.template_path(stack))
    return found


def suppression_findings(suppressions: list[Suppression], used: set[Suppression], known: set[str]) -> list[Finding]:
    found = []
    for suppression in suppressions:
        where = {"stack": suppression.stack, "logical_id": suppression.logical_id, "template": suppression.source}
        if suppression.rule not in known:
            found.append(
                Finding(
                    rule=SUPPRESSION_RULE,
                    message=f"suppresses {suppression.rule!r}, which is no rule of the pack",
                    fix=f"name one of: {', '.join(sorted(known))}",
                    **where,
                )
            )
        elif not suppression.has_reason:
            found.append(
                Finding(
                    rule=SUPPRESSION_RULE,
                    message=f"suppresses {suppression.rule} without a reason ({suppression.reason.strip()!r}); it "
                    "suppresses nothing until it has one",
                    fix="say why the relation is safe here and where that is shown (a test, a document, a stack)",
                    **where,
                )
            )
        elif suppression not in used and not suppression.in_metadata:
            found.append(
                Finding(
                    rule=UNUSED_RULE,
                    message=f"suppresses {suppression.rule}, which found nothing there",
                    fix=f"remove the entry from {SUPPRESSIONS_FILE}",
                    severity="warning",
                    **where,
                )
            )
    return found


def run(
    assembly: Assembly,
    facts: Facts,
    *,
    reviewed: list[Suppression] | None = None,
    root: Path | None = None,
    rules: tuple[Rule, ...] = RULES,
) -> Report:
    ctx = Context(assembly, facts, root)
    suppressions = all_suppressions(ctx, reviewed or [])
    valid = [s for s in suppressions if s.has_reason]
    names = {stack.path: stack.name for stack in assembly.stacks}
    report = Report(findings=[], stacks=len(assembly.stacks), rules=tuple(rule.id for rule in rules))
    used: set[Suppression] = set()
    for rule in rules:
        for finding in rule.check(ctx):
            match = next((s for s in valid if s.matches(finding, names.get(finding.stack, ""))), None)
            if match is None:
                report.findings.append(finding)
            else:
                used.add(match)
                report.suppressed.append((finding, match))
    report.findings += suppression_findings(suppressions, used, {rule.id for rule in rules})
    return report


def load_reviewed_suppressions(root: Path) -> list[Suppression]:
    return load_reviewed(root / SUPPRESSIONS_FILE)
