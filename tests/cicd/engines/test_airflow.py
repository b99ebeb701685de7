"""The MWAA-like Airflow: its DAG folder is exactly the DAG prefix; a folder's digest names a release's dags."""

from __future__ import annotations

import json

import pytest

from cicd.engines.airflow import AirflowEngineError, MwaaEnvironment, digest_of
from cicd.engines.airflow_worker import folder_digest
from cicd.engines.moto_server import moto_server

FILES = {"a.py": b"# dag a\n", "pipelines/a.yaml": b"id: a\n", "platform_dags/__init__.py": b""}


@pytest.fixture(scope="module")
def aws():
    with moto_server() as server:
        server.create_bucket("dags-bucket", versioned=True)
        yield server


def environment(aws, tmp_path) -> MwaaEnvironment:
    return MwaaEnvironment(home=tmp_path / "airflow", aws=aws, dag_bucket="dags-bucket", settings={"environment": "x"})


def publish(aws, files: dict[str, bytes]) -> None:
    s3 = aws.client("s3")
    for item in s3.list_objects_v2(Bucket="dags-bucket", Prefix="dags/").get("Contents", []):
        s3.delete_object(Bucket="dags-bucket", Key=item["Key"])
    for relative, data in files.items():
        s3.put_object(Bucket="dags-bucket", Key=f"dags/{relative}", Body=data)


def test_the_sync_mirrors_the_dag_prefix_exactly_and_names_it_by_digest(aws, tmp_path):
    airflow = environment(aws, tmp_path)
    airflow.dags_folder.mkdir(parents=True)
    (airflow.dags_folder / "stale.py").write_text("# a file of another release\n")
    publish(aws, FILES)
    assert airflow.sync() == digest_of(FILES) == folder_digest(airflow.dags_folder)
    assert not (airflow.dags_folder / "stale.py").exists()

    changed = {**FILES, "a.py": b"# dag a, release b\n"}
    publish(aws, changed)
    assert airflow.sync() == digest_of(changed) != digest_of(FILES)


def test_the_environment_holds_mwaas_settings_and_not_this_repository(aws, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    env = environment(aws, tmp_path).environment()
    assert "PYTHONPATH" not in env
    assert env["AIRFLOW__PLATFORM__ENVIRONMENT"] == "x"
    assert json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"] == aws.endpoint
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint


def test_a_missing_mwaa_environment_names_the_make_target(aws, tmp_path):
    airflow = environment(aws, tmp_path)
    airflow.python = tmp_path / "nowhere" / "python"
    with pytest.raises(AirflowEngineError, match="make mwaa-venv"):
        airflow.run_dag("d", ["t"])


TINY_DAG = b"""
import pendulum
from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator

def first():
    return {"release_id": "r-1"}

def second(ti):
    assert ti.xcom_pull(task_ids="first") == {"release_id": "r-1"}

with DAG("tiny", start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), schedule=None, catchup=False) as dag:
    a = PythonOperator(task_id="first", python_callable=first)
    b = PythonOperator(task_id="skipped", python_callable=lambda: 1 / 0)
    c = PythonOperator(task_id="second", python_callable=second)
    a >> b >> c
"""


@pytest.mark.slow
def test_tasks_run_in_mwaas_environment_with_state_and_xcom_in_the_metadata_db(aws, tmp_path):
    airflow = environment(aws, tmp_path)
    airflow.check_interpreter()
    airflow.migrate()
    publish(aws, {"tiny.py": TINY_DAG})
    digest = airflow.sync()
    record = airflow.run_dag("tiny", ["first", "skipped", "second"], mark_success=("skipped",))
    assert record.ok, record.output
    assert [(t.task, t.state, t.executed) for t in record.tasks] == [
        ("first", "success", True),
        ("skipped", "success", False),
        ("second", "success", True),
    ]
    assert {t.folder_digest for t in record.tasks} == {digest}
    assert airflow.xcom("tiny", record.run_id, "first") == {"release_id": "r-1"}
