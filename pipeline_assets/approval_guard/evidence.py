"""Every identity of the change being approved, as the guard accepts it.

Sources, all already in the ledger or CodePipeline (the Lambda has no network path to GitHub):
- the pipeline trigger (the STARTED record): commit author, GitHub author id, a PR named in the commit
  message, and CodePipeline V2's trigger detail (the caller's ARN for a manual start);
- change-identities.json from the Validate build (cicd/audit/identities.py): author, committer,
  co-authors and PRs of every commit, with parents.

The build evidence counts ONLY when it comes from this execution's Validate build: the build id that
CodePipeline itself reports for the Validate action (ListActionExecutions) must match the upload
folder and the file's own build id. The build role can write anything into incoming/, so a file
from another build, two different files for one execution, a head that is not the commit this
execution built, or a range that cannot be shown to reach back to the last successful production
release all fail closed, with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline_assets.approval_guard.identity import parse_principal
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.layout import Kind
from pipeline_assets.ledger.store import EvidenceStore

BUILD_STAGE, BUILD_ACTION = "Build", "Validate"
_MERGE_PR = re.compile(r"Merge pull request #\d+ from (?P<login>[A-Za-z0-9-]+)/")
FIX_BUILD = (
    "Fix: the Validate build runs `make change-identities` before `make audit-evidence`, then retry the release."
)


class EvidenceError(Exception):
    """The change's identities cannot be established; the message says why and how to fix it."""


@dataclass(frozen=True)
class ChangeIdentities:
    identities: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)  # what was used, for the ledger record


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


def validate_build_id(details: list[dict[str, Any]], *, stage: str = BUILD_STAGE, action: str = BUILD_ACTION) -> str:
    detail = latest(details, stage=stage, action=action)
    build_id = (((detail or {}).get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
    if not detail or detail.get("status") != "Succeeded" or not build_id:
        raise EvidenceError(
            f"CodePipeline reports no succeeded {stage}/{action} build for this execution, so no build evidence "
            "can be trusted. Fix: check the guard's build_stage/build_action UserParameters name the Validate action."
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


def commit_identities(commit: dict[str, Any]) -> set[str]:
    people = [commit.get("author") or {}, commit.get("committer") or {}, *(commit.get("co_authors") or [])]
    found = {p.get(k) for p in people for k in ("name", "email")}
    found |= {pr.get("login") for pr in commit.get("pull_requests") or []}
    return {f for f in found if f}


def accepted_identities_record(
    found: list[tuple[str, dict[str, Any]]], *, build_id: str, execution_id: str
) -> tuple[str, dict[str, Any]]:
    """The one change-identities record of the Validate build; conflicting records fail closed."""
    if not found:
        raise EvidenceError(f"no change-identities.json was uploaded for this execution. {FIX_BUILD}")
    variants: dict[str, list[str]] = {}
    for key, record in found:
        if record.get("parse_error") or not isinstance(record.get("content"), dict):
            raise EvidenceError(f"change-identities record {key} is unreadable: {record.get('parse_error')}")
        # A retried build of the same commit records the same change; only its build block differs.
        change = {k: v for k, v in record["content"].items() if k != "build"}
        variants.setdefault(json.dumps(change, sort_keys=True), []).append(key)
    if len(variants) > 1:
        keys = "; ".join(", ".join(v) for v in variants.values())
        raise EvidenceError(
            f"conflicting change-identities records for execution {execution_id} ({keys}): the build evidence "
            "was tampered with or two builds disagree. Fix: investigate the uploads, then start a new execution."
        )
    upload_folder = layout.safe(build_id)
    for key, record in found:
        artifact_key = str((record.get("artifact") or {}).get("key") or "")
        build = record["content"].get("build") or {}
        from_validate = artifact_key.split("/")[3:4] == [upload_folder] and (
            build.get("build_id") == build_id or str(build.get("build_arn") or "").endswith(f":build/{build_id}")
        )
        if from_validate and build.get("pipeline_execution_id") == execution_id:
            return key, record["content"]
    raise EvidenceError(
        f"no change-identities record comes from this execution's Validate build {build_id} (found: "
        f"{', '.join(k for k, _ in found)}). {FIX_BUILD}"
    )


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


def commits_since(content: dict[str, Any], release: str | None, *, where: str) -> list[dict[str, Any]]:
    """The recorded commits after the last production release, or EvidenceError when the recorded range
    cannot be shown to cover them."""
    commits = {c["sha"]: c for c in content.get("commits") or []}
    head, recorded = content.get("head"), content.get("range") or {}
    start = recorded.get("since_ref") or recorded.get("since") or f"a window of {len(commits)} commits"
    if release is not None and release == head:
        return []  # the released commit again: nothing new since
    if release is not None and recorded.get("since") == release:
        return list(commits.values())  # git computed exactly release..head
    if release is None:
        if recorded.get("since") is None and recorded.get("complete"):
            return list(commits.values())
        raise EvidenceError(
            f"{where} holds no earlier successful production release, and the recorded range ({start}) does not "
            "reach the first commit. Fix: approve this first release through break-glass, or record the full history."
        )
    ancestors: set[str] = set()
    stack = [release]
    while stack:
        sha = stack.pop()
        if sha not in ancestors:
            ancestors.add(sha)
            stack += commits[sha]["parents"] if sha in commits else []
    selected: dict[str, dict[str, Any]] = {}
    uncovered: set[str] = set()
    stack = [str(head)]
    while stack:
        sha = stack.pop()
        if sha in ancestors or sha in selected:
            continue
        if sha not in commits:
            uncovered.add(sha)
            continue
        selected[sha] = commits[sha]
        stack += commits[sha]["parents"]
    if release not in commits or uncovered:
        raise EvidenceError(
            f"the recorded range starts at {start}, which does not cover every commit since the last production "
            f"release {release} ({len(uncovered)} commit(s) reached outside it). Fix: tag the released commit "
            f"`git tag prod-release-<date> {release[:12]}` and push the tag, then retry the release."
        )
    return list(selected.values())


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
    build_id = validate_build_id(details)
    days = _days(now, lookback_days)
    prefixes = [f"{layout.partition(d)}build/{layout.safe(pipeline)}/{layout.safe(execution_id)}/" for d in days]
    key, content = accepted_identities_record(
        _records(store, prefixes, f"{Kind.CHANGE_IDENTITIES}-"), build_id=build_id, execution_id=execution_id
    )
    started = started_record(store, pipeline, execution_id, days)
    built = execution_commit(started)
    if built and content.get("head") != built:
        raise EvidenceError(
            f"change-identities record {key} describes commit {content.get('head')}, but this execution built "
            f"{built}. Fix: start a new execution; investigate the upload."
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
            f"the last production release (execution {release.execution_id}) has no recorded commit in the ledger, "
            "so the commits since it are unknown. Fix: check the ledger's STARTED record of that execution."
        )
    where = f"the ledger's last {release_lookback_days} days"
    commits = commits_since(content, release.commit if release else None, where=where)
    found = trigger_identities(started).union(*(commit_identities(c) for c in commits))
    evidence = {
        "record_key": key,
        "validate_build_id": build_id,
        "head": content.get("head"),
        "range": content.get("range"),
        "last_release": release.__dict__ if release else None,
        "commits": [c["sha"] for c in commits],
        "trigger_identities": sorted(trigger_identities(started)),
    }
    return ChangeIdentities(tuple(sorted(found, key=str.lower)), evidence)
