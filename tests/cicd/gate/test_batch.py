"""The CodeBuild batch build graph the gate generates from its own checks."""

import pytest
import yaml

from cicd.gate.batch import (
    FAST,
    REPORT,
    SMALL,
    ValidateCommands,
    batch_build_spec,
    build_graph,
    parse_shard,
    shard,
    write_batch_spec,
)
from cicd.gate.keys import KeyMaker
from cicd.gate.model import GateContext
from cicd.gate.registry import all_checks
from cicd.gate.runner import select_checks

CHECKS = all_checks()
BY_NAME = {c.name: c for c in CHECKS}
VALIDATE = ValidateCommands(stage_packages="make packages", main="make validate")


@pytest.fixture(scope="module")
def tasks():
    return build_graph(CHECKS, test_shards=3)


def test_every_check_runs_in_exactly_one_task_and_the_report_waits_for_all(tasks):
    work = [t for t in tasks if t.identifier != REPORT]
    placed = [name for t in work if not t.test_shard or t.test_shard.startswith("1/") for name in t.checks]
    assert sorted(placed) == sorted(BY_NAME)
    [report] = [t for t in tasks if t.identifier == REPORT]
    assert report.depend_on == [t.identifier for t in work]
    assert report.command(VALIDATE) == "make packages && make validate"  # Validate's own commands


def test_identifiers_are_unique_valid_and_every_dependency_exists(tasks):
    ids = [t.identifier for t in tasks]
    assert len(ids) == len(set(ids))
    assert all(i.replace("_", "").isalnum() and i[0].isalpha() for i in ids)
    for task in tasks:
        assert set(task.depend_on) <= set(ids) - {task.identifier}


def test_each_task_holds_what_its_checks_need_so_no_task_reads_another_machines_files(tmp_path, tasks):
    ctx = GateContext(tmp_path, tmp_path)
    for task in tasks:
        if task.identifier == REPORT:
            continue
        closure = {c.name for c in select_checks(CHECKS, ctx, only=task.checks)}
        assert closure == set(task.checks), task.identifier


def test_the_cheap_checks_others_wait_for_run_first_and_gate_their_dependents(tasks):
    [fast] = [t for t in tasks if t.identifier == FAST]
    assert set(fast.checks) == {g for c in CHECKS for g in c.after}
    by_check = {name: t for t in tasks if t.identifier != REPORT for name in t.checks}
    for check in CHECKS:
        if check.after and check.name not in fast.checks:
            assert FAST in by_check[check.name].depend_on, check.name


def test_unit_tests_are_sharded_and_short_checks_share_one_machine(tasks):
    shards = [t for t in tasks if t.test_shard]
    assert [t.test_shard for t in shards] == ["1/3", "2/3", "3/3"]
    assert all("--only unit-tests --test-shard" in t.command(VALIDATE) for t in shards)
    [small] = [t for t in tasks if t.identifier == SMALL]
    assert all(BY_NAME[n].expected_seconds < 20 for n in small.checks) and len(small.checks) > 1


def test_shards_partition_the_modules():
    modules = [f"tests/test_{i:02d}.py" for i in range(10)]
    parts = [shard(modules, i, 3) for i in (1, 2, 3)]
    assert sorted(m for p in parts for m in p) == modules
    assert [len(p) for p in parts] == [4, 3, 3]
    with pytest.raises(ValueError, match="between 1 and 3"):
        shard(modules, 4, 3)
    assert parse_shard("2/3") == (2, 3)


def test_a_shards_pass_is_stored_under_its_own_key_never_as_the_whole_suites(tmp_path):
    unit = BY_NAME["unit-tests"]
    whole = KeyMaker(GateContext(tmp_path, tmp_path)).parts(unit)
    one = KeyMaker(GateContext(tmp_path, tmp_path, test_shard=(1, 2))).parts(unit)
    assert "shard" not in whole and one["shard"] == "1/2"


