"""The DAG factory: the task graph of each spec shape, and what its operators do once rendered."""

import ast
import datetime as dt
import json
from pathlib import Path

import boto3
import pendulum
import pytest
import yaml
from airflow.configuration import conf
from airflow.operators.python import PythonOperator
from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from moto import mock_aws
from platform_dags import factory
from platform_dags.factory import PRE_IMPORTED_MODULES, build_dags, pipeline_dags

from platform_vocabulary.pipeline_spec import load_spec

DAGS = Path(__file__).resolve().parents[3] / "dags"
RELEASE = {
    "release_id": "r-0123456789abcdef",
    "release_bucket": "releases-dev",
    "release_prefix": "s3://releases-dev/releases/r-0123456789abcdef",
}
PLATFORM = {
    "environment": "dev",
    "release_bucket": "releases-dev",
    "raw_bucket": "raw-dev",
    "checkpoint_bucket": "checkpoints-dev",
    "emr_batch_application_id": "00fbatchapp00001",
    "emr_streaming_application_id": "00fstreamapp0001",
    "emr_job_role_arn": "arn:aws:iam::222222222222:role/emr-job",
    "snowflake_conn_id": "snowflake_platform",
}
INTERVAL_START = pendulum.datetime(2025, 3, 1, 2, tz="UTC")


class FakeTaskInstance:
    def __init__(self, pulled: dict):
        self.pulled = pulled

    def xcom_pull(self, task_ids: str):
        return self.pulled[task_ids]


@pytest.fixture
def platform_settings(monkeypatch):
    for key, value in PLATFORM.items():
        monkeypatch.setenv(f"AIRFLOW__PLATFORM__{key.upper()}", value)


def context() -> dict:
    return {
        "conf": conf,
        "ti": FakeTaskInstance({"resolve_release": RELEASE}),
        "ts_nodash": INTERVAL_START.strftime("%Y%m%dT%H%M%S"),
        "data_interval_start": INTERVAL_START,
        "data_interval_end": INTERVAL_START.add(days=1),
    }


def rendered(task, field: str):
    return task.render_template(getattr(task, field), context())


def dags_of(pipeline_id: str) -> dict:
    return pipeline_dags(str(DAGS / f"{pipeline_id}.py"))


def edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


