"""From ledger records to changes: one row per deployment to an environment, with its control flags.

A change is a pipeline execution that entered the environment's stages (a standard release or a
rollback), or a stack change in that environment that no pipeline execution explains. The delivery
pipeline (stacks/delivery_pipeline_stack.py) approves in its own stage, "Approve<Env>", and deploys in
"<Env>" (platform lane) and "<Env>Release" (release lane, the stage a rollback re-runs); records from
before that split hold the approval inside "<Env>" and are still read. For each,
the controls of SOC 2 CC8.1 are re-checked from the evidence itself rather than trusted from the
guard: the approver is compared with the author here again, so a missing or bypassed guard shows.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pipeline_assets.approval_guard.identity import parse_principal, same_person
from pipeline_assets.ledger.layout import Kind
from platform_vocabulary.naming import approval_stage, release_lane_stage

# Rules (flag ids) and what each one means; the report explains them beside CC8.1's points.
SELF_APPROVAL = "self-approval"
UNAPPROVED = "unapproved-deploy"
GUARD_MISSING = "approval-guard-missing"
SKIPPED_CHECK = "skipped-check"
FAILED_CHECK = "failed-check"
DIRECT_CHANGE = "direct-change"
UNREVIEWED_BREAK_GLASS = "unreviewed-break-glass"
MALFORMED_EVIDENCE = "malformed-evidence"

RULES: dict[str, str] = {
    SELF_APPROVAL: "the approver of a production deployment is the commit's author",
    UNAPPROVED: "deployed to the environment without a succeeded manual approval before it",
    GUARD_MISSING: "deployed without a recorded approval-guard decision (separation of duties not verified)",
    SKIPPED_CHECK: "a gate check was skipped, the gate ran on a subset, or no gate report was recorded",
    FAILED_CHECK: "deployed although a gate check failed or errored",
    DIRECT_CHANGE: "a stack changed (or drifted) with no pipeline execution deploying to the environment",
    UNREVIEWED_BREAK_GLASS: "a break-glass approval has no completed retroactive review by an independent person",
    MALFORMED_EVIDENCE: "a ledger record of the change lacks what the report reads; the change was judged without it",
}

TERMINAL_STAGE_STATES = ("SUCCEEDED", "FAILED", "STOPPED", "CANCELED")
TRANSITION_FIELDS = ("level", "state", "attempt")
# CDK's ConfirmPermissionsBroadening approval is approved by its own CodeBuild check when nothing
# widens: it is no person's approval of the release.
SECURITY_CHECK_ACTION = "ConfirmPermissionsBroadening"
ROLLBACK_TRIGGERS = ("AutomatedRollback", "ManualRollback")
CHANGE_STATUSES = (
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "DELETE_COMPLETE",
    "IMPORT_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "ROLLBACK_COMPLETE",
)
# Principals that act for the pipeline (CDK bootstrap roles, CodePipeline action roles).
DEFAULT_PIPELINE_PRINCIPALS = ("*:assumed-role/cdk-*", "*:role/cdk-*", "*CodePipelineActionRole*", "*PipelineRole*")
PIPELINE_SERVICES = ("codepipeline.amazonaws.com", "cloudformation.amazonaws.com")
# A stack change this long after a deploy ended still belongs to it (cleanup, rollback completion).
WINDOW_GRACE = timedelta(minutes=15)
# An API call and the status changes it causes form one direct change.
DIRECT_CHANGE_MERGE = timedelta(minutes=60)
ROLLBACK_LINK = timedelta(minutes=30)


@dataclass(frozen=True)
class Flag:
    rule: str
    message: str


@dataclass
class Change:
    change_id: str
    kind: str  # release | rollback | direct
    pipeline: str | None
    occurred_at: datetime  # entered the environment's stage (or the stack change time)
    commit: str | None = None
    author: str | None = None
    release_id: str | None = None
    content_sha256: str | None = None
    checks: dict[str, Any] | None = None
    approver: str | None = None
    approver_arn: str | None = None
    approved_at: str | None = None
    approval_comment: str | None = None
    deploy_started: str | None = None
    deploy_finished: str | None = None
    outcome: str = "unknown"
    rollback: str | None = None
    break_glass: dict[str, Any] | None = None
    template_hashes: dict[str, str] = field(default_factory=dict)
    stacks: list[str] = field(default_factory=list)  # direct changes: the stack that changed
    approval_status: str | None = None  # approved | rejected
    approval_source: str | None = None  # where the approver identity came from
    notes: list[str] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "flags"}
        data["occurred_at"] = self.occurred_at.isoformat()
        data["flags"] = [{"rule": f.rule, "message": f.message} for f in self.flags]
        return data


@dataclass(frozen=True)
class Scope:
    env: str
    stage: str  # the CDK Stage id of the environment ("Prod"); the pipeline stages derive from it
    since: date
    until: date  # inclusive
    account: str | None = None  # the environment's account, for stack changes
    pipeline_principals: tuple[str, ...] = DEFAULT_PIPELINE_PRINCIPALS

    @property
    def approval_stage(self) -> str:
        return approval_stage(self.stage)

    @property
    def deploy_stages(self) -> tuple[str, str]:
        return self.stage, release_lane_stage(self.stage)  # the platform lane, then the release lane

    @property
    def stages(self) -> tuple[str, ...]:
        return (self.approval_stage, *self.deploy_stages)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time.min, UTC)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _at(record: dict[str, Any]) -> datetime:
    return _time(record.get("occurred_at")) or datetime.min.replace(tzinfo=UTC)


def _latest(records: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    return max(records, key=lambda r: (str(r.get("recorded_at")), r.get("_key", "")), default=None)


@dataclass
class Execution:
    pipeline: str
    execution_id: str
    transitions: list[dict[str, Any]] = field(default_factory=list)  # records, deduplicated, by time
    build: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    guard: list[dict[str, Any]] = field(default_factory=list)
    break_glass: list[dict[str, Any]] = field(default_factory=list)
    malformed: list[tuple[str, str]] = field(default_factory=list)  # (ledger key, what is wrong)

    def of(self, level: str, *, stages: Collection[str] | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.transitions
            if r["transition"]["level"] == level and (stages is None or r["transition"].get("stage") in stages)
        ]

    def started(self) -> dict[str, Any] | None:
        found = [r for r in self.of("pipeline") if r["transition"]["state"] == "STARTED"]
        return found[0] if found else None

    def build_record(self, kind: str) -> dict[str, Any] | None:
        return _latest(self.build.get(kind, []))

    @property
    def trigger(self) -> dict[str, Any]:
        started = self.started()
        return ((started or {}).get("transition") or {}).get("trigger") or {}

    @property
    def pipeline_execution(self) -> dict[str, Any]:
        started = self.started()
        return ((started or {}).get("enrichment") or {}).get("pipeline_execution") or {}

    @property
    def is_rollback(self) -> bool:
        return (
            self.pipeline_execution.get("execution_type") == "ROLLBACK" or self.trigger.get("type") in ROLLBACK_TRIGGERS
        )


def _identity(record: dict[str, Any]) -> tuple[Any, ...]:
    t = record["transition"]
    return (t["level"], t.get("stage"), t.get("action"), t["state"], t["attempt"], t.get("action_execution_id"))


def malformed_transition(record: dict[str, Any]) -> str | None:
    """Why a pipeline/stage/action record cannot be read as a transition, or None when it can."""
    transition = record.get("transition")
    if not isinstance(transition, dict):
        return "it has no `transition` object"
    missing = [name for name in TRANSITION_FIELDS if transition.get(name) in (None, "")]
    if missing:
        return f"its `transition` lacks {', '.join(missing)}"
    return None


def group_executions(records: list[dict[str, Any]]) -> dict[tuple[str, str], Execution]:
    executions: dict[tuple[str, str], Execution] = {}

    def get(record: dict[str, Any]) -> Execution:
        key = (str(record.get("pipeline")), str(record.get("execution_id")))
        if key not in executions:
            executions[key] = Execution(*key)
        return executions[key]

    seen: set[tuple[Any, ...]] = set()
    for record in sorted(records, key=lambda r: (_at(r), r.get("_key", ""))):
        kind = record.get("kind")
        if kind in (Kind.PIPELINE, Kind.STAGE, Kind.ACTION):
            problem = malformed_transition(record)
            if problem is not None:
                get(record).malformed.append((str(record.get("_key", "?")), problem))
                continue
            identity = (record.get("pipeline"), record.get("execution_id"), *_identity(record))
            if identity in seen:  # the same transition emitted twice, recorded on two days
                continue
            seen.add(identity)
            get(record).transitions.append(record)
        elif kind in (Kind.GATE_REPORT, Kind.RELEASE, Kind.TEMPLATES, Kind.COMMIT):
            get(record).build[str(kind)].append(record)
        elif kind == Kind.APPROVAL_GUARD:
            get(record).guard.append(record)
        elif kind == Kind.BREAK_GLASS:
            get(record).break_glass.append(record)
    return executions


def _short(sha: str | None) -> str | None:
    return sha[:12] if sha else None


class ChangeBuilder:
    def __init__(self, records: list[dict[str, Any]], scope: Scope) -> None:
        self.scope = scope
        self.executions = group_executions(records)
        self.approval_calls = [r for r in records if r.get("kind") == Kind.APPROVAL_API_CALL]
        self.stack_changes = sorted((r for r in records if r.get("kind") == Kind.STACK_CHANGE), key=_at)
        self.pending_reviews = {
            (r.get("pipeline"), r.get("execution_id")): r for r in records if r.get("kind") == Kind.REVIEW_PENDING
        }
        self.completed_reviews: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            if r.get("kind") == Kind.REVIEW_COMPLETED:
                self.completed_reviews[(r.get("pipeline"), r.get("execution_id"))].append(r)

    # -- per execution -------------------------------------------------------------------------
    def windows(
        self, execution: Execution, stages: Collection[str] | None = None
    ) -> tuple[datetime, datetime | None] | None:
        """When the execution was in the environment's stages (all of them, or the given ones): first
        STARTED to the last terminal state."""
        stage = execution.of("stage", stages=self.scope.stages if stages is None else stages)
        if not stage:
            return None
        # A lost STARTED event must not hide the change: fall back to its earliest stage record.
        starts = [_at(r) for r in stage if r["transition"]["state"] in ("STARTED", "RESUMED")]
        start = min(starts or [_at(r) for r in stage])
        ends = [_at(r) for r in stage if r["transition"]["state"] in TERMINAL_STAGE_STATES]
        return start, (max(ends) if ends else None)

    def _deploy_actions(self, execution: Execution) -> list[dict[str, Any]]:
        return [
            r
            for r in execution.of("action", stages=self.scope.deploy_stages)
            if r["transition"].get("category") not in ("Approval", "Invoke")
        ]

    def _approval_actions(self, execution: Execution, stage: str) -> list[dict[str, Any]]:
        return [
            r
            for r in execution.of("action", stages=(stage,))
            if r["transition"].get("category") == "Approval"
            and r["transition"]["state"] in ("SUCCEEDED", "FAILED")
            and not str(r["transition"].get("action") or "").startswith(SECURITY_CHECK_ACTION)
        ]

    def _approval(self, execution: Execution) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The approval action's final record (its own stage, else inside the environment's stage as
        older records have it), and what is known of the approver."""
        actions = self._approval_actions(execution, self.scope.approval_stage) or self._approval_actions(
            execution, self.scope.stage
        )
        if not actions:
            return None, {}
        final = actions[-1]
        enriched = ((final.get("enrichment") or {}).get("action_execution")) or {}
        facts: dict[str, Any] = {
            "approver_arn": enriched.get("updated_by"),
            "approved_at": enriched.get("last_update_time") or final.get("occurred_at"),
            "comment": enriched.get("summary"),
            "source": "action-execution" if enriched.get("updated_by") else None,
        }
        guard = _latest(execution.guard)
        if guard and (guard.get("approval") or {}).get("approver_arn"):
            approval = guard["approval"]
            facts.update(
                approver_arn=approval["approver_arn"],
                approved_at=approval.get("approved_at") or facts["approved_at"],
                comment=approval.get("comment") or facts["comment"],
                source=f"approval-guard ({approval.get('source')})",
            )
        if not facts["approver_arn"]:
            call = self._approval_call(execution, final)
            if call:
                facts.update(
                    approver_arn=call["approval"]["principal_arn"],
                    comment=facts["comment"] or call["approval"].get("summary"),
                    source="cloudtrail PutApprovalResult",
                )
        return final, facts

    def _approval_call(self, execution: Execution, action: dict[str, Any]) -> dict[str, Any] | None:
        at, t = _at(action), action["transition"]
        matches = [
            c
            for c in self.approval_calls
            if c.get("pipeline") == execution.pipeline
            and (c["approval"].get("stage"), c["approval"].get("action")) == (t.get("stage"), t.get("action"))
            and c["approval"].get("status") == ("Approved" if t["state"] == "SUCCEEDED" else "Rejected")
            and abs(_at(c) - at) <= timedelta(minutes=10)
        ]
        return min(matches, key=lambda c: abs(_at(c) - at)) if matches else None

    def _author(self, execution: Execution) -> tuple[str | None, str | None, str | None]:
        """(commit, author e-mail or name, where the author came from)."""
        commit = execution.build_record(Kind.COMMIT)
        release = execution.build_record(Kind.RELEASE)
        commit_content = (commit or {}).get("content") or {}
        release_content = (release or {}).get("content") or {}
        guard_author = (_latest(execution.guard) or {}).get("author") or {}
        trigger = execution.trigger
        revisions = execution.pipeline_execution.get("artifact_revisions") or [{}]
        sha = (
            commit_content.get("sha")
            or release_content.get("git_sha")
            or guard_author.get("commit")
            or trigger.get("commit_id")
            or revisions[0].get("revision_id")
        )
        for source, author in (
            ("commit.json", commit_content.get("author_email")),
            ("release.json", release_content.get("git_author_email")),
            ("approval-guard", guard_author.get("email")),
            ("pipeline trigger", trigger.get("author_email") or trigger.get("author_name")),
        ):
            if author:
                return sha, author, source
        return sha, None, None

    def _checks(self, execution: Execution) -> tuple[dict[str, Any] | None, list[Flag]]:
        report = execution.build_record(Kind.GATE_REPORT)
        if report is None:
            return None, [Flag(SKIPPED_CHECK, "no gate report was recorded for this execution")]
        if report.get("parse_error"):
            return {"passed": 0, "total": 0, "not_passed": [], "report": report["_key"]}, [
                Flag(SKIPPED_CHECK, f"the recorded gate report is unreadable: {report['parse_error']}")
            ]
        summary = report["summary"]
        checks = summary["checks"]
        not_passed = [f"{c['name']}:{c['status']}" for c in checks if c["status"] != "passed"]
        result = {
            "passed": sum(c["status"] == "passed" for c in checks),
            "total": len(checks),
            "not_passed": not_passed,
            "scope": summary.get("scope"),
            "report": report["_key"],
            "sha256": report["artifact"]["sha256"],
        }
        flags = []
        skipped = [c["name"] for c in checks if c["status"] == "skipped"]
        if skipped:
            flags.append(Flag(SKIPPED_CHECK, f"gate checks skipped: {', '.join(skipped)}"))
        if summary.get("scope") not in (None, "all"):
            flags.append(Flag(SKIPPED_CHECK, f"the gate ran on a subset ({summary['scope']}), not on everything"))
        failed = [c["name"] for c in checks if c["status"] in ("failed", "error")]
        if failed:
            flags.append(Flag(FAILED_CHECK, f"deployed although gate checks did not pass: {', '.join(failed)}"))
        return result, flags

    def _break_glass(self, execution: Execution, author: str | None) -> tuple[dict[str, Any] | None, list[Flag]]:
        entry = _latest(execution.break_glass)
        if entry is None:
            return None, []
        approver = parse_principal(((entry.get("approver") or {}).get("arn")) or "")
        info: dict[str, Any] = {
            "incident": entry.get("incident"),
            "reason": entry.get("reason"),
            "approver": approver.person,
            "record": entry["_key"],
            "review": None,
        }
        involved = [author, (entry.get("author") or {}).get("email")]
        for review in sorted(self.completed_reviews.get((execution.pipeline, execution.execution_id), []), key=_at):
            reviewer = parse_principal(str(review.get("reviewer_arn") or ""))
            independent = not same_person(reviewer, involved) and not same_person(reviewer, [approver.person])
            if independent:
                info["review"] = {
                    "reviewer": reviewer.person,
                    "decision": review.get("decision"),
                    "at": review.get("occurred_at"),
                    "record": review["_key"],
                }
                return info, []
        pending = self.pending_reviews.get((execution.pipeline, execution.execution_id))
        why = (
            "only by someone involved in the change"
            if self.completed_reviews.get((execution.pipeline, execution.execution_id))
            else "no completed review"
        )
        return info, [
            Flag(
                UNREVIEWED_BREAK_GLASS,
                f"break-glass {entry.get('incident')} by {approver.person}: {why}"
                + (" (review pending since " + str(pending.get("occurred_at"))[:16] + ")" if pending else ""),
            )
        ]

    def _final_state(self, execution: Execution) -> str | None:
        """The last terminal state across the environment's stages; None while one is still open, or
        when only the approval has finished (approved, not deployed yet)."""
        stages = execution.of("stage", stages=self.scope.stages)
        ended = [r for r in stages if r["transition"]["state"] in TERMINAL_STAGE_STATES]
        if not ended or {r["transition"].get("stage") for r in stages} - {r["transition"].get("stage") for r in ended}:
            return None
        last = ended[-1]["transition"]
        if last["state"] == "SUCCEEDED" and last.get("stage") == self.scope.approval_stage:
            return None
        return str(last["state"])

    def _malformed_flags(self, execution: Execution) -> list[Flag]:
        return [
            Flag(
                MALFORMED_EVIDENCE,
                f"ledger record {key} is malformed ({problem}), so it was left out of this change. Fix: compare it "
                "with the writer's record format (pipeline_assets/ledger/records.py) and investigate how it was "
                "written; the record itself cannot be replaced (Object Lock).",
            )
            for key, problem in execution.malformed
        ]

    def build_execution_change(self, execution: Execution) -> Change | None:
        window = self.windows(execution)
        if window is None:
            return None
        entered, _ = window
        change = Change(
            change_id=execution.execution_id,
            kind="rollback" if execution.is_rollback else "release",
            pipeline=execution.pipeline,
            occurred_at=entered,
        )
        self._add_evidence(change, execution)
        self._add_artifacts(change, execution)
        deployed = self._add_deploy(change, execution)
        approval = self._add_approval(change, execution)
        change.outcome = self._outcome(change, execution, approval)
        check_flags = self._add_rollback_and_checks(change, execution)
        if not deployed:
            return change  # nothing reached the environment: no control could have failed
        self._add_control_flags(change, execution, approval, check_flags)
        return change

    def _add_evidence(self, change: Change, execution: Execution) -> None:
        change.evidence = [r["_key"] for r in execution.transitions]
        for records in execution.build.values():
            change.evidence += [r["_key"] for r in records]
        change.evidence += [r["_key"] for r in execution.guard + execution.break_glass]
        change.evidence += [key for key, _ in execution.malformed]
        change.flags += self._malformed_flags(execution)

    def _add_artifacts(self, change: Change, execution: Execution) -> None:
        """The commit and author, the release bundle and the templates the build recorded."""
        sha, author, _ = self._author(execution)
        change.commit, change.author = sha, author
        release = execution.build_record(Kind.RELEASE)
        if release and isinstance(release.get("content"), dict):
            change.release_id = release["content"].get("release_id")
            change.content_sha256 = release["content"].get("content_sha256")
        templates = execution.build_record(Kind.TEMPLATES)
        if templates and isinstance(templates.get("content"), dict):
            change.template_hashes = {
                name: str(info.get("sha256")) for name, info in (templates["content"].get("stacks") or {}).items()
            }

    def _add_deploy(self, change: Change, execution: Execution) -> bool:
        """When the deploy actions ran; False when none did (nothing reached the environment)."""
        deploys = self._deploy_actions(execution)
        if deploys:
            change.deploy_started = min(_at(r) for r in deploys).isoformat()
            finished = [_at(r) for r in deploys if r["transition"]["state"] in ("SUCCEEDED", "FAILED", "ABANDONED")]
            change.deploy_finished = max(finished).isoformat() if finished else None
        return bool(deploys)

    def _add_approval(self, change: Change, execution: Execution) -> dict[str, Any] | None:
        """Who approved or rejected, when and why; returns the approval action's record."""
        approval, facts = self._approval(execution)
        if facts.get("approver_arn"):
            change.approver_arn = facts["approver_arn"]
            change.approver = parse_principal(facts["approver_arn"]).person
            change.approval_source = facts.get("source")
        if approval is not None:
            approved = approval["transition"]["state"] == "SUCCEEDED"
            change.approval_status = "approved" if approved else "rejected"
            change.approved_at = facts.get("approved_at") if approved else None
            change.approval_comment = facts.get("comment")
        return approval

    def _outcome(self, change: Change, execution: Execution, approval: dict[str, Any] | None) -> str:
        final_state = self._final_state(execution)
        if final_state == "SUCCEEDED":
            return "succeeded"
        if final_state == "FAILED":
            guard = _latest(execution.guard)
            if approval is not None and approval["transition"]["state"] == "FAILED":
                return "rejected at approval"
            if guard and guard.get("decision") == "rejected":
                change.notes += [f"approval guard: {reason}" for reason in guard.get("reasons") or []]
                return "blocked by approval guard"
            return "failed"
        if final_state in ("STOPPED", "CANCELED"):
            return final_state.lower()
        return "in progress"

    def _add_rollback_and_checks(self, change: Change, execution: Execution) -> list[Flag]:
        """The checks that vouched for what was deployed: a rollback's are those of the release it restored."""
        if not execution.is_rollback:
            change.checks, check_flags = self._checks(execution)
            return check_flags
        target = execution.pipeline_execution.get("rollback_target_execution_id")
        target_execution = self.executions.get((execution.pipeline, str(target)))
        target_release = None
        if target_execution and target_execution.build_record(Kind.RELEASE):
            target_release = (target_execution.build_record(Kind.RELEASE) or {}).get("content", {}).get("release_id")
        change.rollback = f"rollback to execution {target or 'unknown'}" + (
            f" (release {target_release})" if target_release else ""
        )
        if change.release_id is None:
            change.release_id = target_release
        if target_execution is not None and change.commit is None:
            change.commit, change.author, _ = self._author(target_execution)
        change.checks, check_flags = self._checks(target_execution) if target_execution is not None else (None, [])
        return check_flags

    def _add_control_flags(
        self, change: Change, execution: Execution, approval: dict[str, Any] | None, check_flags: list[Flag]
    ) -> None:
        """The controls a deployed change failed: checks, approval, guard, self-approval, break-glass."""
        if not execution.is_rollback:
            change.flags += check_flags
            if approval is None or approval["transition"]["state"] != "SUCCEEDED":
                change.flags.append(
                    Flag(
                        UNAPPROVED,
                        f"no succeeded manual approval in stage {self.scope.approval_stage} "
                        f"(nor inside {self.scope.stage})",
                    )
                )
            elif not any(g.get("decision") == "allowed" for g in execution.guard):
                change.flags.append(
                    Flag(GUARD_MISSING, "no approval-guard decision recorded; separation of duties was not verified")
                )
        change.break_glass, glass_flags = self._break_glass(execution, change.author)
        if change.approver_arn and change.author and not execution.is_rollback:
            approver = parse_principal(change.approver_arn)
            if same_person(approver, [change.author]):
                reviewed = change.break_glass is not None and change.break_glass.get("review") is not None
                if not reviewed:
                    change.flags.append(
                        Flag(SELF_APPROVAL, f"{change.approver} approved their own change ({change.author})")
                    )
        change.flags += glass_flags

    def link_rollbacks(self, changes: list[Change]) -> None:
        """Mark the failed execution each rollback undid: the trigger names it, or it failed just before."""
        by_id = {c.change_id: c for c in changes}
        for change in changes:
            if change.kind != "rollback" or change.pipeline is None:
                continue
            execution = self.executions[(change.pipeline, change.change_id)]
            detail = str(execution.trigger.get("detail") or "")
            failed = [
                c
                for c in changes
                if c.kind == "release" and c.pipeline == change.pipeline and c.outcome == "failed" and c is not change
            ]
            named = [c for c in failed if c.change_id in detail]
            recent = [
                c
                for c in failed
                if c.deploy_finished
                and timedelta(0)
                <= change.occurred_at - (_time(c.deploy_finished) or change.occurred_at)
                <= ROLLBACK_LINK
            ]
            candidates = named or sorted(recent, key=lambda c: c.occurred_at)[-1:]
            undone = candidates[0] if candidates else None
            if undone is not None and undone.change_id in by_id:
                undone.outcome = "rolled back"
                undone.rollback = f"rolled back by execution {change.change_id}" + (
                    f", {change.rollback.removeprefix('rollback ')}" if change.rollback else ""
                )

    # -- stack changes ------------------------------------------------------------------------------
    def _in_environment(self, change: dict[str, Any]) -> bool:
        if self.scope.account and change.get("account"):
            return str(change["account"]) == self.scope.account
        return str(change.get("stack_name", "")).lower().startswith(f"{self.scope.stage.lower()}-")

    def _pipeline_principal(self, change: dict[str, Any]) -> bool:
        if change.get("invoked_by") in PIPELINE_SERVICES:
            return True
        arn = str(change.get("principal_arn") or "")
        return bool(arn) and any(fnmatch.fnmatch(arn, p) for p in self.scope.pipeline_principals)

    def direct_changes(self) -> list[Change]:
        windows = []
        for execution in self.executions.values():
            # Only deploying explains a stack change: an approval can wait for days.
            window = self.windows(execution, self.scope.deploy_stages)
            if window:
                start, end = window
                # Still running: everything from its start on is explained by it.
                windows.append((start, end + WINDOW_GRACE if end else datetime.max.replace(tzinfo=UTC)))
        rows: list[Change] = []
        operations: dict[str, str] = {}  # change id -> the API call that made it, when CloudTrail saw it
        statuses: dict[str, str] = {}
        for record in self.stack_changes:
            change = record["stack_change"]
            if not self._in_environment(change):
                continue
            at = _at(record)
            drifted = change.get("source") == "drift-detection"
            if drifted and change.get("status") != "DRIFTED":
                continue
            if change.get("source") == "stack-status" and change.get("status") not in CHANGE_STATUSES:
                continue
            covered = any(start <= at <= end for start, end in windows)
            human = change.get("principal_arn") and not self._pipeline_principal(change)
            if covered and not human and not drifted:
                continue
            stack = str(change.get("stack_name"))
            previous = next(
                (
                    r
                    for r in reversed(rows)
                    if r.stacks == [stack] and at - r.occurred_at <= DIRECT_CHANGE_MERGE and r.change_id in statuses
                ),
                None,
            )
            if previous is not None and not drifted:
                previous.evidence.append(record["_key"])
                previous.deploy_finished = at.isoformat()
                if change.get("operation"):
                    operations[previous.change_id] = str(change["operation"])
                if change.get("status"):
                    statuses[previous.change_id] = str(change["status"])
                operation = operations.get(previous.change_id, "stack change")
                previous.outcome = f"{operation} → {statuses[previous.change_id]}"
                if change.get("principal_arn") and not previous.author:
                    previous.author = parse_principal(change["principal_arn"]).person
                continue
            who = parse_principal(change["principal_arn"]).person if change.get("principal_arn") else None
            if drifted:
                outcome = f"DRIFTED ({change.get('drifted_resources')} resources)"
                what = (
                    f"{stack} drifted from its template: {change.get('drifted_resources')} resources were changed "
                    "outside CloudFormation"
                )
            else:
                outcome = f"{change.get('operation') or 'stack change'} → {change.get('status') or 'requested'}"
                what = f"{stack} changed" + (f" by {who} via {change.get('operation')}" if who else "")
                what += (
                    " with no pipeline execution deploying to " + self.scope.stage + " at that time"
                    if not covered
                    else " by a person during a pipeline deployment"
                )
            change_id = f"direct-{stack}-{at.strftime('%Y%m%dT%H%M%SZ')}"
            if not drifted:
                statuses[change_id] = str(change.get("status") or "requested")
                if change.get("operation"):
                    operations[change_id] = str(change["operation"])
            rows.append(
                Change(
                    change_id=change_id,
                    kind="direct",
                    pipeline=None,
                    occurred_at=at,
                    author=who,
                    deploy_started=at.isoformat(),
                    outcome=outcome,
                    stacks=[stack],
                    flags=[Flag(DIRECT_CHANGE, what)],
                    evidence=[record["_key"]],
                )
            )
        return rows

    def build(self) -> list[Change]:
        changes = [c for e in self.executions.values() if (c := self.build_execution_change(e)) is not None]
        self.link_rollbacks(changes)
        changes += self.direct_changes()
        in_period = [c for c in changes if self.scope.start <= c.occurred_at < self.scope.end]
        return sorted(in_period, key=lambda c: (c.occurred_at, c.change_id))


def build_changes(records: list[dict[str, Any]], scope: Scope) -> list[Change]:
    return ChangeBuilder(records, scope).build()


def malformed_records(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Every pipeline/stage/action record the report could not read as a transition, with why: the
    report names them even when they hide a change (a lost stage record leaves no row to flag)."""
    kinds = (Kind.PIPELINE, Kind.STAGE, Kind.ACTION)
    found = [(str(r.get("_key", "?")), malformed_transition(r)) for r in records if r.get("kind") in kinds]
    return sorted((key, problem) for key, problem in found if problem is not None)
