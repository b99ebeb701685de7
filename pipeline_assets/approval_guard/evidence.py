"""Every identity of the change being approved, as the guard accepts it.

Sources, none of them written by the change's own code:
- the ChangeEvidence record (pipeline_assets/change_evidence/collect.py), written before Build by the
  trusted ChangeEvidence step under `trusted/change-evidence/`, which only that step's role may write:
  per commit since the gate's last approval, the git names, and from the source provider the pull
  requests that brought it (author, approving reviewers, merger), the pushers, and the accounts of
  verified signatures. It counts only from the ChangeEvidence build CodePipeline itself reports for
  this execution (ListActionExecutions), so nothing the Validate build uploads is ever read;
- the pipeline trigger (the STARTED record the ledger wrote from CodePipeline's own event): the commit
  this execution built, its author, and the caller of a manual start. A missing STARTED record fails
  closed instead of skipping these checks.

Anything that cannot be established (no record, another commit, a range that does not start at the
ledger's last approval, a commit nobody can be shown to have brought) raises EvidenceError with the
reason and the fix; the guard then rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline_assets.approval_guard.identity import parse_principal, provider_account
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.store import EvidenceStore

# The trusted step's stage and action (constructs/change_evidence.py; a test keeps them equal).
EVIDENCE_STAGE, EVIDENCE_ACTION = "ChangeEvidence", "CollectChangeEvidence"
EVIDENCE_SCHEMA = "change-evidence/v1"
_MERGE_PR = re.compile(r"Merge pull request #\d+ from (?P<login>[A-Za-z0-9-]+)/")
FIX_EVIDENCE = "Fix: retry the ChangeEvidence stage of this execution (its log says what failed), then the approval."


class EvidenceError(Exception):
    """The change's identities cannot be established; the message says why and how to fix it."""


@dataclass(frozen=True)
class ChangeIdentities:
    identities: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)  # what was used, for the ledger record
    # Authenticated source-provider accounts ({"id", "login", "type", "roles"}): each must map to a person.
    accounts: tuple[dict[str, Any], ...] = ()
    head_author: dict[str, str] | None = None  # git's author of the head commit: a name, for messages


def action_executions(codepipeline: Any, *, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    paginator = codepipeline.get_paginator("list_action_executions")
    for page in paginator.paginate(pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}):
        details += page.get("actionExecutionDetails", [])
    return details


def latest(details: list[dict[str, Any]], *, stage: str, action: str) -> dict[str, Any] | None:
    """The action's latest execution (retries run it again under the same name)."""
    matches = [d for d in details if d.get("stageName") == stage and d.get("actionName") == action]
    return max(matches, key=lambda d: str(d.get("lastUpdateTime") or d.get("startTime") or "")) if matches else None


