"""The DAG-health canary reads what Airflow 2.10's REST API really returns.

The Stubber's bodies here are dumped by Airflow's own API schemas (the pinned MWAA version) from
model objects, so a field renamed or a datetime format changed upstream fails this test, not prod.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber

from pipeline_assets.canaries.canary import dag_health

NS = "DataPlatform/Release"


@pytest.fixture(scope="module")
def airflow_schemas(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow-home")))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.api_connexion.schemas.dag_run_schema import DAGRunCollection, dagrun_collection_schema
    from airflow.api_connexion.schemas.dag_schema import DAGCollection, dags_collection_schema
    from airflow.api_connexion.schemas.error_schema import ImportErrorCollection, import_error_collection_schema
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.errors import ParseImportError

    def dags(items):
        models = [
            DagModel(
                dag_id=d, is_active=True, is_paused=False, fileloc=f"/usr/local/airflow/dags/{d}.py", last_parsed_time=t
            )
            for d, t in items
        ]
        return dags_collection_schema.dump(DAGCollection(dags=models, total_entries=len(models)))

    def errors(items):
        models = [ParseImportError(filename=f, stacktrace=s, timestamp=datetime.now(UTC)) for f, s in items]
        return import_error_collection_schema.dump(
            ImportErrorCollection(import_errors=models, total_entries=len(models))
        )

    def runs(items):
        models = []
        for dag_id, state, ended in items:
            run = DagRun(
                dag_id=dag_id,
                run_id=f"scheduled__{ended.isoformat()}",
                run_type="scheduled",
                state=state,
                execution_date=ended - timedelta(hours=1),
            )
            run.end_date = ended
            models.append(run)
        return dagrun_collection_schema.dump(DAGRunCollection(dag_runs=models, total_entries=len(models)))

    return dags, errors, runs


def test_canary_reads_airflow_api_bodies(aws, releases, read_metric, monkeypatch, airflow_schemas):
    dags, errors, runs = airflow_schemas
    monkeypatch.setenv("MWAA_ENVIRONMENT_NAME", "prod-airflow")
    releases.publish(
        "r-cccccccccccccccc", {"dags/pipelines/crm_accounts.yaml": b"", "dags/pipelines/customer_health.yaml": b""}
    )
    releases.activate_dags("r-cccccccccccccccc")
    at = releases.ssm.get_parameter(Name=releases.parameter)["Parameter"]["LastModifiedDate"].astimezone(UTC)
    now = at + timedelta(minutes=30)
    window_end = datetime.fromtimestamp(int(now.timestamp()) // 300 * 300, UTC)
    bodies = [
        errors(
            [("/usr/local/airflow/dags/customer_health.py", "Traceback (most recent call last):\nSyntaxError: bad")]
        ),
        dags([("crm_accounts", at + timedelta(seconds=45)), ("customer_health", at - timedelta(hours=1))]),
        runs([("crm_accounts", "failed", window_end - timedelta(minutes=2))]),
    ]
    client = boto3.client("mwaa", region_name="eu-west-1")
    with Stubber(client) as stub:
        for body in bodies:
            stub.add_response(
                "invoke_rest_api",
                {"RestApiStatusCode": 200, "RestApiResponse": body},
                {"Name": "prod-airflow", "Path": ANY, "Method": "GET", "QueryParameters": ANY},
            )
        summary = dag_health.handler(
            {"time": now.isoformat()}, None, mwaa=client, ssm=aws["ssm"], s3=aws["s3"], cloudwatch=aws["cloudwatch"]
        )

    assert summary["import_errors"] == 1
    assert summary["stale"] == ["customer_health"]
    assert summary["scheduled_runs"]["failed"] == 1
    assert read_metric(NS, "DagHealthFailures") == 2
