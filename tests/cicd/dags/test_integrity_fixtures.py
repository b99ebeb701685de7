"""Every integrity rule catches its deliberately broken fixture, parsed by the real Airflow.

One probe run over tests/fixtures/dags/broken (a file per rule, each otherwise compliant), one over
a copy of the real DAG folder with broken specs added. The syntax-error fixture is stored as .txt
so that the repository's linters do not trip over it, and becomes .py in the copy.
"""

import shutil
from pathlib import Path

import pytest
import yaml

from cicd.dags.baseline import Acknowledgement
from cicd.dags.integrity import dbt_selectors, probe_folder, spark_jobs
from cicd.dags.policy import load_policy
from cicd.dags.rules import FIXES, Inputs, evaluate
from cicd.dags.scaffold import write_dag_file

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "dags" / "broken"
# A short import timeout keeps the hanging fixture from costing Airflow's default 30 s.
POLICY = load_policy().model_copy(update={"import_timeout_seconds": 3})

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken") / "dags"
    shutil.copytree(FIXTURES, folder)
    (folder / "syntax_error.py.txt").rename(folder / "syntax_error.py")
    facts, _ = probe_folder(folder, root=ROOT, policy=POLICY)
    return folder, facts


def findings_for(broken, **inputs):
    folder, facts = broken
    return evaluate(facts, Inputs(root=folder, policy=POLICY, **inputs))


def by_file(findings) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for finding in findings:
        result.setdefault(finding.file, set()).add(finding.rule.removeprefix("dag:"))
    return result


EXPECTED = {
    "syntax_error.py": "syntax-error",
    "import_error.py": "import-error",
    "dag_cycle.py": "dag-cycle",
    "duplicate_dag_id_b.py": "duplicate-dag-id",
    "missing_owner.py": "missing-owner",
    "owner_not_allowed.py": "owner-not-allowed",
    "network_at_parse.py": "network-at-parse",
    "network_swallowed.py": "network-at-parse",
    "variable_at_parse.py": "variable-at-parse",
    "connection_at_parse.py": "connection-at-parse",
    "platform_config_at_parse.py": "platform-config-at-parse",
    "naive_start_date.py": "naive-start-date",
    "catchup_enabled.py": "catchup-enabled",
    "retries_too_low.py": "retries-too-low",
    "tag_not_allowed.py": "tag-not-allowed",
    "missing_tags.py": "missing-tags",
    "missing_dagrun_timeout.py": "missing-dagrun-timeout",
    "missing_task_timeout.py": "missing-task-timeout",
    "missing_schedule.py": "missing-schedule",
    "max_active_runs.py": "max-active-runs",
    "missing_doc.py": "missing-doc",
    "literal_environment_value.py": "literal-environment-value",
    "slow_parse.py": "parse-time-budget",
    "parse_timeout.py": "parse-timeout",
    "no_dag_in_file.py": "no-dag-in-file",
    "helper_module.py": "not-a-dag-file",
}


@pytest.mark.parametrize(("name", "rule"), sorted(EXPECTED.items()))
def test_rule_catches_its_fixture(broken, name, rule):
    """The fixture breaks exactly one rule, and the finding says where and how to fix it."""
    found = [f for f in findings_for(broken) if f.file == name]
    assert {f.rule for f in found} == {f"dag:{rule}"}, [f.render() for f in found]
    for finding in found:
        assert finding.fix == FIXES[rule]
        assert finding.message


@pytest.mark.parametrize(
    ("name", "line", "phrase"),
    [
        ("syntax_error.py", 5, "SyntaxError"),
        ("import_error.py", 8, "No module named 'platform_helpers_that_do_not_exist'"),
        ("network_at_parse.py", 10, "config.example.com"),
        ("network_swallowed.py", 12, "metadata.example.com"),
        ("variable_at_parse.py", 10, "Variable.get('raw_bucket')"),
        ("connection_at_parse.py", 10, "snowflake_default"),
        ("platform_config_at_parse.py", 10, "conf.get('platform', 'raw_bucket')"),
        ("missing_owner.py", 10, "DAG missing_owner:"),
        ("dag_cycle.py", None, "Cycle detected in DAG: dag_cycle"),
        ("duplicate_dag_id_b.py", None, "duplicate_dag_id (also in duplicate_dag_id_a.py)"),
    ],
)
def test_findings_name_the_line_and_the_cause(broken, name, line, phrase):
    (finding,) = [f for f in findings_for(broken) if f.file == name]
    assert finding.line == line
    assert phrase in finding.message