def spec_file(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / f"{spec['id']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_building_reads_no_platform_setting(monkeypatch):
    for key in PLATFORM:
        monkeypatch.delenv(f"AIRFLOW__PLATFORM__{key.upper()}", raising=False)
    assert set(dags_of("crm_accounts")) == {"crm_accounts"}


def test_s3_batch_is_release_ingest_load_transform():
    dag = dags_of("crm_accounts")["crm_accounts"]
    assert edges(dag) == {("resolve_release", "ingest"), ("ingest", "load"), ("load", "transform")}
    assert isinstance(dag.get_task("ingest"), EmrServerlessStartJobOperator)
    assert isinstance(dag.get_task("load"), SQLExecuteQueryOperator)
    assert isinstance(dag.get_task("transform"), PythonOperator)
    assert dag.get_task("transform").sla == dt.timedelta(hours=6)


def test_dag_settings_come_from_the_spec():
    dag = dags_of("crm_accounts")["crm_accounts"]
    spec = load_spec(DAGS / "pipelines" / "crm_accounts.yaml")
    assert dag.catchup is False
    assert dag.schedule_interval == "0 2 * * *"
    assert dag.start_date == pendulum.datetime(2025, 1, 1, tz="UTC")
    assert dag.dagrun_timeout == spec.dagrun_timeout
    assert dag.max_active_runs == 1
    assert set(dag.tags) == {"crm", "batch", "factory"}
    assert dag.doc_md.startswith(spec.description)
    for task in dag.tasks:
        assert task.owner == "crm-data"
        assert task.retries == 3
        assert task.retry_delay == dt.timedelta(minutes=10)
        assert task.execution_timeout == dt.timedelta(hours=1, minutes=30)


def test_data_service_pipeline_is_release_transform_publish():
    dag = dags_of("customer_health")["customer_health"]
    assert edges(dag) == {("resolve_release", "transform"), ("transform", "publish")}
    assert "data-service" in dag.tags
    assert dag.get_task("publish").sla == dt.timedelta(hours=3)
    assert dag.get_task("publish").op_kwargs == {"data_service": "customer_health", "pipeline_id": "customer_health"}


def test_streaming_pipeline_has_a_load_dag_and_a_supervisor():
    dags = dags_of("operations_events")
    assert set(dags) == {"operations_events", "operations_events_supervisor"}
    assert edges(dags["operations_events"]) == {("resolve_release", "load"), ("load", "transform")}
    supervisor = dags["operations_events_supervisor"]
    assert edges(supervisor) == {("resolve_release", "ensure_streaming_job")}
    assert supervisor.schedule_interval == "*/10 * * * *"
    assert supervisor.get_task("ensure_streaming_job").execution_timeout < supervisor.dagrun_timeout
    assert {"streaming", "supervisor"} <= set(supervisor.tags)


def test_snowflake_stage_pipeline_loads_without_spark(tmp_path):
    spec = yaml.safe_load((DAGS / "pipelines" / "product_catalog.yaml").read_text())
    spec["id"] = "product_prices"
    spec["source"] = {"kind": "snowflake_stage", "stage": "VENDOR.PRICE_DROP", "path": "prices/"}
    spec["load"] = {"table": "RAW_PRODUCT.PRODUCT_PRICES", "file_format": "csv"}
    del spec["spark"], spec["dbt"]
    (dag,) = build_dags(load_spec(spec_file(tmp_path, spec)))
    assert [task.task_id for task in dag.tasks] == ["load"]
    sql = dag.get_task("load").sql
    assert "FROM @VENDOR.PRICE_DROP/prices/" in sql
    assert "TYPE = CSV PARSE_HEADER = TRUE" in sql


def test_ingest_renders_the_active_release_and_the_environment(platform_settings):
    ingest = dags_of("crm_accounts")["crm_accounts"].get_task("ingest")
    assert rendered(ingest, "application_id") == "00fbatchapp00001"
    assert rendered(ingest, "execution_role_arn") == PLATFORM["emr_job_role_arn"]
    driver = rendered(ingest, "job_driver")["sparkSubmit"]
    prefix = RELEASE["release_prefix"]
    assert driver["entryPoint"] == f"{prefix}/spark/crm_accounts_batch/main.py"
    assert f"--conf spark.submit.pyFiles={prefix}/spark/crm_accounts_batch/deps.zip" in driver["sparkSubmitParameters"]
    assert "--conf spark.dynamicAllocation.maxExecutors=16" in driver["sparkSubmitParameters"]  # size: medium
    args = driver["entryPointArguments"]
    assert args[args.index("--source") + 1] == "s3://raw-dev/inbound/crm/accounts/"
    assert args[args.index("--output") + 1] == "s3://raw-dev/landing/crm_accounts/interval_start=20250301T020000/"
    assert args[args.index("--interval-start") + 1] == "2025-03-01T02:00:00+00:00"
    config = rendered(ingest, "config")
    assert config["executionTimeoutMinutes"] == 90
    assert config["tags"]["release_id"] == RELEASE["release_id"]
    assert ingest.waiter_delay * ingest.waiter_max_attempts >= 90 * 60


@pytest.mark.parametrize(("size", "max_executors"), [("small", "4"), ("medium", "16"), ("large", "64")])
def test_spark_size_sets_executors(tmp_path, size, max_executors):
    spec = yaml.safe_load((DAGS / "pipelines" / "crm_accounts.yaml").read_text())
    spec["spark"]["size"] = size
    parameters = factory.spark_submit_parameters(load_spec(spec_file(tmp_path, spec)))
    assert f"spark.dynamicAllocation.maxExecutors={max_executors}" in parameters
    assert f"spark.executor.memory={factory.SPARK_SIZES[size]['memory']}" in parameters


@mock_aws
def test_ingest_starts_the_job_emr_serverless_accepts(platform_settings, monkeypatch):
    """The rendered arguments go through botocore's parameter validation and moto's EMR Serverless."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://")
    client = boto3.client("emr-serverless", region_name="eu-west-1")
    app = client.create_application(name="batch", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    monkeypatch.setenv("AIRFLOW__PLATFORM__EMR_BATCH_APPLICATION_ID", app)
    role = "arn:aws:iam::123456789012:role/emr-job"  # moto refuses a role from another account
    monkeypatch.setenv("AIRFLOW__PLATFORM__EMR_JOB_ROLE_ARN", role)
    ingest = dags_of("crm_accounts")["crm_accounts"].get_task("ingest")
    ingest.render_template_fields(context())
    ingest.wait_for_completion = False  # moto's job runs never finish; the start is what is under test
    job_run_id = ingest.execute(context())
    run = client.get_job_run(applicationId=app, jobRunId=job_run_id)["jobRun"]
    assert run["jobDriver"]["sparkSubmit"]["entryPoint"].endswith("/spark/crm_accounts_batch/main.py")
    assert run["name"] == "crm_accounts-20250301T020000"
    assert run["executionRole"] == role


@pytest.mark.slow  # fakesnow's emulator, like the other fakesnow tests
def test_load_copies_the_interval_once_on_snowflake(platform_settings, monkeypatch, tmp_path):
    """The rendered COPY INTO runs on fakesnow through the real operator and Snowflake hook; a rerun loads nothing."""
    fakesnow = pytest.importorskip("fakesnow")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    connection = {"conn_type": "snowflake", "login": "svc", "password": "x", "schema": "RAW_CRM"}
    connection["extra"] = {"account": "acct", "database": "RAW", "warehouse": "WH", "role": "LOADER"}
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_PLATFORM", json.dumps(connection))
    pq.write_table(pa.table({"ID": ["a1", "a2"], "NAME": ["Acme", "Globex"]}), tmp_path / "part-0.parquet")
    load = dags_of("crm_accounts")["crm_accounts"].get_task("load")
    load.render_template_fields(context())
    assert load.conn_id == "snowflake_platform"
    with fakesnow.patch():
        import snowflake.connector

        with snowflake.connector.connect(database="RAW", schema="RAW_CRM") as conn, conn.cursor() as cur:
            cur.execute("create schema if not exists RAW.RAW_LANDING")
            cur.execute("create table RAW.RAW_CRM.ACCOUNTS (id varchar, name varchar)")
            cur.execute("create stage RAW.RAW_LANDING.RAW_BUCKET")
            target = "@RAW.RAW_LANDING.RAW_BUCKET/landing/crm_accounts/interval_start=20250301T020000/"
            cur.execute(f"PUT file://{tmp_path}/part-0.parquet {target} AUTO_COMPRESS=FALSE")
        load.execute(context())
        load.execute(context())  # a retry: the load history skips the file
        with snowflake.connector.connect(database="RAW", schema="RAW_CRM") as conn, conn.cursor() as cur:
            rows = cur.execute("select id, name from RAW.RAW_CRM.ACCOUNTS order by id").fetchall()
    assert rows == [("a1", "Acme"), ("a2", "Globex")]


def test_streaming_load_reads_the_whole_landing_folder():
    sql = dags_of("operations_events")["operations_events"].get_task("load").sql
    assert "FROM @RAW_LANDING.RAW_BUCKET/landing/operations_events/\n" in sql


def test_supervisor_arguments_render_for_the_streaming_application(platform_settings):
    ensure = dags_of("operations_events")["operations_events_supervisor"].get_task("ensure_streaming_job")
    kwargs = rendered(ensure, "op_kwargs")
    assert kwargs["application_id"] == "00fstreamapp0001"
    assert kwargs["job_name"] == "operations_events_stream"
    args = kwargs["job_driver"]["sparkSubmit"]["entryPointArguments"]
    assert args[args.index("--topic") + 1] == "operations.events.v1"
    assert args[args.index("--checkpoint") + 1] == "s3://checkpoints-dev/operations_events_stream/"
    assert args[args.index("--output") + 1] == "s3://raw-dev/landing/operations_events/"


def _airflow_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.startswith("airflow.")}


def test_dag_files_name_every_airflow_module_the_factory_imports():
    """Otherwise MWAA's scheduler cannot pre-import it and every DAG file pays for it again."""
    factory_modules = set().union(*(_airflow_imports(p) for p in (DAGS / "platform_dags").glob("*.py")))
    assert factory_modules <= set(PRE_IMPORTED_MODULES)
    for spec in (DAGS / "pipelines").glob("*.yaml"):
        assert _airflow_imports(DAGS / f"{spec.stem}.py") == set(PRE_IMPORTED_MODULES), spec.stem


@pytest.mark.parametrize("pipeline_id", ["crm_accounts", "product_catalog", "operations_events"])
def test_spark_jobs_accept_the_arguments_the_factory_renders(platform_settings, pipeline_id):
    """The contract with pipeline_assets/spark: the job's own argument parser takes what the DAG passes."""
    pytest.importorskip("pyspark")
    spec = load_spec(DAGS / "pipelines" / f"{pipeline_id}.yaml")
    dags = dags_of(pipeline_id)
    if spec.is_streaming:
        from pipeline_assets.spark.operations_events_stream.job import arguments

        task = dags[spec.supervisor_dag_id].get_task("ensure_streaming_job")
        driver = rendered(task, "op_kwargs")["job_driver"]
        parsed = arguments().parse_args(driver["sparkSubmit"]["entryPointArguments"])
        assert (parsed.topic, parsed.release_id) == ("operations.events.v1", RELEASE["release_id"])
    else:
        from pipeline_assets.spark.common.io import batch_arguments

        driver = rendered(dags[pipeline_id].get_task("ingest"), "job_driver")
        parsed = batch_arguments(pipeline_id).parse_args(driver["sparkSubmit"]["entryPointArguments"])
        assert parsed.interval_start == INTERVAL_START
        assert parsed.pipeline_id == pipeline_id


def test_streaming_jobs_get_the_kafka_source_and_rocksdb_state_and_batch_jobs_do_not(tmp_path):
    streaming = factory.spark_submit_parameters(load_spec(DAGS / "pipelines" / "operations_events.yaml"))
    batch = factory.spark_submit_parameters(load_spec(DAGS / "pipelines" / "crm_accounts.yaml"))
    assert "spark-sql-kafka-0-10_2.12" in streaming and "aws-msk-iam-auth" in streaming
    assert "RocksDBStateStoreProvider" in streaming
    assert "spark.jars.packages" not in batch


@pytest.mark.parametrize("pipeline", ["crm_accounts", "customer_health", "operations_events"])
def test_every_write_audit_publish_task_runs_in_the_one_slot_pool(pipeline):
    from platform_dags.dbt import WAP_POOL, WAP_POOL_SLOTS

    assert dags_of(pipeline)[pipeline].get_task("transform").pool == WAP_POOL
    assert WAP_POOL_SLOTS == 1


def test_the_factory_pool_is_the_one_the_dag_policy_requires():
    from platform_dags.dbt import WAP_POOL

    from cicd.dags.policy import load_policy

    assert load_policy().wap_pool == WAP_POOL


@pytest.mark.parametrize("spec_file", sorted((DAGS / "pipelines").glob("*.yaml")), ids=lambda path: path.stem)
def test_spark_jobs_load_only_staged_locked_jars_never_maven(spec_file):
    """EMR Serverless runs without internet: no spark.jars.packages, only jars of jars.lock.json in S3."""
    from cicd.packages.locks import load_jars
    from cicd.packages.rules import check_spark_parameters

    spec = load_spec(spec_file)
    if spec.spark is None:
        pytest.skip("no Spark step")
    parameters = factory.spark_submit_parameters(spec)
    assert check_spark_parameters(spec_file.name, parameters, load_jars(DAGS.parent)) == []


def test_the_streaming_job_reads_its_jars_from_the_release_bucket():
    from cicd.packages.rules import spark_conf

    conf = spark_conf(factory.spark_submit_parameters(load_spec(DAGS / "pipelines" / "operations_events.yaml")))
    jars = conf["spark.jars"].split(",")
    assert jars[0] == "s3://JINJA/packages/jars/spark-sql-kafka-0-10_2.12-3.5.3.jar"
    assert factory.platform("release_bucket") in factory.KAFKA_STREAMING_CONF["spark.jars"]
    assert len(jars) == 5 and "spark.jars.packages" not in conf
