"""The task baseline: what it records, reading it at the base of a change, and acknowledgements."""

import json
import subprocess
import time
from pathlib import Path

import pytest

from cicd.dags import baseline
from cicd.dags.baseline import BASELINE_PATH, BaselineError

BOMB = Path(__file__).resolve().parents[2] / "fixtures" / "yaml" / "billion_laughs.yaml"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "ci@example.com")
    git(tmp_path, "config", "user.name", "ci")
    (tmp_path / "README").write_text("x")
    git(tmp_path, "add", "README")
    git(tmp_path, "commit", "-q", "-m", "start")
    return tmp_path


def test_from_facts_sorts_task_ids():
    facts = {"dags": [{"dag_id": "d", "tasks": [{"task_id": "b"}, {"task_id": "a"}]}]}
    assert baseline.from_facts(facts) == {"d": ("a", "b")}


def test_render_and_parse_round_trip():
    recorded = {"b_dag": ("load", "ingest"), "a_dag": ("x",)}
    text = baseline.render(recorded)
    assert list(json.loads(text)["dags"]) == ["a_dag", "b_dag"]
    assert baseline.parse(text, "f") == {"a_dag": ("x",), "b_dag": ("ingest", "load")}


@pytest.mark.parametrize(("text", "message"), [("{not json", "not valid JSON"), ('{"dags": []}', "expected")])
def test_a_broken_baseline_names_the_file(text, message):
    with pytest.raises(BaselineError, match=message) as caught:
        baseline.parse(text, "cicd/dags/baseline.json")
    assert caught.value.file == "cicd/dags/baseline.json"


def test_the_baseline_at_the_base_of_a_change_ignores_edits_made_in_the_change(repo):
    path = repo / BASELINE_PATH
    path.parent.mkdir(parents=True)
    baseline.write(path, {"crm_accounts": ("ingest", "load", "transform")})
    git(repo, "add", BASELINE_PATH)
    git(repo, "commit", "-q", "-m", "baseline")
    git(repo, "checkout", "-q", "-b", "change")
    baseline.write(path, {"crm_accounts": ("ingest", "transform")})  # the change drops `load` from the baseline too
    git(repo, "commit", "-qam", "drop load")
    assert baseline.at_ref(repo, "main") == {"crm_accounts": ("ingest", "load", "transform")}
    assert baseline.read(path) == {"crm_accounts": ("ingest", "transform")}


def test_no_baseline_at_the_base_means_every_dag_is_new(repo):
    assert baseline.at_ref(repo, "main") == {}


def test_unknown_ref_is_an_error(repo):
    with pytest.raises(BaselineError, match="cannot read the baseline"):
        baseline.at_ref(repo, "no-such-branch")


def test_acknowledgements_need_a_reason_and_a_name(tmp_path):
    path = tmp_path / "acknowledged_removals.yaml"
    assert baseline.read_acknowledgements(path) == []
    path.write_text("- dag_id: crm_accounts\n  task_id: load\n  reason: ok\n  acknowledged_by: ana\n")
    with pytest.raises(BaselineError, match="entry 1: reason"):
        baseline.read_acknowledgements(path)
    path.write_text(
        "- dag_id: crm_accounts\n  task_id: load\n  reason: the load moved into ingest (COPY from Spark)\n"
        "  acknowledged_by: ana\n"
    )
    (ack,) = baseline.read_acknowledgements(path)
    assert (ack.dag_id, ack.task_id) == ("crm_accounts", "load")


def test_committed_files_are_valid():
    root = Path(__file__).resolve().parents[3]
    assert baseline.read(root / BASELINE_PATH)
    baseline.read_acknowledgements(root / baseline.ACKNOWLEDGEMENTS_PATH)


def test_a_billion_laughs_acknowledgements_file_fails_fast_naming_the_file_and_line(tmp_path):
    path = tmp_path / "acknowledged_removals.yaml"
    path.write_bytes(BOMB.read_bytes())
    started = time.perf_counter()
    with pytest.raises(BaselineError) as caught:
        baseline.read_acknowledgements(path)
    assert time.perf_counter() - started < 5
    assert (caught.value.file, caught.value.line) == (str(path), 3)
    assert "anchor &l0 is not allowed" in str(caught.value)