def test_the_written_spec_is_validates_build_spec_with_the_graph(tmp_path):
    path = write_batch_spec(CHECKS, tmp_path / "buildspec-batch.yml", test_shards=2)
    spec = yaml.safe_load(path.read_text())
    assert spec["version"] == "0.2" and spec["batch"]["fast-fail"] is True
    assert spec["phases"]["install"]["runtime-versions"]["python"] == "3.11"
    assert spec["phases"]["build"]["commands"] == ["make venv", 'eval "$GATE_COMMAND"']
    graph = spec["batch"]["build-graph"]
    assert {e["identifier"] for e in graph} >= {FAST, REPORT, "unit_tests_1", "unit_tests_2"}
    for entry in graph:
        assert set(entry) <= {"identifier", "env", "depend-on", "buildspec", "ignore-failure", "debug-session"}
        command = entry["env"]["variables"]["GATE_COMMAND"].removeprefix("make packages && ")
        assert command == "make validate" or command.startswith(".venv/bin/python -m cicd validate --only ")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = write_batch_spec(CHECKS, tmp_path_factory.mktemp("batch") / "buildspec-batch.yml", test_shards=2)
    return yaml.safe_load(path.read_text())


def test_the_batch_caches_only_what_the_trusted_validate_build_may(written):
    """Issue 17 #5: a cached .venv or uv cache carried an unapproved commit's .pth hook into approved builds.

    tests/constructs/test_gate_build_spec.py plays that attack against TRUSTED_CACHE_PATHS; the batch, which
    runs in the same trusted Validate project, must cache exactly those paths and install the toolchain fresh.
    """
    from constructs.gate_build_spec import TOOLCHAIN_CACHE_PATHS, TRUSTED_CACHE_PATHS

    assert written["cache"]["paths"] == TRUSTED_CACHE_PATHS
    assert not set(written["cache"]["paths"]) & (set(TOOLCHAIN_CACHE_PATHS) - set(TRUSTED_CACHE_PATHS))
    assert written["phases"]["build"]["commands"][0] == "make venv"


def test_the_batch_and_the_pipelines_validate_step_share_one_spec(written):
    from constructs.gate_build_spec import MAIN_COMMAND, STAGE_PACKAGES_COMMAND, validate_build_spec_object

    validate = validate_build_spec_object()
    assert written["env"] == validate["env"] and written["env"]["variables"]["PACKAGES_REQUIRED"] == "true"
    assert written["phases"]["install"] == validate["phases"]["install"]
    [report] = [e for e in written["batch"]["build-graph"] if e["identifier"] == REPORT]
    assert report["env"]["variables"]["GATE_COMMAND"] == f"{STAGE_PACKAGES_COMMAND} && {MAIN_COMMAND}"
    # Nothing in it judges the change: that happens outside the build (ChangeEvidence, TrustBoundaryCheck).
    text = yaml.safe_dump(written)
    assert "change-identities" not in text and "git diff" not in text and "TRUST_BOUNDARY" not in text


def post_build_effect(written, task: str, tmp_path) -> tuple[list[str], str]:
    """Run the batch's post_build as CodeBuild's one shell would, for one task: what `make` ran, RELEASE_ID."""
    import os
    import subprocess

    bin_dir, log = tmp_path / "bin", tmp_path / "make.log"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "make").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (bin_dir / "make").chmod(0o755)
    (tmp_path / "build/cdk.out/evidence").mkdir(parents=True, exist_ok=True)
    (tmp_path / "build/cdk.out/evidence/release-id").write_text("r-123")
    script = "\n".join([*written["phases"]["post_build"]["commands"], 'echo "RELEASE_ID=${RELEASE_ID:-}"'])
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GATE_TASK": task}
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    ran = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return ran, out.stdout.strip()


def test_only_the_report_task_records_evidence_and_exports_the_release_id(written, tmp_path):
    """One evidence record per Validate build, from the task that built the release the pipeline deploys."""
    assert post_build_effect(written, "unit_tests_1", tmp_path) == ([], "RELEASE_ID=")
    assert post_build_effect(written, REPORT, tmp_path) == (["audit-evidence"], "RELEASE_ID=r-123")


def test_tasks_whose_checks_read_the_staged_packages_stage_them_first_and_only_those(written):
    commands = {e["identifier"]: e["env"]["variables"]["GATE_COMMAND"] for e in written["batch"]["build-graph"]}
    for task in build_graph(CHECKS, test_shards=2):
        staged = commands[task.identifier].startswith("make packages && ")
        reads = task.identifier == REPORT or any(BY_NAME[name].reads_staged_packages for name in task.checks)
        assert staged == reads, task.identifier
    assert commands["cdk_synth"].startswith("make packages && ") and not commands[FAST].startswith("make packages")


def test_a_spec_without_post_build_gets_none(tmp_path):
    spec = batch_build_spec(build_graph(CHECKS), {"phases": {"install": {}}}, VALIDATE)
    assert "post_build" not in spec["phases"]