def test_the_compliant_dag_and_the_first_of_two_duplicates_pass(broken):
    files = by_file(findings_for(broken))
    assert "good_hand_written.py" not in files
    assert "duplicate_dag_id_a.py" not in files
    assert set(files) == set(EXPECTED)


def test_network_stays_blocked_even_when_a_file_swallows_the_error(broken):
    _, facts = broken
    (entry,) = [e for e in facts["files"] if e["path"].endswith("network_swallowed.py")]
    assert entry["error"] is None and entry["dag_ids"] == ["network_swallowed"]
    assert any(a["kind"] == "network-at-parse" and a["file"] == entry["path"] for a in facts["attempts"])


def test_removed_task_is_caught_against_the_baseline(broken):
    base = {"good_hand_written": ("extract", "publish", "validate")}
    (finding,) = [f for f in findings_for(broken, base_baseline=base) if f.rule == "dag:task-removed"]
    assert finding.file == "good_hand_written.py"
    assert "task validate was removed or renamed" in finding.message
    ack = Acknowledgement(
        dag_id="good_hand_written", task_id="validate", reason="folded into extract", acknowledged_by="ana"
    )
    assert not [
        f for f in findings_for(broken, base_baseline=base, acknowledgements=[ack]) if f.rule == "dag:task-removed"
    ]


def test_parse_times_are_measured_per_file(broken):
    _, facts = broken
    seconds = {Path(e["path"]).name: e["seconds"] for e in facts["files"]}
    assert seconds["slow_parse.py"] >= 0.8
    assert 3 <= seconds["parse_timeout.py"] < 13
    busy = {Path(e["path"]).name: e["busy_seconds"] for e in facts["files"]}
    assert busy["slow_parse.py"] >= 0.8  # sleeping is not waiting for a CPU: it counts
    assert busy["good_hand_written.py"] < POLICY.parse_budget_seconds  # however busy the machine is


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    """The real DAG folder plus three broken pipelines."""
    root = tmp_path_factory.mktemp("specs")
    folder = root / "dags"
    shutil.copytree(ROOT / "dags", folder, ignore=shutil.ignore_patterns("__pycache__", ".*_cache"))
    crm = yaml.safe_load((folder / "pipelines" / "crm_accounts.yaml").read_text())
    bad = crm | {"id": "crm_bad_size", "spark": {"job": "crm_accounts_batch", "size": "huge"}}
    (folder / "pipelines" / "crm_bad_size.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    write_dag_file(folder, "crm_bad_size")
    orphan = crm | {"id": "crm_orphan"}
    (folder / "pipelines" / "crm_orphan.yaml").write_text(yaml.safe_dump(orphan, sort_keys=False))
    unknown = crm | {"id": "crm_unknown_selector", "dbt": {"selector": "crm_unknown_selector"}}
    (folder / "pipelines" / "crm_unknown_selector.yaml").write_text(yaml.safe_dump(unknown, sort_keys=False))
    write_dag_file(folder, "crm_unknown_selector")
    no_job = crm | {"id": "crm_unknown_job", "spark": {"job": "crm_contacts_batch", "size": "small"}}
    (folder / "pipelines" / "crm_unknown_job.yaml").write_text(yaml.safe_dump(no_job, sort_keys=False))
    write_dag_file(folder, "crm_unknown_job")
    facts, _ = probe_folder(folder, root=ROOT, policy=POLICY)
    inputs = Inputs(root=root, policy=POLICY, dbt_selectors=dbt_selectors(ROOT), spark_jobs=spark_jobs(ROOT))
    return root, evaluate(facts, inputs)


def test_bad_spec_is_reported_on_its_field_and_line(specs):
    root, findings = specs
    (finding,) = [f for f in findings if f.file == "dags/pipelines/crm_bad_size.yaml"]
    assert finding.rule == "dag:spec-value-not-allowed"
    assert finding.message.startswith("spark.size: Input should be 'small', 'medium' or 'large'")
    spec_lines = (root / finding.file).read_text().splitlines()
    assert spec_lines[finding.line - 1].strip().startswith("size:")
    assert not [f for f in findings if f.file == "dags/crm_bad_size.py"]  # not reported twice


def test_spec_without_dag_file_unknown_selector_and_unknown_spark_job(specs):
    _, findings = specs
    assert {(f.file, f.rule) for f in findings} == {
        ("dags/pipelines/crm_bad_size.yaml", "dag:spec-value-not-allowed"),
        ("dags/pipelines/crm_orphan.yaml", "dag:spec-without-dag-file"),
        ("dags/pipelines/crm_unknown_selector.yaml", "dag:unknown-dbt-selector"),
        ("dags/pipelines/crm_unknown_job.yaml", "dag:unknown-spark-job"),
    }