def reported_build_id(details: list[dict[str, Any]], *, stage: str, action: str) -> str:
    """The CodeBuild build CodePipeline ran for this execution's `stage/action` (it must have succeeded)."""
    detail = latest(details, stage=stage, action=action)
    build_id = (((detail or {}).get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
    if not detail or detail.get("status") != "Succeeded" or not build_id:
        raise EvidenceError(
            f"CodePipeline reports no succeeded {stage}/{action} build for this execution, so no evidence of who "
            f"made the change can be trusted. {FIX_EVIDENCE}"
        )
    return str(build_id)


def _days(now: datetime, lookback_days: int) -> list[datetime]:
    return [now - timedelta(days=n) for n in range(lookback_days + 1)]


def _records(store: EvidenceStore, prefixes: list[str], name_prefix: str) -> list[tuple[str, dict[str, Any]]]:
    keys = [k for p in prefixes for k in store.list_keys(p) if k.rsplit("/", 1)[-1].startswith(name_prefix)]
    return [(k, store.get_json(k)) for k in sorted(keys)]


def started_record(store: EvidenceStore, pipeline: str, execution_id: str, days: list[datetime]) -> dict[str, Any]:
    prefixes = [
        f"{layout.partition(d)}pipeline/{layout.safe(pipeline)}/{layout.safe(execution_id)}/execution/" for d in days
    ]
    found = _records(store, prefixes, "STARTED-")
    return max((r for _, r in found), key=lambda r: str(r.get("recorded_at")), default={})


def execution_commit(started: dict[str, Any]) -> str | None:
    trigger = (started.get("transition") or {}).get("trigger") or {}
    revisions = ((started.get("enrichment") or {}).get("pipeline_execution") or {}).get("artifact_revisions") or []
    return trigger.get("commit_id") or next((r.get("revision_id") for r in revisions if r.get("revision_id")), None)


def trigger_identities(started: dict[str, Any]) -> set[str]:
    trigger = (started.get("transition") or {}).get("trigger") or {}
    raw = ((started.get("event") or {}).get("detail") or {}).get("execution-trigger") or {}
    found = {trigger.get("author_email"), trigger.get("author_name")}
    found |= {raw.get("author-email"), raw.get("author-display-name"), raw.get("author-id")}
    pr = _MERGE_PR.search(str(raw.get("commit-message") or ""))
    if pr:
        found.add(pr["login"])
    # CodePipeline V2: who started the execution (StartPipelineExecution's caller ARN, for a manual start).
    detail = (((started.get("enrichment") or {}).get("pipeline_execution") or {}).get("trigger") or {}).get("detail")
    if isinstance(detail, str) and detail.startswith("arn:") and ":connection/" not in detail:
        found.add(parse_principal(detail).person)
    return {f for f in found if f}


def trusted_record(
    store: EvidenceStore, *, pipeline: str, execution_id: str, build_id: str
) -> tuple[str, dict[str, Any]]:
    """The ChangeEvidence build's record of this execution (single version, right schema, right build)."""
    key = layout.change_evidence_key(pipeline=pipeline, execution_id=execution_id, build_id=build_id)
    if not store.exists(key):
        raise EvidenceError(
            f"the ChangeEvidence build {build_id} that CodePipeline reports for this execution left no record at "
            f"{key}. {FIX_EVIDENCE}"
        )
    content = store.get_json(key)
    build = content.get("build") or {}
    if content.get("schema") != EVIDENCE_SCHEMA or (build.get("build_id"), build.get("pipeline_execution_id")) != (
        build_id,
        execution_id,
    ):
        raise EvidenceError(
            f"{key} is not a {EVIDENCE_SCHEMA} record of build {build_id} for execution {execution_id}. {FIX_EVIDENCE}"
        )
    return key, content


@dataclass(frozen=True)
class Release:
    execution_id: str
    commit: str | None
    key: str


def last_release(
    store: EvidenceStore, *, pipeline: str, stage: str, execution_id: str, now: datetime, lookback_days: int
) -> Release | None:
    """The newest other execution whose production stage SUCCEEDED, within lookback_days."""
    oldest = layout.partition(now - timedelta(days=lookback_days))
    paginator = store.s3.get_paginator("list_objects_v2")
    partitions = [
        p["Prefix"]
        for page in paginator.paginate(Bucket=store.bucket, Prefix=layout.PARTITION_PREFIX, Delimiter="/")
        for p in page.get("CommonPrefixes", [])
        if oldest <= p["Prefix"] <= layout.partition(now)
    ]
    marker = f"/stage/{layout.safe(stage)}/SUCCEEDED-"
    for partition in sorted(partitions, reverse=True):
        keys = sorted(k for k in store.list_keys(f"{partition}pipeline/{layout.safe(pipeline)}/") if marker in k)
        others = [k for k in keys if k.split("/")[5] != layout.safe(execution_id)]
        if others:
            key = max(others, key=lambda k: str(store.get_json(k).get("occurred_at")))
            released = key.split("/")[5]
            day = layout.partition_day(key)
            assert day is not None
            started = started_record(store, pipeline, released, _days(datetime.combine(day, now.timetz()), 14))
            return Release(released, execution_commit(started), key)
    return None


def _reachable(start: str, members: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    stack = [start]
    while stack:
        sha = stack.pop()
        if sha in members and sha not in found:
            found.add(sha)
            stack += members[sha].get("parents") or []
    return found


def commits_since(content: dict[str, Any], *, stage: str, release: str | None, where: str) -> list[str]:
    """The commits of the change since the ledger's last approval of `stage`, from the trusted record's range
    for that gate, or EvidenceError when that range cannot be shown to cover them."""
    head = str(content.get("head"))
    recorded = (content.get("ranges") or {}).get(stage)
    if not isinstance(recorded, dict):
        raise EvidenceError(f"the change evidence has no commit range for {stage}. {FIX_EVIDENCE}")
    if recorded.get("problem"):
        raise EvidenceError(
            f"the commits since the last {stage} approval could not be attributed: {recorded['problem']}"
        )
    commits = content.get("commits") or {}
    shas = [str(sha) for sha in recorded.get("commits") or []]
    missing = [sha for sha in shas if sha not in commits]
    if missing or (shas and head not in shas) or (not shas and head != recorded.get("since")):
        raise EvidenceError(
            f"the change evidence's range for {stage} is inconsistent (head {head[:12]} listed: {head in shas}, "
            f"{len(missing)} commit(s) without details). {FIX_EVIDENCE}"
        )
    since = recorded.get("since")
    if release == since:
        if since is None and not recorded.get("complete"):
            raise EvidenceError(
                f"{where} holds no earlier {stage} approval, and the clone's history is shallow, so the commits of "
                "this change are not all known. Fix: approve this first release through break-glass."
            )
        return shas
    if release == head:
        return []
    members = {sha: commits[sha] for sha in shas}
    if release is None or release not in members:
        raise EvidenceError(
            f"the ledger's last {stage} approval is commit {release}, but the change evidence counted the commits "
            f"since {since} (CodePipeline's last approval, execution {recorded.get('since_execution')}), which do "
            "not include it: the ledger and CodePipeline disagree. Fix: check the ledger for a missing stage record, "
            "then retry this execution from ChangeEvidence."
        )
    # An approval landed between this execution's start and now: keep what it had not approved yet.
    approved = _reachable(release, members)
    return [sha for sha in shas if sha in _reachable(head, members) and sha not in approved]


def _account(user: dict[str, Any] | None, role: str, found: dict[int, dict[str, Any]]) -> None:
    if isinstance(user, dict) and user.get("id") is not None:
        entry = found.setdefault(int(user["id"]), {k: user.get(k) for k in ("id", "login", "type")} | {"roles": []})
        if role not in entry["roles"]:
            entry["roles"].append(role)


def identities_of(
    content: dict[str, Any], shas: list[str]
) -> tuple[set[str], dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """(every name to compare, the authenticated provider accounts by id, the unverifiable commits)."""
    names: set[str] = set()
    accounts: dict[int, dict[str, Any]] = {}
    pulls = content.get("pull_requests") or {}
    problems = {p.get("commit"): p for p in content.get("problems") or [] if p.get("commit")}
    for sha in shas:
        commit = content["commits"][sha]
        people = [commit.get("author") or {}, commit.get("committer") or {}, *(commit.get("co_authors") or [])]
        names |= {p.get(k) for p in people for k in ("name", "email") if p.get(k)}
        verified = (commit.get("verification") or {}).get("verified") is True
        for role, user in (commit.get("accounts") or {}).items():
            if verified:  # GitHub checked the signature against this account's keys
                _account(user, f"signed {role} of {sha[:12]}", accounts)
            elif isinstance(user, dict) and user.get("id") is not None:
                names |= {provider_account(user["id"]), str(user.get("login") or "")} - {""}
        for number in commit.get("pull_requests") or []:
            pull = pulls.get(str(number)) or {}
            _account(pull.get("author"), f"author of PR #{number}", accounts)
            _account(pull.get("merged_by"), f"merger of PR #{number}", accounts)
            for reviewer in pull.get("approved_by") or []:
                _account(reviewer, f"approving reviewer of PR #{number}", accounts)
        for pusher in commit.get("pushed_by") or []:
            _account(pusher, f"{pusher.get('activity') or 'push'} of {sha[:12]}", accounts)
    for account in accounts.values():
        names |= {provider_account(account["id"]), str(account.get("login") or "")} - {""}
    return names, accounts, [problems[sha] for sha in shas if sha in problems]


def change_identities(
    store: EvidenceStore,
    details: list[dict[str, Any]],
    *,
    pipeline: str,
    execution_id: str,
    release_stage: str,
    now: datetime,
    lookback_days: int,
    release_lookback_days: int,
) -> ChangeIdentities:
    """Raises EvidenceError when any part cannot be trusted (the guard then rejects)."""
    build_id = reported_build_id(details, stage=EVIDENCE_STAGE, action=EVIDENCE_ACTION)
    key, content = trusted_record(store, pipeline=pipeline, execution_id=execution_id, build_id=build_id)
    days = _days(now, lookback_days)
    started = started_record(store, pipeline, execution_id, days)
    built = execution_commit(started)
    if not started or not built:
        raise EvidenceError(
            f"the ledger has no STARTED record (with its commit) for execution {execution_id} in the last "
            f"{lookback_days} days, so neither the commit this execution built nor its trigger can be checked. Fix: "
            "look for the execution's start in the ledger's dead-letter queue and replay it, then retry the approval."
        )
    if content.get("head") != built:
        raise EvidenceError(
            f"change evidence {key} describes commit {content.get('head')}, but this execution built {built}. "
            "Fix: start a new execution; investigate the ChangeEvidence build."
        )
    release = last_release(
        store,
        pipeline=pipeline,
        stage=release_stage,
        execution_id=execution_id,
        now=now,
        lookback_days=release_lookback_days,
    )
    if release is not None and release.commit is None:
        raise EvidenceError(
            f"the last {release_stage} approval (execution {release.execution_id}) has no recorded commit in the "
            "ledger, so the commits since it are unknown. Fix: check the ledger's STARTED record of that execution."
        )
    where = f"the ledger's last {release_lookback_days} days"
    shas = commits_since(content, stage=release_stage, release=release.commit if release else None, where=where)
    names, accounts, unverifiable = identities_of(content, shas)
    if unverifiable:
        listed = "; ".join(f"{p['commit'][:12]}: {p.get('problem')}" for p in unverifiable)
        raise EvidenceError(
            f"{len(unverifiable)} commit(s) of this change cannot be attributed to an account ({listed}). Fix: bring "
            "them through a pull request, or approve through break-glass, which is reviewed."
        )
    trigger = trigger_identities(started)
    evidence = {
        "record_key": key,
        "change_evidence_build_id": build_id,
        "head": content.get("head"),
        "range": {k: v for k, v in (content.get("ranges") or {}).get(release_stage, {}).items() if k != "commits"},
        "last_release": release.__dict__ if release else None,
        "commits": shas,
        "accounts": [accounts[i] for i in sorted(accounts)],
        "trigger_identities": sorted(trigger),
    }
    head = (content.get("commits") or {}).get(str(content.get("head"))) or {}
    return ChangeIdentities(
        tuple(sorted(names | trigger, key=str.lower)),
        evidence,
        tuple(accounts[i] for i in sorted(accounts)),
        head.get("author"),
    )
