"""The probe's pure parts: classifying Airflow's import errors, spotting literal environment values."""

from pathlib import Path

import pytest

from cicd.dags.integrity import percentile
from cicd.dags.probe import LITERAL_ENVIRONMENT_VALUE, classify

DAGS_FOLDER = Path(__file__).resolve().parents[3] / "dags"

PATH = "/repo/dags/x.py"


def traceback_of(*frames: tuple[str, int], last: str) -> str:
    lines = ["Traceback (most recent call last):"]
    for file, line in frames:
        lines += [f'  File "{file}", line {line}, in <module>', "    something()"]
    return "\n".join([*lines, last]) + "\n"


def test_module_not_found_is_an_import_error_at_the_dag_files_line():
    text = traceback_of(
        ("<frozen importlib._bootstrap>", 1), (PATH, 7), last="ModuleNotFoundError: No module named 'x'"
    )
    assert classify(text, PATH) == {
        "kind": "import-error",
        "exception": "ModuleNotFoundError",
        "message": "No module named 'x'",
        "line": 7,
        "missing_module": "x",
    }


def test_a_missing_module_names_the_innermost_line_inside_the_dag_folder_that_imports_it():
    """A DAG file failing through the helper package: the fix goes on the helper's import line."""
    folder = str(Path(PATH).parent)
    helper = f"{folder}/platform_dags/spec.py"
    text = traceback_of(
        (PATH, 12),
        (helper, 22),
        ("<frozen importlib._bootstrap>", 1),
        last="ModuleNotFoundError: No module named 'a.b'",
    )
    result = classify(text, PATH, folder)
    assert (result["missing_module"], result["origin_file"], result["origin_line"]) == ("a.b", helper, 22)
    assert result["line"] == 12


def test_syntax_error_takes_the_line_of_the_caret_frame():
    text = f"  File \"{PATH}\", line 5\n    with DAG(x) as dag\n                      ^\nSyntaxError: expected ':'\n"
    result = classify(text, PATH)
    assert (result["kind"], result["line"], result["message"]) == ("syntax-error", 5, "expected ':'")


@pytest.mark.parametrize(
    ("last", "kind"),
    [
        ("airflow.exceptions.AirflowDagCycleException: Cycle detected in DAG: d. Faulty task: t", "dag-cycle"),
        ("AirflowDagDuplicatedIdException: Ignoring DAG d from x - also found in y", "duplicate-dag-id"),
        ("airflow.exceptions.AirflowTaskTimeout: DagBag import timeout for x after 30.0s.", "parse-timeout"),
        ("cicd.dags.probe.VariableAccessError: Variable.get('k') while parsing", "variable-at-parse"),
        ("NetworkAccessError: socket.create_connection(('h', 443)) while parsing", "network-at-parse"),
        ("KeyError: 'AIRFLOW__PLATFORM__RAW_BUCKET'", "platform-config-at-parse"),
        ("ValueError: something else", "import-error"),
    ],
)
def test_exception_types_map_to_rules(last, kind):
    assert classify(traceback_of((PATH, 3), last=last), PATH)["kind"] == kind


def test_a_multi_line_message_keeps_its_exception_type():
    text = traceback_of(
        (PATH, 13),
        ("/repo/dags/platform_dags/spec.py", 240),
        last="platform_dags.spec.PipelineSpecError: invalid pipeline spec:\n  pipelines/x.yaml:4: spark.size: bad",
    )
    result = classify(text, PATH)
    assert (result["kind"], result["exception"], result["line"]) == ("invalid-spec", "PipelineSpecError", 13)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("aws s3 sync s3://acme-prod-raw/inbound/ /tmp", ["s3://acme-prod-raw/inbound/"]),
        ("s3://{{ conf.get('platform', 'raw_bucket') }}/landing/", []),
        ("--role arn:aws:iam::111122223333:role/job", ["arn:aws:iam::111122223333:role/job"]),
        ("COPY INTO T FROM @STAGE/landing/", []),
    ],
)
def test_literal_environment_values(text, found):
    assert [m.group(0) for m in LITERAL_ENVIRONMENT_VALUE.finditer(text)] == found


def test_nearest_rank_percentile():
    values = [0.01 * n for n in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(0.50)
    assert percentile(values, 0.95) == pytest.approx(0.95)
    assert percentile([0.3], 0.95) == 0.3
    assert percentile([], 0.95) == 0.0


def test_write_audit_publish_tasks_are_recognised_with_their_pool():
    import pendulum
    from airflow.models.dag import DAG
    from airflow.operators.bash import BashOperator
    from platform_dags import pipeline_dags

    from cicd.dags.probe import dag_facts

    crm = pipeline_dags(str(DAGS_FOLDER / "crm_accounts.py"))["crm_accounts"]
    by_id = {t["task_id"]: t for t in dag_facts(crm)["tasks"]}
    assert (by_id["transform"]["runs_wap"], by_id["transform"]["pool"]) == (True, "dbt_write_audit_publish")
    assert not by_id["load"]["runs_wap"]
    with DAG("hand_written", start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), schedule=None) as hand:
        BashOperator(task_id="wap", bash_command="python -m pipeline_assets.dbt_wap.cli --selector x")
    [task] = dag_facts(hand)["tasks"]
    assert (task["runs_wap"], task["pool"]) == (True, "default_pool")
