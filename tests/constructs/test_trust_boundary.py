"""The trust-boundary classification, in Python and as the deployed build spec's shell runs it on real git."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from constructs import trust_boundary


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("pipeline_assets/approval_guard/policy.py", True),
        ("pipeline_assets/ledger/store.py", True),
        ("constructs/evidence_functions.py", True),
        ("constructs/approver_access.py", True),
        ("stacks/delivery_pipeline_stack.py", True),
        ("stacks/delivery_audit_stack.py", True),
        ("constructs/trust_boundary.py", True),  # the classifier cannot exempt itself
        ("config/prod.yaml", True),  # approvers, break-glass and identity aliases live here
        ("config/model.py", True),
        ("dags/crm_accounts.py", False),
        ("stacks/delivery_pipeline_stack_notes.md", False),  # a file, not a prefix
        ("pipeline_assets/approval_guard_docs/x.md", False),
    ],
)
def test_paths_inside_and_outside_the_boundary(path, inside):
    assert trust_boundary.in_boundary(path) is inside


def test_boundary_changes_lists_only_the_paths_inside_sorted():
    changes = ["dags/a.py", "pipeline_assets/ledger/layout.py", "app.py", "dags/a.py"]
    assert trust_boundary.boundary_changes(changes) == ["app.py", "pipeline_assets/ledger/layout.py"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _commit(repo: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "change")
    return _git(repo, "rev-parse", "HEAD")


def _run_build_spec(repo: Path, base_commit: str) -> tuple[str, dict]:
    script = "\n".join(
        ["set -e", *trust_boundary.classify_commands(), f'echo "{trust_boundary.VARIABLE}=${trust_boundary.VARIABLE}"']
    )
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "BASE_COMMIT": base_commit,
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "head",
    }
    out = subprocess.run(["bash", "-c", script], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout
    evidence = json.loads((repo / trust_boundary.EVIDENCE_FILE).read_text())
    return out.strip().splitlines()[-1], evidence


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("python3") is None, reason="needs git and python3")
def test_the_build_spec_commands_classify_a_real_git_diff_like_the_python(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    base = _commit(
        repo,
        {
            "dags/a.py": "a\n",
            "config/prod.yaml": "approval:\n  required: true\n  bake_minutes: 20\n",
            "pipeline_assets/approval_guard/policy.py": "v1\n",
        },
    )
    _commit(repo, {"dags/a.py": "b\n", "docs/x.md": "outside\n"})
    line, evidence = _run_build_spec(repo, base)
    assert line == f"{trust_boundary.VARIABLE}=false"
    assert evidence["changed"] is False and evidence["paths"] == [] and evidence["baseline_commit"] == base

    _commit(
        repo,
        {
            "pipeline_assets/approval_guard/policy.py": "v2\n",
            "config/prod.yaml": "approval:\n  required: false\n  bake_minutes: 30\n",
        },
    )
    line, evidence = _run_build_spec(repo, base)
    assert line == f"{trust_boundary.VARIABLE}=true"
    assert evidence["paths"] == ["config/prod.yaml", "pipeline_assets/approval_guard/policy.py"]
    # The shell and the Python classification agree on the same change.
    assert evidence["paths"] == trust_boundary.boundary_changes(
        ["dags/a.py", "docs/x.md", "config/prod.yaml", "pipeline_assets/approval_guard/policy.py"]
    )


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("python3") is None, reason="needs git and python3")
@pytest.mark.parametrize("base_commit", ["", "None", "0" * 40])
def test_no_usable_baseline_fails_closed(tmp_path, base_commit):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _commit(repo, {"dags/a.py": "a\n"})
    line, evidence = _run_build_spec(repo, base_commit)
    assert line == f"{trust_boundary.VARIABLE}=true"
    assert evidence["changed"] is True and evidence["paths"][0].startswith("no-baseline:")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_baseline_is_the_commit_of_the_newest_execution_through_self_mutation(tmp_path):
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/bash\n"
        'printf "%s\\n" "$@" >> "$LOG"\n'
        'case "$2" in list-action-executions) echo exec-7 ;; get-pipeline-execution) echo abc123 ;; esac\n'
    )
    fake.chmod(0o755)
    log = tmp_path / "aws.log"
    script = "\n".join([*trust_boundary.baseline_commands(), 'echo "$BASE_EXECUTION $BASE_COMMIT"'])
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "LOG": str(log), "PIPELINE_NAME": "data-platform-delivery"}
    out = subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, text=True).stdout
    assert out.strip() == "exec-7 abc123"
    args = log.read_text().splitlines()
    query = args[args.index("--query") + 1]
    assert (
        query == "actionExecutionDetails[?stageName=='UpdatePipeline' && status=='Succeeded'] | [0].pipelineExecutionId"
    )
    assert args[args.index("--pipeline-execution-id") + 1] == "exec-7"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_failing_aws_call_leaves_no_baseline(tmp_path):
    script = "\n".join([*trust_boundary.baseline_commands(), 'echo "[$BASE_COMMIT]"'])
    bash = shutil.which("bash") or "bash"
    out = subprocess.run([bash, "-c", script], env={"PATH": str(tmp_path)}, capture_output=True, text=True).stdout
    assert out.strip() == "[]"  # no aws at all: empty, and classify_commands then fails closed
