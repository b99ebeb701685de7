"""Fakes for running the ChangeEvidence build spec: GitHub's REST API on 127.0.0.1 and the `aws` CLI.

The fake API serves what a test puts in, in GitHub's response shapes (simple-user, commit with
`commit.verification`, pull-request, review, repository activity), checks the bearer token, and pages
lists with `page`/`per_page` and a `Link: <...>; rel="next"` header as GitHub does. The fake `aws`
answers the two CodePipeline calls from a JSON file and stores `s3api put-object` bodies on disk,
refusing a second write of a key like If-None-Match does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN = "test-token-not-a-secret"
REPOSITORY = "globant-data/data-platform"


def user(login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    """GitHub's simple-user."""
    return {
        "login": login,
        "id": user_id,
        "node_id": f"U_{user_id}",
        "type": kind,
        "site_admin": False,
        "url": f"https://api.github.test/users/{login}",
    }


class FakeGitHub:
    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.failures: dict[str, int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def commit(
        self,
        sha: str,
        *,
        author: dict[str, Any] | None,
        committer: dict[str, Any] | None = None,
        verified: bool = False,
        pulls: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> None:
        self.routes[f"/repos/{REPOSITORY}/commits/{sha}"] = {
            "sha": sha,
            "node_id": f"C_{sha[:8]}",
            "commit": {
                "author": {"name": "n", "email": "e@example.com", "date": "2026-03-01T10:00:00Z"},
                "committer": {"name": "n", "email": "e@example.com", "date": "2026-03-01T10:00:00Z"},
                "message": "change",
                "verification": {
                    "verified": verified,
                    "reason": "valid" if verified else "unsigned",
                    "signature": None,
                    "payload": None,
                },
            },
            "author": author,
            "committer": committer if committer is not None else author,
            "parents": [],
        }
        self.routes[f"/repos/{REPOSITORY}/commits/{sha}/pulls"] = [
            {k: v for k, v in p.items() if k in ("number", "state", "user", "merged_at", "base", "merge_commit_sha")}
            for p in pulls
        ]

    def pull(
        self,
        number: int,
        *,
        author: dict[str, Any],
        merged_by: dict[str, Any] | None,
        approvers: list[dict[str, Any]] = (),  # type: ignore[assignment]
        base: str = "main",
        merge_commit_sha: str | None = None,
    ) -> dict[str, Any]:
        pull = {
            "number": number,
            "state": "closed",
            "user": author,
            "merged": merged_by is not None,
            "merged_at": "2026-03-01T11:00:00Z" if merged_by else None,
            "merged_by": merged_by,
            "merge_commit_sha": merge_commit_sha,
            "base": {"ref": base, "sha": "b" * 40},
            "head": {"ref": f"feature-{number}", "sha": "c" * 40},
        }
        self.routes[f"/repos/{REPOSITORY}/pulls/{number}"] = pull
        reviews = [
            {"id": 9000 + i, "user": who, "state": "APPROVED", "commit_id": "c" * 40} for i, who in enumerate(approvers)
        ]
        reviews.append({"id": 8999, "user": author, "state": "COMMENTED", "commit_id": "c" * 40})
        self.routes[f"/repos/{REPOSITORY}/pulls/{number}/reviews"] = reviews
        return pull

    def activity(self, entries: list[dict[str, Any]]) -> None:
        """Newest first, as GitHub lists it."""
        self.routes[f"/repos/{REPOSITORY}/activity"] = [
            {"id": 700 + i, "node_id": f"A_{i}", "ref": "refs/heads/main", "timestamp": "2026-03-01T12:00:00Z", **e}
            for i, e in enumerate(entries)
        ]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                fake.requests.append((parsed.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"message": "Bad credentials", "status": "401"})
                if parsed.path in fake.failures:
                    return self._send(fake.failures[parsed.path], {"message": "Server Error"})
                if parsed.path not in fake.routes:
                    return self._send(404, {"message": "Not Found", "status": "404"})
                body = fake.routes[parsed.path]
                if not isinstance(body, list):
                    return self._send(200, body)
                per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
                chunk = body[(page - 1) * per_page : page * per_page]
                headers = {}
                if page * per_page < len(body):
                    following = urllib.parse.urlencode({**query, "page": page + 1})
                    headers["Link"] = f'<{fake.url}{parsed.path}?{following}>; rel="next"'
                return self._send(200, chunk, headers)

        return Handler


FAKE_AWS = '''#!{python}
"""Fake aws CLI: codepipeline answers from $FAKE_AWS_STATE, s3api put-object writes under $FAKE_AWS_S3."""
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
def opt(name):
    return args[args.index(name) + 1] if name in args else None
state = json.load(open(os.environ["FAKE_AWS_STATE"]))
if args[:2] == ["codepipeline", "list-action-executions"]:
    items, size = state["action_executions"], int(opt("--max-items") or 1000)
    start = int(opt("--starting-token") or 0)
    page = {{"actionExecutionDetails": items[start:start + size]}}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    print(json.dumps(page))
elif args[:2] == ["codepipeline", "get-pipeline-execution"]:
    commit = state["executions"].get(opt("--pipeline-execution-id"))
    if commit is None:
        sys.exit("An error occurred (PipelineExecutionNotFoundException)")
    print(json.dumps({{"pipelineExecution": {{"artifactRevisions": [{{"name": "Source", "revisionId": commit}}]}}}}))
elif args[:2] == ["s3api", "put-object"]:
    target = os.path.join(os.environ["FAKE_AWS_S3"], opt("--bucket"), opt("--key"))
    if os.path.exists(target) and opt("--if-none-match") == "*":
        sys.exit("An error occurred (PreconditionFailed) when calling the PutObject operation")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(opt("--body"), target)
    print(json.dumps({{"ETag": "\\"e\\""}}))
else:
    sys.exit("fake aws: unexpected call " + " ".join(args))
'''


class FakeAws:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.s3 = root / "s3"
        self.log = root / "aws.log"
        self.state = root / "aws-state.json"
        script = self.bin / "aws"
        script.write_text(FAKE_AWS.format(python=os.path.realpath(sys.executable)))
        script.chmod(0o755)
        self.pipeline(action_executions=[], executions={})

    def pipeline(self, *, action_executions: list[dict[str, Any]], executions: dict[str, str]) -> None:
        self.state.write_text(json.dumps({"action_executions": action_executions, "executions": executions}))

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def objects(self) -> dict[str, Any]:
        return {str(p.relative_to(self.s3)): json.loads(p.read_text()) for p in self.s3.rglob("*") if p.is_file()}

    def env(self) -> dict[str, str]:
        return {"FAKE_AWS_LOG": str(self.log), "FAKE_AWS_STATE": str(self.state), "FAKE_AWS_S3": str(self.s3)}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}
    ).stdout.strip()


def commit(repo: Path, files: dict[str, str], *, author: tuple[str, str], message: str = "change", **kw: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    name, email = author
    committer = kw.get("committer", f"{name} <{email}>")
    c_name, c_email = committer.rstrip(">").split(" <")
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": c_name,
        "GIT_COMMITTER_EMAIL": c_email,
    }
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD")
