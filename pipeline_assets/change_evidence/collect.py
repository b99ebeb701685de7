"""ChangeEvidence: who made the change, from git and the source provider, before any of its code runs.

The ChangeEvidence CodeBuild project's build spec (constructs/change_evidence.py) carries this file's
text, so the deployed copy judges a commit, never the commit's own copy. It runs in a fresh container
with the image's python (`python3 -I`, from a directory outside the checkout, so no module of the
checkout can be imported) and the system git (replace objects, hooks, mailmap, global and system
configuration off). Standard library only.

Recorded (schema change-evidence/v1), for the commits since each approval gate's last approved
execution (`git rev-list HEAD ^<its commit>`; the commit comes from CodePipeline, not from git tags):
- from git: parents, author and committer, Co-authored-by trailers. Extra names only: anyone types them.
- from the source provider's API (GitHub REST, token from Secrets Manager): the accounts GitHub links
  to the commit and whether its signature is verified; each merged pull request into the branch that
  brought it, with its author, approving reviewers and merger; the actors of the pushes and merges
  that brought it (repository activity).
A commit that came neither through a merged pull request nor a recorded push is unverifiable: the
record lists it under `problems`, and the approval guard rejects. Any error (git, the provider, the
pipeline API, the upload) exits non-zero and the stage fails: no evidence, no build.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = "change-evidence/v1"
RECORD_NAME = "change-evidence.json"
# Beyond this many commits since a gate's last approval the change is too large to attribute commit by
# commit within the provider's rate limit; the record says so and the guard asks for break-glass.
MAX_COMMITS = 250
MAX_ACTIVITY_PAGES = 10
SYSTEM_PATH = "/usr/bin:/bin"  # git from here only: nothing earlier on PATH is consulted
ZERO = "0" * 40
PUSH_ACTIVITIES = ("push", "force_push", "branch_creation", "pr_merge", "merge_queue_merge")
_FIELD, _RECORD, _LIST = "\x1f", "\x1e", "\x1d"
LOG_FORMAT = "%x1f".join(
    ["%H", "%P", "%an", "%ae", "%cn", "%ce", "%(trailers:key=Co-authored-by,valueonly,separator=%x1d)"]
)
_NAME_EMAIL = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<email>[^>]+)>\s*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._@=+-]")  # the ledger's key-segment rule (pipeline_assets/ledger/layout.py)


class EvidenceError(Exception):
    """The evidence cannot be collected; the step fails."""


def safe(part: object) -> str:
    return _UNSAFE.sub("_", str(part)).strip(".") or "_"


def required(env: dict[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise EvidenceError(f"{name} is not set: the ChangeEvidence project's environment must name it")
    return value


def json_setting(env: dict[str, str], name: str) -> Any:
    try:
        return json.loads(required(env, name))
    except ValueError as exc:
        raise EvidenceError(f"{name} is not JSON: {exc}") from exc


class Git:
    """The system git on the build's checkout, immune to what the checkout or PATH could plant."""

    def __init__(self, source: Path, home: Path) -> None:
        found = shutil.which("git", path=SYSTEM_PATH)
        if not found:
            raise EvidenceError(f"no git in {SYSTEM_PATH}: the image's git is required")
        self.command = [
            found,
            "--no-replace-objects",
            "-C",
            str(source),
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "log.mailmap=false",
            "-c",
            f"safe.directory={source}",
        ]
        self.env = {
            "PATH": SYSTEM_PATH,
            "HOME": str(home),
            "LC_ALL": "C",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
        }

    def run(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [*self.command, *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=300
        )
        if proc.returncode:
            raise EvidenceError(f"git {' '.join(args[:3])} failed: {proc.stderr.strip()[:300]}")
        return proc.stdout

    def has_commit(self, sha: str) -> bool:
        proc = subprocess.run(
            [*self.command, "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True, env=self.env, timeout=60
        )
        return proc.returncode == 0

    def rev_list(self, head: str, exclude: list[str]) -> list[str]:
        return self.run("rev-list", head, *[f"^{sha}" for sha in exclude], "--").split()

    def commits(self, shas: list[str]) -> dict[str, dict[str, Any]]:
        if not shas:
            return {}
        text = self.run(
            "log", "--no-walk=unsorted", "--stdin", "--no-mailmap", f"--format={LOG_FORMAT}%x1e", stdin="\n".join(shas)
        )
        found: dict[str, dict[str, Any]] = {}
        for raw in text.split(_RECORD):
            raw = raw.strip("\n")
            if not raw:
                continue
            sha, parents, an, ae, cn, ce, trailers = raw.split(_FIELD)
            found[sha] = {
                "parents": parents.split(),
                "author": {"name": an, "email": ae},
                "committer": {"name": cn, "email": ce},
                "co_authors": [co_author(v) for v in trailers.split(_LIST) if v.strip()],
            }
        return found


def co_author(value: str) -> dict[str, str]:
    match = _NAME_EMAIL.match(value)
    return {"name": match["name"], "email": match["email"].strip()} if match else {"name": value.strip(), "email": ""}


def aws(*args: str) -> Any:
    proc = subprocess.run(["aws", *args, "--output", "json"], capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise EvidenceError(f"aws {' '.join(args[:2])} failed: {proc.stderr.strip()[:300]}")
    return json.loads(proc.stdout or "null")


def approved_commits(pipeline: str, execution_id: str, gates: dict[str, str]) -> dict[str, dict[str, Any]]:
    """{stage: {execution_id, commit}} of the newest other execution whose gate action succeeded."""
    found: dict[str, dict[str, Any]] = {}
    token: str | None = None
    while True:
        page = aws(
            "codepipeline", "list-action-executions", "--pipeline-name", pipeline, "--max-items", "500",
            *(["--starting-token", token] if token else []),
        )  # fmt: skip
        for detail in page.get("actionExecutionDetails") or []:
            stage, action = detail.get("stageName"), detail.get("actionName")
            if gates.get(stage) != action or detail.get("status") != "Succeeded":
                continue
            if detail.get("pipelineExecutionId") == execution_id:
                continue
            best = found.get(stage)
            if best is None or str(detail.get("lastUpdateTime")) > best["at"]:
                found[stage] = {"execution_id": detail["pipelineExecutionId"], "at": str(detail.get("lastUpdateTime"))}
        token = page.get("NextToken")
        if not token or set(found) == set(gates):
            break
    result: dict[str, dict[str, Any]] = {}
    for stage in gates:
        if stage not in found:
            result[stage] = {"execution_id": None, "commit": None}
            continue
        execution = aws(
            "codepipeline", "get-pipeline-execution", "--pipeline-name", pipeline,
            "--pipeline-execution-id", found[stage]["execution_id"],
        )["pipelineExecution"]  # fmt: skip
        revisions = [r.get("revisionId") for r in execution.get("artifactRevisions") or [] if r.get("revisionId")]
        if not revisions:
            raise EvidenceError(f"execution {found[stage]['execution_id']} ({stage}) reports no source revision")
        result[stage] = {"execution_id": found[stage]["execution_id"], "commit": revisions[0]}
    return result


def _next_link(header: str | None) -> str | None:
    for part in (header or "").split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().strip("<>")
    return None


class Provider:
    """GitHub's REST API (only GET), with the token never sent anywhere but the configured API."""

    def __init__(self, api_url: str, token: str) -> None:
        if urllib.parse.urlsplit(api_url).scheme not in ("https", "http"):
            raise EvidenceError(f"PROVIDER_API_URL {api_url!r} is not an http(s) URL")
        self.base = api_url.rstrip("/")
        self.token = token

    def _request(self, url: str) -> tuple[Any, str | None]:
        if not url.startswith(self.base + "/"):
            raise EvidenceError(f"refusing to follow {url}: it is not under the configured API {self.base}")
        request = urllib.request.Request(  # noqa: S310 (http(s) only: checked in __init__, url is under base)
            url,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "data-platform-change-evidence",
            },
        )
        path = url[len(self.base) :]
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (see above)
                return json.loads(response.read() or b"null"), _next_link(response.headers.get("Link"))
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise EvidenceError(f"source provider answered {exc.code} for GET {path}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise EvidenceError(f"source provider unreachable or unreadable for GET {path}: {exc}") from exc

    def url(self, path: str, params: dict[str, Any]) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.base}{path}{query}"

    def get(self, path: str, **params: Any) -> Any:
        return self._request(self.url(path, params))[0]

    def pages(self, path: str, *, max_pages: int = 50, **params: Any) -> Iterator[dict[str, Any]]:
        url: str | None = self.url(path, params)
        for _ in range(max_pages):
            if url is None:
                return
            body, url = self._request(url)
            if not isinstance(body, list):
                raise EvidenceError(f"source provider answered GET {path} with {type(body).__name__}, not a list")
            yield from body


def account(user: Any) -> dict[str, Any] | None:
    if not isinstance(user, dict) or user.get("id") is None:
        return None
    return {"login": user.get("login"), "id": int(user["id"]), "type": user.get("type") or "User"}


def pull_request(provider: Provider, repository: str, number: int) -> dict[str, Any]:
    pull = provider.get(f"/repos/{repository}/pulls/{number}")
    approvers: dict[int, dict[str, Any]] = {}
    for review in provider.pages(f"/repos/{repository}/pulls/{number}/reviews", per_page=100):
        reviewer = account(review.get("user"))
        if reviewer and review.get("state") == "APPROVED":
            approvers[reviewer["id"]] = reviewer
    return {
        "number": number,
        "author": account(pull.get("user")),
        "merged_by": account(pull.get("merged_by")),
        "approved_by": [approvers[i] for i in sorted(approvers)],
        "merge_commit_sha": pull.get("merge_commit_sha"),
        "base": (pull.get("base") or {}).get("ref"),
    }


def attribute_commits(
    provider: Provider, git: Git, *, repository: str, branch: str, commits: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Fill each commit's provider facts; returns the pull requests they came through, by number."""
    for sha, commit in commits.items():
        detail = provider.get(f"/repos/{repository}/commits/{sha}")
        if not isinstance(detail, dict) or detail.get("sha") != sha:
            raise EvidenceError(f"source provider returned another commit for {sha}")
        verification = (detail.get("commit") or {}).get("verification") or {}
        commit["accounts"] = {"author": account(detail.get("author")), "committer": account(detail.get("committer"))}
        commit["verification"] = {
            "verified": verification.get("verified") is True,
            "reason": verification.get("reason"),
        }
        merged = {
            int(p["number"])
            for p in provider.pages(f"/repos/{repository}/commits/{sha}/pulls", per_page=100)
            if p.get("merged_at") and (p.get("base") or {}).get("ref") == branch
        }
        commit["pull_requests"] = sorted(merged)
        commit["pushed_by"] = []
    numbers = sorted({n for c in commits.values() for n in c["pull_requests"]})
    pulls = {str(n): pull_request(provider, repository, n) for n in numbers}
    _attribute_pushes(provider, git, repository=repository, branch=branch, commits=commits)
    return pulls


def _attribute_pushes(
    provider: Provider, git: Git, *, repository: str, branch: str, commits: dict[str, dict[str, Any]]
) -> None:
    """Who put each commit on the branch: the actor of the push or merge whose before..after holds it."""
    pending = set(commits)
    activities = provider.pages(
        f"/repos/{repository}/activity", max_pages=MAX_ACTIVITY_PAGES, ref=f"refs/heads/{branch}", per_page=100
    )
    for activity in activities:
        after, before = str(activity.get("after") or ""), str(activity.get("before") or ZERO)
        actor = account(activity.get("actor"))
        if activity.get("activity_type") not in PUSH_ACTIVITIES or not actor or not git.has_commit(after):
            continue
        exclude = [before] if before != ZERO and git.has_commit(before) else []
        brought = set(git.rev_list(after, exclude)) & set(commits)
        for sha in sorted(brought):
            entry = {**actor, "activity": activity.get("activity_type"), "at": activity.get("timestamp")}
            if entry not in commits[sha]["pushed_by"]:
                commits[sha]["pushed_by"].append(entry)
        pending -= brought
        if not pending:
            return


def trust_boundary_hint(git: Git, baseline: str | None, head: str, paths: list[str]) -> list[str]:
    """The boundary paths changed since the last self-mutation (an early hint; the deployed templates decide)."""
    if not baseline or not git.has_commit(baseline):
        return [f"no-baseline:{baseline or 'none'}"]
    changed = git.run("diff", "--name-only", "--no-renames", baseline, head, "--", *[p.rstrip("/") for p in paths])
    return sorted(set(changed.split()))


def collect(source: Path, env: dict[str, str], home: Path) -> dict[str, Any]:
    git = Git(source, home)
    pipeline, execution_id = required(env, "PIPELINE_NAME"), required(env, "PIPELINE_EXECUTION_ID")
    repository, branch = required(env, "REPOSITORY"), required(env, "BRANCH")
    head = git.run("rev-parse", "--verify", "HEAD^{commit}").strip()
    built = required(env, "CODEBUILD_RESOLVED_SOURCE_VERSION")
    if head != built:
        raise EvidenceError(f"the checkout's HEAD is {head}, but CodePipeline built {built}")
    gates: dict[str, str] = json_setting(env, "APPROVAL_GATES")
    mutation: dict[str, str] = json_setting(env, "SELF_MUTATION")
    approved = approved_commits(pipeline, execution_id, {**gates, **mutation})
    shallow = git.run("rev-parse", "--is-shallow-repository").strip() == "true"
    ranges: dict[str, dict[str, Any]] = {}
    for stage in gates:
        since = approved[stage]["commit"]
        entry: dict[str, Any] = {"since": since, "since_execution": approved[stage]["execution_id"], "commits": []}
        if since and not git.has_commit(since):
            entry["problem"] = f"its last approved commit {since} is not in the clone (history rewritten?)"
        else:
            shas = git.rev_list(head, [since] if since else [])
            entry["complete"] = bool(since) or not shallow
            if len(shas) > MAX_COMMITS:
                entry["problem"] = (
                    f"{len(shas)} commits since its last approval exceed {MAX_COMMITS}: approve through break-glass"
                )
            else:
                entry["commits"] = shas
        ranges[stage] = entry
    commits = git.commits(sorted({sha for r in ranges.values() for sha in r["commits"]}))
    provider = Provider(required(env, "PROVIDER_API_URL"), required(env, "PROVIDER_TOKEN"))
    pulls = attribute_commits(provider, git, repository=repository, branch=branch, commits=commits)
    problems = [
        {"commit": sha, "problem": "came through no merged pull request and no recorded push: unverifiable"}
        for sha, commit in sorted(commits.items())
        if not commit["pull_requests"] and not commit["pushed_by"]
    ]
    self_mutation = approved[next(iter(mutation))]["commit"] if mutation else None
    hint = trust_boundary_hint(git, self_mutation, head, json_setting(env, "TRUST_BOUNDARY_PATHS"))
    return {
        "schema": SCHEMA,
        "head": head,
        "repository": repository,
        "branch": branch,
        "build": {
            "pipeline": pipeline,
            "pipeline_execution_id": execution_id,
            "build_id": required(env, "CODEBUILD_BUILD_ID"),
            "resolved_source_version": built,
        },
        "shallow": shallow,
        "ranges": ranges,
        "commits": commits,
        "pull_requests": pulls,
        "problems": problems,
        "trust_boundary_hint": {"baseline_commit": self_mutation, "paths": hint, "changed": bool(hint)},
    }


def record_key(env: dict[str, str]) -> str:
    parts = [env.get("EVIDENCE_PREFIX", "trusted/change-evidence").strip("/")]
    parts += [safe(required(env, n)) for n in ("PIPELINE_NAME", "PIPELINE_EXECUTION_ID", "CODEBUILD_BUILD_ID")]
    return "/".join([*parts, RECORD_NAME])


def upload(record: dict[str, Any], *, bucket: str, key: str, workdir: Path) -> None:
    body = workdir / RECORD_NAME
    body.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    aws(
        "s3api", "put-object", "--bucket", bucket, "--key", key, "--body", str(body),
        "--content-type", "application/json", "--checksum-algorithm", "SHA256", "--if-none-match", "*",
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record who made the change, before any of its code runs")
    parser.add_argument("--source", required=True, help="the build's checkout (CODEBUILD_SRC_DIR)")
    parser.add_argument("--out", required=True, help="directory for the exported values")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as home:
            record = collect(Path(args.source), env, Path(home))
        key = record_key(env)
        upload(record, bucket=required(env, "EVIDENCE_BUCKET"), key=key, workdir=out)
    except EvidenceError as exc:
        print(f"change evidence: {exc}", file=sys.stderr)
        return 1
    # One line each, newline-terminated: the build spec reads them with `read -r`.
    (out / "key").write_text(f"{key}\n")
    (out / "trust-boundary-hint").write_text("true\n" if record["trust_boundary_hint"]["changed"] else "false\n")
    accounts = sorted({p["login"] for c in record["commits"].values() for p in c.get("pushed_by", [])})
    print(f"change evidence: {len(record['commits'])} commit(s), pushed by {', '.join(accounts) or 'nobody'}")
    for problem in record["problems"]:
        print(f"change evidence: PROBLEM {json.dumps(problem, sort_keys=True)}")
    print(f"change evidence: written to s3://{env['EVIDENCE_BUCKET']}/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
