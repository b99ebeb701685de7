"""Approval guard Lambda: a CodePipeline Invoke action placed right after the manual approval.

Handler: `pipeline_assets.approval_guard.handler.handler`. It reads who approved (CodePipeline's
action execution details; CloudTrail's PutApprovalResult for the SourceIdentity, or as a fallback),
every identity of the change (evidence.py: the trusted ChangeEvidence record since the gate's last
approval, and the pipeline trigger), decides, records
the decision in the ledger, and reports back with PutJobSuccessResult / PutJobFailureResult: a
rejection fails the stage and CodePipeline shows the reason.

Environment:
  EVIDENCE_BUCKET, EVIDENCE_RETENTION_DAYS, EVIDENCE_KMS_KEY_ARN   as for the ledger writer
  APPROVERS_PRINCIPAL_ARNS     comma-separated IAM role / group / user ARNs allowed to approve
  BREAK_GLASS_PRINCIPAL_ARNS   comma-separated ARNs allowed to take the break-glass path (may be empty)
  IDENTITY_ALIASES             JSON {"git e-mail": ["SourceIdentity / SSO user names", ...]} (config
                               approval.identity_aliases); an approver not in it is rejected
UserParameters (JSON):
  {"approval_action": "Approve", "approval_stage": "Prod",            (stage defaults to the guard's)
   "pipeline_name": "...", "execution_id": "#{codepipeline.PipelineExecutionId}",   (else GetJobDetails)
   "commit_author": "...", "commit_id": "#{Source.CommitId}", "release_id": "..."}  (all optional)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline_assets.approval_guard.cloudtrail import AmbiguousApprovalError, approval_call
from pipeline_assets.approval_guard.evidence import EvidenceError, action_executions, change_identities, latest
from pipeline_assets.approval_guard.identity import SSO_ROLE_PREFIX, Principal, parse_principal
from pipeline_assets.approval_guard.policy import Approval, Author, Change, Decision, decide
from pipeline_assets.approval_guard.record import record_decision
from pipeline_assets.approval_guard.trust_policy import source_identity_problem
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.store import EvidenceStore, utcnow

LOG = logging.getLogger("approval_guard")
LOG.setLevel(logging.INFO)

# CloudTrail usually delivers an event within 5 minutes (up to 15 is documented); wait this long for the
# approval's event, re-invoked through CodePipeline continuations, before rejecting.
CLOUDTRAIL_WAIT = timedelta(minutes=20)
MAX_FAILURE_MESSAGE = 5000


class GuardError(Exception):
    """The guard could not run (bad configuration or parameters); the stage fails with this message."""


@dataclass(frozen=True)
class GuardSettings:
    bucket: str
    retention_days: int
    kms_key_id: str | None
    approvers: tuple[str, ...]
    break_glass: tuple[str, ...]
    aliases: dict[str, list[str]]
    lookback_days: int = 14
    # How far back the ledger is searched for the last successful production release.
    release_lookback_days: int = 400

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> GuardSettings:
        env = dict(os.environ if env is None else env)

        def arns(name: str) -> tuple[str, ...]:
            return tuple(a.strip() for a in env.get(name, "").split(",") if a.strip())

        bucket = env.get("EVIDENCE_BUCKET", "").strip()
        days = env.get("EVIDENCE_RETENTION_DAYS", "").strip()
        approvers = arns("APPROVERS_PRINCIPAL_ARNS")
        problems = []
        if not bucket:
            problems.append("EVIDENCE_BUCKET is not set")
        if not days.isdigit() or int(days) < 1:
            problems.append(f"EVIDENCE_RETENTION_DAYS must be a whole number of days >= 1 (got {days!r})")
        if not approvers:
            problems.append("APPROVERS_PRINCIPAL_ARNS is empty (set it to config approval.approvers_role_arn)")
        try:
            aliases = json.loads(env.get("IDENTITY_ALIASES") or "{}")
            if not isinstance(aliases, dict) or not all(isinstance(v, list) for v in aliases.values()):
                raise ValueError("must map each e-mail to a list of names")
        except ValueError as exc:
            problems.append(f'IDENTITY_ALIASES is not valid JSON of the form {{"email": ["name"]}}: {exc}')
            aliases = {}
        if problems:
            raise GuardError("approval guard misconfigured: " + "; ".join(problems))
        return cls(
            bucket,
            int(days),
            env.get("EVIDENCE_KMS_KEY_ARN") or None,
            approvers,
            arns("BREAK_GLASS_PRINCIPAL_ARNS"),
            aliases,
        )


@dataclass(frozen=True)
class JobContext:
    job_id: str
    pipeline: str
    execution_id: str
    stage: str | None
    action: str | None
    approval_stage: str
    approval_action: str
    commit_author: str | None
    commit_id: str | None
    release_id: str | None
    continuation: dict[str, Any] = field(default_factory=dict)  # state of an earlier invocation that waited


def _resolved(value: object) -> str | None:
    # An unresolved "#{Namespace.Variable}" means the wiring is wrong, not that the value is empty.
    text = str(value).strip() if value is not None else ""
    return text if text and not text.startswith("#{") else None


def job_context(event: dict[str, Any], codepipeline: Any) -> JobContext:
    job = event.get("CodePipeline.job")
    if not isinstance(job, dict) or not job.get("id"):
        raise GuardError("not a CodePipeline job event: 'CodePipeline.job.id' is missing")
    configuration = ((job.get("data") or {}).get("actionConfiguration") or {}).get("configuration") or {}
    raw = configuration.get("UserParameters") or "{}"
    try:
        params = json.loads(raw)
    except ValueError as exc:
        raise GuardError(f"UserParameters is not JSON ({exc}): {raw[:200]!r}") from exc
    if not isinstance(params, dict):
        raise GuardError("UserParameters must be a JSON object")
    pipeline, execution_id = _resolved(params.get("pipeline_name")), _resolved(params.get("execution_id"))
    stage = action = None
    if not (pipeline and execution_id) or not params.get("approval_stage"):
        context = codepipeline.get_job_details(jobId=job["id"])["jobDetails"]["data"].get("pipelineContext") or {}
        pipeline = pipeline or context.get("pipelineName")
        execution_id = execution_id or context.get("pipelineExecutionId")
        stage = (context.get("stage") or {}).get("name")
        action = (context.get("action") or {}).get("name")
    approval_action = _resolved(params.get("approval_action"))
    approval_stage = _resolved(params.get("approval_stage")) or stage
    missing = [
        name
        for name, value in (
            ("pipeline name", pipeline),
            ("pipeline execution id", execution_id),
            ("approval_action", approval_action),
            ("approval_stage", approval_stage),
        )
        if not value
    ]
    if missing:
        raise GuardError(f"cannot tell which approval to check: {', '.join(missing)} missing from UserParameters/job")
    return JobContext(
        job_id=str(job["id"]),
        pipeline=str(pipeline),
        execution_id=str(execution_id),
        stage=stage,
        action=action,
        approval_stage=str(approval_stage),
        approval_action=str(approval_action),
        commit_author=_resolved(params.get("commit_author")),
        commit_id=_resolved(params.get("commit_id")),
        release_id=_resolved(params.get("release_id")),
        continuation=_continuation((job.get("data") or {}).get("continuationToken")),
    )


def _continuation(token: object) -> dict[str, Any]:
    try:
        state = json.loads(str(token)) if token else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _iso(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value else None


class CloudTrailLagError(Exception):
    """The approval's PutApprovalResult is not in CloudTrail yet: wait and look again."""


