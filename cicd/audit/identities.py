"""Every identity that had a hand in a change, from the Validate build's own git checkout.

The approval guard compares the approver with these. A single `git log -1` author is forgeable
(`git commit --author`), misses merge commits, earlier commits of the release and co-authors; so the
build records, per commit since the last production release: author AND committer, every
`Co-authored-by:` trailer, and the pull request named in the message ("Merge pull request #12 from
bob/branch", squash titles "... (#12)") with the GitHub login a merge commit names. The Lambda has no
network path to GitHub, so this is what the build can know; the merger of a GitHub merge commit is
its author, which is recorded.

Which commits? The Validate build may not read the ledger (its role is write-only on incoming/), so
it cannot ask which commit prod runs. `--since auto` therefore records one of:
- `tag`: the newest `prod-release-*` tag reachable from HEAD, range `<tag>..HEAD` (exact when the
  release process tags each release);
- `window`: no such tag: the last 30 days of history or the last 500 commits, whichever is more. A
  generous window is safe: the guard keeps only the commits after the ledger's last prod release, and
  fails closed if the window does not reach back that far.
Each commit carries its parents, so the guard can walk from HEAD to the last release itself.

The functions below are pure over `git log` output; `collect_change_identities` runs git.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "change-identities/v1"
RELEASE_TAG_GLOB = "prod-release-*"
WINDOW_DAYS = 30
WINDOW_COMMITS = 500

# Unit and record separators: never in names, e-mails or hashes; a message body may hold anything,
# so it is the last field of a record.
_FIELD, _RECORD, _LIST = "\x1f", "\x1e", "\x1d"
LOG_FORMAT = (
    _FIELD.join(
        ["%H", "%P", "%an", "%ae", "%cn", "%ce", "%cI", "%(trailers:key=Co-authored-by,valueonly,separator=%x1d)", "%B"]
    )
    + _RECORD
)
_MERGE_PR = re.compile(r"^Merge pull request #(?P<number>\d+) from (?P<login>[A-Za-z0-9-]+)/", re.MULTILINE)
_SQUASH_PR = re.compile(r"\(#(?P<number>\d+)\)\s*$", re.MULTILINE)
_NAME_EMAIL = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<email>[^>]+)>\s*$")


class IdentitiesError(Exception):
    pass


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class PullRequest:
    number: int
    login: str | None  # the head repository owner a merge commit names (GitHub login), when it does


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    committed_at: str
    subject: str
    co_authors: tuple[Person, ...] = ()
    pull_requests: tuple[PullRequest, ...] = ()

    def identities(self) -> set[str]:
        people = (self.author, self.committer, *self.co_authors)
        found = {value for p in people for value in (p.name, p.email) if value}
        return found | {pr.login for pr in self.pull_requests if pr.login}


def co_author(value: str) -> Person:
    match = _NAME_EMAIL.match(value)
    if match:
        return Person(match["name"], match["email"].strip().lower())
    return Person(value.strip(), "")


def pull_requests(message: str) -> tuple[PullRequest, ...]:
    found = {int(m["number"]): PullRequest(int(m["number"]), m["login"]) for m in _MERGE_PR.finditer(message)}
    subject = message.split("\n", 1)[0]
    for match in _SQUASH_PR.finditer(subject):
        found.setdefault(int(match["number"]), PullRequest(int(match["number"]), None))
    return tuple(found[n] for n in sorted(found))


def parse_log(text: str) -> list[Commit]:
    """Commits from `git log --format=LOG_FORMAT` output, newest first as git printed them."""
    commits = []
    for raw in text.split(_RECORD):
        raw = raw.lstrip("\n")
        if not raw:
            continue
        parts = raw.split(_FIELD)
        if len(parts) != 9:
            raise IdentitiesError(f"unexpected git log record ({len(parts)} fields, expected 9): {raw[:120]!r}")
        sha, parents, an, ae, cn, ce, committed, trailers, message = parts
        commits.append(
            Commit(
                sha=sha,
                parents=tuple(parents.split()),
                author=Person(an, ae.lower()),
                committer=Person(cn, ce.lower()),
                committed_at=committed,
                subject=message.split("\n", 1)[0],
                co_authors=tuple(co_author(v) for v in trailers.split(_LIST) if v.strip()),
                pull_requests=pull_requests(message),
            )
        )
    return commits


@dataclass(frozen=True)
class CommitRange:
    """What the build looked at: `since` is the exclusive start (all of `since..head`), or None for a
    window of the newest commits; `complete` says the window reached the first commit."""

    mode: str  # tag | explicit | window
    head: str
    since: str | None = None
    since_ref: str | None = None
    window: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    shallow: bool = False


def document(commit_range: CommitRange, commits: list[Commit], build: dict[str, str | None]) -> dict[str, Any]:
    """The change-identities.json the guard reads (schema change-identities/v1)."""
    everyone = set().union(*(c.identities() for c in commits)) if commits else set()
    data = {
        "schema": SCHEMA,
        "head": commit_range.head,
        "range": asdict(commit_range),
        "build": build,
        "commits": [asdict(c) for c in commits],
        "identities": sorted(everyone, key=str.lower),
    }
    result: dict[str, Any] = json.loads(json.dumps(data))  # plain JSON types, as the guard will read it
    return result


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=60)
    except FileNotFoundError as exc:
        raise IdentitiesError("git is not installed: the change's identities need the git history") from exc
    except subprocess.CalledProcessError as exc:
        raise IdentitiesError(f"`git {' '.join(args)}` failed in {root}: {exc.stderr.strip()[:300]}") from exc
    return out.stdout


def resolve_range(root: Path, since: str) -> CommitRange:
    """`since` is a commit-ish, or "auto" (newest prod-release-* tag, else the generous window)."""
    head = _git(root, "rev-parse", "HEAD").strip()
    shallow = _git(root, "rev-parse", "--is-shallow-repository").strip() == "true"
    if since != "auto":
        sha = _git(root, "rev-parse", "--verify", f"{since}^{{commit}}").strip()
        return CommitRange("explicit", head, since=sha, since_ref=since, shallow=shallow)
    tags = _git(root, "tag", "--list", RELEASE_TAG_GLOB, "--merged", "HEAD", "--sort=-creatordate").split()
    if tags:
        sha = _git(root, "rev-list", "-n", "1", tags[0]).strip()
        return CommitRange("tag", head, since=sha, since_ref=tags[0], shallow=shallow)
    recent = int(_git(root, "rev-list", "--count", f"--since={WINDOW_DAYS}.days", "HEAD").strip() or 0)
    total = int(_git(root, "rev-list", "--count", "HEAD").strip())
    limit = max(WINDOW_COMMITS, recent)
    return CommitRange(
        "window",
        head,
        window={"days": WINDOW_DAYS, "commits": limit},
        complete=total <= limit and not shallow,
        shallow=shallow,
    )


def commits_in(root: Path, commit_range: CommitRange) -> list[Commit]:
    args = ["log", f"--format={LOG_FORMAT}"]
    if commit_range.since is not None:
        if commit_range.since == commit_range.head:
            return []
        args.append(f"{commit_range.since}..{commit_range.head}")
    else:
        args += ["-n", str(commit_range.window["commits"]), commit_range.head]
    return parse_log(_git(root, *args))


def build_context(env: dict[str, str] | None = None) -> dict[str, str | None]:
    """Which pipeline execution and CodeBuild build produced the file: the guard accepts it only from
    that execution's Validate build."""
    variables = dict(os.environ if env is None else env)
    return {
        "pipeline": variables.get("PIPELINE_NAME") or None,
        "pipeline_execution_id": variables.get("PIPELINE_EXECUTION_ID") or None,
        "build_id": variables.get("CODEBUILD_BUILD_ID") or None,
        "build_arn": variables.get("CODEBUILD_BUILD_ARN") or None,
        "resolved_source_version": variables.get("CODEBUILD_RESOLVED_SOURCE_VERSION") or None,
    }


def collect_change_identities(root: Path, *, since: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    commit_range = resolve_range(root, since)
    build = build_context(env)
    source = build["resolved_source_version"]
    if source and source != commit_range.head:
        raise IdentitiesError(
            f"HEAD of {root} is {commit_range.head} but CodeBuild built {source}: the identities would "
            "describe another commit. Fix: run this step in the build's own checkout, before any git checkout."
        )
    return document(commit_range, commits_in(root, commit_range), build)


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