def approval_token(detail: dict[str, Any], codepipeline: Any, ctx: JobContext) -> str:
    """This approval request's token: ListActionExecutions' externalExecutionId, else GetPipelineState's."""
    token = ((detail.get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
    if token:
        return str(token)
    state = codepipeline.get_pipeline_state(name=ctx.pipeline)
    for stage in state.get("stageStates") or []:
        if stage.get("stageName") != ctx.approval_stage:
            continue
        if (stage.get("latestExecution") or {}).get("pipelineExecutionId") != ctx.execution_id:
            break
        for action in stage.get("actionStates") or []:
            run = action.get("latestExecution") or {}
            ours = run.get("actionExecutionId") == detail.get("actionExecutionId")
            if action.get("actionName") == ctx.approval_action and ours and run.get("token"):
                return str(run["token"])
    raise GuardError(
        f"the token of approval {ctx.approval_stage}/{ctx.approval_action} of this execution is unknown, so its "
        "CloudTrail record cannot be told from another approval's. Fix: retry the stage (approve again)."
    )


def _needs_source_identity(arn: str | None) -> bool:
    # Identity Center sessions and IAM users already name the person; any other role session does not.
    principal = parse_principal(arn or "")
    return principal.kind != "user" and not (
        principal.kind == "assumed-role" and principal.name.startswith(SSO_ROLE_PREFIX)
    )


def find_approval(
    details: list[dict[str, Any]],
    cloudtrail: Any | None,
    ctx: JobContext,
    *,
    codepipeline: Any = None,
    iam: Any = None,
    now: datetime | None = None,
) -> Approval | None:
    """Who approved. Raises CloudTrailLagError while the approval's own CloudTrail record has not arrived."""
    detail = latest(details, stage=ctx.approval_stage, action=ctx.approval_action)
    if detail is None:
        return None
    result = (detail.get("output") or {}).get("executionResult") or {}
    approver, source, source_identity, problem = detail.get("updatedBy"), "action-execution", None, None
    started = detail.get("startTime") or detail.get("lastUpdateTime")
    needs_trail = not approver or _needs_source_identity(approver)
    if needs_trail and cloudtrail is not None and detail.get("status") == "Succeeded" and isinstance(started, datetime):
        token = approval_token(detail, codepipeline, ctx)
        try:
            call = approval_call(
                cloudtrail,
                pipeline=ctx.pipeline,
                stage=ctx.approval_stage,
                action=ctx.approval_action,
                token=token,
                started=started,
                until=now or utcnow(),
                approver_arn=approver,
            )
        except AmbiguousApprovalError as exc:
            raise GuardError(str(exc)) from exc
        if call is None:
            raise CloudTrailLagError(token)
        source = "cloudtrail" if not approver else "action-execution+cloudtrail"
        approver, source_identity = call.arn, call.source_identity
        principal = parse_principal(approver)
        if source_identity and principal.kind == "assumed-role" and iam is not None:
            problem = source_identity_problem(iam, principal.name)
    return Approval(
        approver_arn=approver,
        approved_at=_iso(detail.get("lastUpdateTime")),
        comment=result.get("externalExecutionSummary"),
        status=detail.get("status"),
        source=source,
        source_identity=source_identity,
        source_identity_problem=problem,
    )


def _latest_record(store: EvidenceStore, prefixes: list[str], name_prefix: str) -> dict[str, Any] | None:
    keys = [k for p in prefixes for k in store.list_keys(p) if k.rsplit("/", 1)[-1].startswith(name_prefix)]
    if not keys:
        return None
    found = [store.get_json(k) for k in keys]
    return max(found, key=lambda r: str(r.get("recorded_at")))


def find_author(store: EvidenceStore, ctx: JobContext, *, today: datetime, lookback_days: int) -> Author:
    """The head commit's author, for messages and the record: from the pipeline's own configuration, else the
    trigger CodePipeline recorded. (Nothing the Validate build uploads counts: it runs the change's code.)"""
    if ctx.commit_author:
        return Author(ctx.commit_author, None, ctx.commit_id, "user-parameters")
    days = [today - timedelta(days=n) for n in range(lookback_days + 1)]
    started = _latest_record(
        store,
        [
            f"{layout.partition(d)}pipeline/{layout.safe(ctx.pipeline)}/{layout.safe(ctx.execution_id)}/execution/"
            for d in days
        ],
        "STARTED-",
    )
    trigger = ((started or {}).get("transition") or {}).get("trigger") or {}
    if trigger.get("author_email") or trigger.get("author_name"):
        return Author(
            trigger.get("author_email"), trigger.get("author_name"), trigger.get("commit_id"), "pipeline-trigger"
        )
    return Author(None, None, ctx.commit_id, None)


def _waiting_since(ctx: JobContext, now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(ctx.continuation["waiting_since"]))
    except (KeyError, ValueError):
        return now


def _without_cloudtrail(details: list[dict[str, Any]], ctx: JobContext, since: datetime) -> Approval:
    detail = latest(details, stage=ctx.approval_stage, action=ctx.approval_action) or {}
    waited = int(CLOUDTRAIL_WAIT.total_seconds() // 60)
    return Approval(
        approver_arn=detail.get("updatedBy") or "unknown",
        approved_at=_iso(detail.get("lastUpdateTime")),
        comment=((detail.get("output") or {}).get("executionResult") or {}).get("externalExecutionSummary"),
        status=detail.get("status"),
        source="action-execution",
        source_identity_problem=(
            f"CloudTrail has recorded no PutApprovalResult with this approval's token since {since.isoformat()} "
            f"({waited} minutes), so the person behind {detail.get('updatedBy') or 'the approval'} is unknown. "
            "Fix: check the delivery account's trail is logging, then retry the stage (approve again)."
        ),
    )


def _group_checker(iam: Any) -> Callable[[Principal, str], bool]:
    cache: dict[str, set[str]] = {}

    def is_member(principal: Principal, group: str) -> bool:
        if group not in cache:
            users: set[str] = set()
            for page in iam.get_paginator("get_group").paginate(GroupName=group):
                users |= {u["UserName"] for u in page.get("Users", [])}
            cache[group] = users
        return principal.name in cache[group]

    return is_member


def _change(
    store: EvidenceStore, details: list[dict[str, Any]], ctx: JobContext, settings: GuardSettings, now: datetime
) -> tuple[Change, dict[str, Any]]:
    try:
        found = change_identities(
            store,
            details,
            pipeline=ctx.pipeline,
            execution_id=ctx.execution_id,
            release_stage=ctx.approval_stage,
            now=now,
            lookback_days=settings.lookback_days,
            release_lookback_days=settings.release_lookback_days,
        )
    except EvidenceError as exc:
        return Change(problem=str(exc)), {}
    return Change(found.identities, accounts=found.accounts), found.evidence


def run_guard(
    event: dict[str, Any],
    *,
    codepipeline: Any,
    iam: Any,
    store: EvidenceStore,
    settings: GuardSettings,
    cloudtrail: Any | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Decision:
    """Decide, record, and report the job result. Never leaves the job without a result."""
    job_id = str((event.get("CodePipeline.job") or {}).get("id") or "")
    try:
        ctx = job_context(event, codepipeline)
        now = clock()
        details = action_executions(codepipeline, pipeline=ctx.pipeline, execution_id=ctx.execution_id)
        try:
            approval = find_approval(details, cloudtrail, ctx, codepipeline=codepipeline, iam=iam, now=now)
        except CloudTrailLagError:
            waiting_since = _waiting_since(ctx, now)
            if now - waiting_since < CLOUDTRAIL_WAIT:
                # Not a failure: CodePipeline invokes the guard again with this token.
                codepipeline.put_job_success_result(
                    jobId=job_id, continuationToken=json.dumps({"waiting_since": waiting_since.isoformat()})
                )
                return Decision(False, ("waiting for the approval's CloudTrail record",), None, pending=True)
            approval = _without_cloudtrail(details, ctx, waiting_since)
        author = find_author(store, ctx, today=now, lookback_days=settings.lookback_days)
        change, change_evidence = _change(store, details, ctx, settings, now)
        decision = decide(
            approval=approval,
            author=author,
            approvers=settings.approvers,
            break_glass_principals=settings.break_glass,
            is_group_member=_group_checker(iam),
            aliases=settings.aliases,
            approval_ref=f"approval {ctx.approval_stage}/{ctx.approval_action}",
            change=change,
        )
        keys = record_decision(
            store,
            ctx,
            decision=decision,
            approval=approval,
            author=author,
            change=change,
            change_evidence=change_evidence,
            settings=settings,
            now=now,
        )
    except Exception as exc:
        # Fail closed: no decision (or no record of it) means the stage does not proceed.
        LOG.exception("approval guard could not decide")
        message = str(exc) if isinstance(exc, GuardError) else f"approval guard error: {type(exc).__name__}: {exc}"
        if job_id:
            codepipeline.put_job_failure_result(
                jobId=job_id, failureDetails={"type": "JobFailed", "message": message[:MAX_FAILURE_MESSAGE]}
            )
        return Decision(False, (message,), None)
    LOG.info("decision for %s/%s: %s (%s)", ctx.pipeline, ctx.execution_id, decision.allowed, decision.message)
    if decision.allowed:
        codepipeline.put_job_success_result(
            jobId=job_id,
            executionDetails={"summary": decision.message[:2048], "externalExecutionId": keys[0][-1500:]},
            outputVariables={
                "APPROVER": (decision.person.name if decision.person else None) or "",
                "BREAK_GLASS": "true" if decision.break_glass else "false",
                "LEDGER_KEY": keys[0],
            },
        )
    else:
        codepipeline.put_job_failure_result(
            jobId=job_id,
            failureDetails={
                "type": "JobFailed",
                "message": decision.message[:MAX_FAILURE_MESSAGE],
                "externalExecutionId": keys[0][-1500:],
            },
        )
    return decision


_CLIENTS: dict[str, Any] = {}


def _client(name: str) -> Any:
    if name not in _CLIENTS:
        import boto3

        _CLIENTS[name] = boto3.client(name)
    return _CLIENTS[name]


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    try:
        settings = GuardSettings.from_env()
    except GuardError as exc:
        job_id = (event.get("CodePipeline.job") or {}).get("id")
        if job_id:
            _client("codepipeline").put_job_failure_result(
                jobId=job_id, failureDetails={"type": "ConfigurationError", "message": str(exc)[:MAX_FAILURE_MESSAGE]}
            )
        raise
    store = EvidenceStore(
        _client("s3"), settings.bucket, retention_days=settings.retention_days, kms_key_id=settings.kms_key_id
    )
    decision = run_guard(
        event,
        codepipeline=_client("codepipeline"),
        iam=_client("iam"),
        cloudtrail=_client("cloudtrail"),
        store=store,
        settings=settings,
    )
    return {"allowed": decision.allowed, "message": decision.message}
